"""`--compat ptbench-official` on hostile answers: each is scored (a result, never an exception)
within a second and 100 MB, in process (time and tracemalloc peak per answer), and a file of
them through `pertool score` as a subprocess."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

from hostile import Case, case, pertool
from pertool.schema import GoldCall, Sample
from pertool.scoring.ptbench_official import MAX_COMPAT_CHARS, score_sample_official

CASES: list[Case] = []

MAX_SECONDS = 1.0
MAX_BYTES = 100 * 1024 * 1024
SAMPLE = Sample(id="trained:0", benchmark="ptbench", split="trained", query="q", gold_platform="Mega Mart",
                gold_calls=[GoldCall(name="order", arguments={"item": ["tea"], "qty": [2]})],
                extra={"query_params": ["item", "qty"], "profile_params": []})


def _call(value: str) -> str:
    return f"'Mega Mart':[order(item='tea', qty={value})]"


def _pad_to(text: str, size: int) -> str:
    return text + " " * (size - len(text))


def _list_of(value: str, size: int) -> str:
    """A list of `value` repeated until the answer is about `size` characters."""
    count = max(1, (size - 40) // (len(value) + 1))
    return _call("[" + ",".join([value] * count) + "]")


# (name, answer): arithmetic that once took seconds or gigabytes, deep and long structures,
# and odd characters.
ANSWERS: list[tuple[str, str]] = [
    ("issue_951_chars_of_powers", _pad_to(_list_of("9**315000", 950), 951)),
    ("sum_of_powers", _call("+".join(["9**315000"] * 60))),
    ("product_chain", _call("*".join(["(9**99999)"] * 9))),
    ("floor_division_of_powers", _call("(7**350000)//(3**200000)")),
    ("modulo_of_powers", _call("(7**350000)%(3**200000+1)")),
    ("xor_of_powers", _call("(9**315000)^(7**350000)")),
    ("tower_of_powers", _call("2**2**2**2**2**2")),
    ("power_of_power", _call("(2**9999)**(2**9999)")),
    ("negative_base_power", _call("(-9)**99999")),
    ("negative_exponent", _call("9**-99999")),
    ("float_power_overflow", _call("1.5**99999")),
    ("complex_power", _call("(1+1j)**99999")),
    ("shift_lists", _list_of("1<<999990", 700)),
    ("shift_by_negative", _call("1<<-1")),
    ("widest_allowed_results_many_times", _list_of("2**9999", MAX_COMPAT_CHARS - 100)),
    ("widest_allowed_calls_many_times", "'Mega Mart':[" + ",".join(["order(qty=2**9999)"] * 2500) + "]"),
    ("true_division_overflow", _call("(2**9999)/3")),
    ("invert_power", _call("~(2**9999)")),
    ("division_by_zero", _call("1%0")),
    ("string_repetition", _call("'a'*10**9")),
    ("list_repetition", _call("[1]*10**9")),
    ("long_addition_chain", _call("+".join(["1"] * 20000))),
    ("digits_at_the_int_limit", _list_of("9" * 4299, 45000)),
    ("digits_over_the_int_limit", _call("9" * 5000)),
    ("deep_parentheses", _call("(" * 190 + "1" + ")" * 190)),
    ("too_deep_parentheses", _call("(" * 5000 + "1" + ")" * 5000)),
    ("deep_lists", _call("[" * 190 + "]" * 190)),
    ("deep_dicts", _call("{1:" * 100 + "1" + "}" * 100)),
    ("deep_calls", "'Mega Mart':[" + "f(a=" * 180 + "1" + ")" * 180 + "]"),
    ("long_attribute_chain", "'Mega Mart':[" + "a." * 20000 + "order(qty=2)]"),
    ("list_just_under_the_cap", _list_of("[[1]]", MAX_COMPAT_CHARS - 10)),
    ("dicts_just_under_the_cap", _list_of("{1:{1:[1]}}", MAX_COMPAT_CHARS - 10)),
    ("strings_just_under_the_cap", _list_of("'aaaaaaaa'", MAX_COMPAT_CHARS - 10)),
    ("over_the_cap", _list_of("1", MAX_COMPAT_CHARS + 100)),
    ("megabyte_answer", "x" * 1_000_000),
    ("hundred_megabyte_answer", "'Mega Mart':[" + "a" * 100_000_000),
    ("lone_surrogate", _call("'\ud800'")),
    ("nul_byte", _call("'a\0b'")),
    ("line_separators", _call("'\u2028\u2029\x85'")),
    ("huge_float_literal", _call("1e999")),
    ("empty", ""),
    ("braces_only", "{}"),
    ("lambda", _call("lambda: 1")),
    ("walrus", _call("(x:=9**99999)")),
    ("comprehension", _call("[i for i in range(10**9)]")),
    ("fstring", _call("f'{9**99999}'")),
    ("starred_dict", _call("{**{}}")),
]


def _score_bounded(answer: str) -> None:
    started = time.perf_counter()
    result = score_sample_official(SAMPLE, answer)
    took = time.perf_counter() - started
    assert took < MAX_SECONDS, f"took {took:.2f} s"
    tracemalloc.start()  # a second pass for memory: tracing slows the first one's clock
    try:
        score_sample_official(SAMPLE, answer)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The answer string itself is the caller's; what scoring allocates is the bound.
    assert peak < MAX_BYTES, f"peak {peak / 1e6:.0f} MB"
    assert isinstance(result.format, bool)


for _name, _answer in ANSWERS:

    def _case(work: Path, answer: str = _answer) -> None:
        _score_bounded(answer)

    case(CASES, _name)(_case)


@case(CASES)
def ordinary_answers_still_agree_with_the_public_scripts(work: Path) -> None:
    right = score_sample_official(SAMPLE, _call("2"))
    folded = score_sample_official(SAMPLE, _call("1+1"))
    wrong = score_sample_official(SAMPLE, _call("3"))
    assert right.overall and folded.overall and wrong.format and not wrong.overall


@case(CASES)
def cli_scores_a_file_of_hostile_answers(work: Path) -> None:
    from pertool.benchmarks.ptbench import write_ptbench

    samples = [SAMPLE.model_copy(update={"id": f"trained:{i}"}) for i in range(len(ANSWERS))]
    write_ptbench(samples, work / "bench")
    chosen = [answer for name, answer in ANSWERS if len(answer) < 2 * MAX_COMPAT_CHARS]
    predictions = work / "predictions.jsonl"
    with open(predictions, "w", encoding="utf-8", errors="surrogatepass") as handle:
        for i, answer in enumerate(chosen):
            handle.write(json.dumps({"id": f"trained:{i}", "output": answer}) + "\n")
    started = time.monotonic()
    proc = pertool("score", "--benchmark", f"ptbench:{work / 'bench' / 'test_trained_user' / 'data.json'}",
                   "--predictions", predictions, "--compat", "ptbench-official", "--json",
                   "--resamples", "10", timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-500:]
    assert time.monotonic() - started < len(chosen) * MAX_SECONDS
    json.loads(proc.stdout)
