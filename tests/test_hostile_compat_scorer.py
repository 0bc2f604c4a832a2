"""`--compat ptbench-official` is bounded (issue 11, part 4): no answer takes more than a second
or 100 MB; arithmetic folding and answer length are capped; ordinary answers are unchanged
(tests/test_compat.py holds the agreement with the public scripts)."""

import json
import time
import tracemalloc

import pytest

from factory import record, write_split_dir
from pertool.schema import GoldCall, Sample
from pertool.scoring.ptbench_official import (
    MAX_COMPAT_CHARS,
    MAX_FOLD_BITS,
    MAX_RESULT_BITS,
    score_sample_official,
)
from support.cli import run_pertool

SAMPLE = Sample(id="trained:0", benchmark="ptbench", split="trained", query="q", gold_platform="Mega Mart",
                gold_calls=[GoldCall(name="order", arguments={"qty": [2]})],
                extra={"query_params": ["qty"], "profile_params": []})


def call(value):
    return f"'Mega Mart':[order(qty={value})]"


def bounded(answer):
    started = time.perf_counter()
    result = score_sample_official(SAMPLE, answer)
    assert time.perf_counter() - started < 1.0
    tracemalloc.start()
    try:
        score_sample_official(SAMPLE, answer)
        assert tracemalloc.get_traced_memory()[1] < 100 * 1024 * 1024
    finally:
        tracemalloc.stop()
    return result


def test_the_issues_951_character_answer_is_scored_within_a_second():
    answer = call("[" + ",".join(["9**315000"] * 91) + "]")
    answer += " " * (951 - len(answer))
    assert len(answer) == 951
    result = bounded(answer)
    assert not result.format and "power too large" in result.detail


@pytest.mark.parametrize("value", [
    "+".join(["9**315000"] * 60), "*".join(["(9**99999)"] * 9), "(7**350000)//(3**200000)",
    "(9**315000)^(7**350000)", "2**2**2**2**2**2", "(2**9999)**(2**9999)", "1<<999990", "(2**9999)/3",
    "+".join(["1"] * 20000), "(" * 5000 + "1" + ")" * 5000, "'a'*10**9", "1.5**99999",
])
def test_hostile_arithmetic_is_a_bounded_format_failure(value):
    assert not bounded(call(value)).format


def test_integer_width_and_answer_budget():
    assert bounded(call(f"2**{MAX_RESULT_BITS - 1}")).format
    assert "exceeds" in bounded(call(f"2**{MAX_RESULT_BITS}")).detail
    many = MAX_FOLD_BITS // MAX_RESULT_BITS + 1  # each allowed alone, too many together
    result = bounded("'Mega Mart':[" + ",".join([f"order(qty=2**{MAX_RESULT_BITS - 1})"] * many) + "]")
    assert not result.format and f"exceed {MAX_FOLD_BITS} bits" in result.detail


def test_answers_over_the_cap_are_refused_unread():
    at_cap = call("[" + "1," * ((MAX_COMPAT_CHARS - 40) // 2) + "2]")
    assert len(at_cap) <= MAX_COMPAT_CHARS
    assert bounded(at_cap).detail.startswith("AttributeError")  # parsed, failed as the public script
    over = bounded(call("[" + "1," * (MAX_COMPAT_CHARS // 2) + "2]"))
    assert not over.format and f"exceeds {MAX_COMPAT_CHARS}" in over.detail
    assert "exceeds" in bounded("x" * 10_000_000).detail


def test_pertool_score_compat_on_hostile_answers(tmp_path):
    write_split_dir(tmp_path / "bench", [record() for _ in range(4)], [])
    answers = [call("[" + ",".join(["9**315000"] * 91) + "]"), call("1<<999990"), "x" * 200_000,
               "MegaMart:[placeOrder(productName='paper', quantity=1+1, address='1 Elm St')]"]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": f"trained:{i}", "output": a}) + "\n"
                                   for i, a in enumerate(answers)))
    started = time.monotonic()
    proc = run_pertool("score", "--benchmark", f"ptbench:{tmp_path / 'bench'}", "--predictions", predictions,
                       "--compat", "ptbench-official", "--json", "--samples", "--resamples", "0", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10
    samples = json.loads(proc.stdout)["samples"]
    assert [s["format"] for s in samples] == [False, False, False, True]
