"""`--compat petoolbench-public` against a transcription of the public script's scorer.

`public_calculate_scores` below is the reference: `calculate_scores` of the benchmark's
run_experiment.py as ../shared/docs/PETOOLBENCH.md section 4 describes it (an empty response
skipped, the leftmost match of the regular expression, `json.loads`, Python `==` on the tool
name and on the parameters independently, every record in the denominator). It lives here, in
the tests only. pertool's compat numbers must equal it on every output set the tests write,
defects included; pertool's own rules are checked beside it where they differ."""

from __future__ import annotations

import json
import re

import pytest

from pertool.kinds import kind_named, load_benchmark
from pertool.kinds.score import score
from support.petoolbench_fixture import write_json

KIND = kind_named("petoolbench")


def public_calculate_scores(results):
    """(tool accuracy, parameter accuracy) of one setting's result records, as the script has them."""
    scores_tool = 0
    scores_parameters = 0
    for entry in results:
        if not entry["response"]:
            continue
        pattern = r'\{.*"tool_name":\s*".*?",\s*"parameters":\s*\{.*?\}\}'
        match = re.search(pattern, entry["response"])
        if match:
            json_str = match.group(0)
            try:
                response = json.loads(json_str)
            except json.JSONDecodeError:
                continue
        else:
            continue
        if entry["api_call_ground_truth"]["tool_name"] == response["tool_name"]:
            scores_tool += 1
        if entry["api_call_ground_truth"]["parameters"] == response["parameters"]:
            scores_parameters += 1
    return scores_tool / len(results), scores_parameters / len(results)


def _gold(sample):
    call = sample.gold_calls[0]
    return call.name, {k: v[0] for k, v in call.arguments.items()}


def _other(sample):
    name, _ = _gold(sample)
    return next(t.name for t in sample.tools if t.name != name)


def _line(name, params, **kw):
    return json.dumps({"tool_name": name, "parameters": params}, **kw)


# Each style turns a sample into one model output; together they cover the public script's
# defects (docs/petoolbench.md, "The public script's defects").
STYLES = {
    "gold": lambda s: _line(*_gold(s)),
    "gold ascii escapes": lambda s: _line(*_gold(s), ensure_ascii=True),
    "pretty-printed (defect 1)": lambda s: json.dumps(dict(zip(("tool_name", "parameters"), _gold(s))), indent=2),
    "newline between the keys": lambda s: _line(*_gold(s)).replace(', "parameters"', ',\n"parameters"'),
    "braces in prose, same line (defect 2)": lambda s: "I picked {the best} tool: " + _line(*_gold(s)),
    "prose on the line before": lambda s: "Here is the call:\n" + _line(*_gold(s)) + "\nDone {ok}.",
    "think block on the same line": lambda s: "<think>it is {x}</think>" + _line(*_gold(s)),
    "think block on its own line": lambda s: "<think>\nit is {x}\n</think>\n" + _line(*_gold(s)),
    "fenced": lambda s: "```json\n" + _line(*_gold(s)) + "\n```",
    "wrapper object": lambda s: '{"call": ' + _line(*_gold(s)) + "}",
    "python dict (defect 3)": lambda s: str(dict(zip(("tool_name", "parameters"), _gold(s)))),
    "string parameters (defect 3)": lambda s: json.dumps({"tool_name": _gold(s)[0], "parameters": json.dumps(_gold(s)[1])}),
    "parameters first": lambda s: json.dumps({"parameters": _gold(s)[1], "tool_name": _gold(s)[0]}),
    "space before the colon": lambda s: _line(*_gold(s)).replace('"tool_name":', '"tool_name" :'),
    "extra key after parameters": lambda s: _line(*_gold(s))[:-1] + ', "note": "sure"}',
    "example #1 shape, no final brace": lambda s: _line(*_gold(s))[:-1],
    "nested object value": lambda s: _line(_gold(s)[0], {**_gold(s)[1], "filter": {"a": 1}}),
    "wrong tool, gold parameters (defect 4)": lambda s: _line(_other(s), _gold(s)[1]),
    "constant empty call": lambda s: '{"tool_name": "x", "parameters": {}}',
    "numbers as strings (defect 5)": lambda s: _line(_gold(s)[0], {k: str(v) for k, v in _gold(s)[1].items()}),
    "strings as numbers": lambda s: _line(_gold(s)[0], {k: (int(v) if isinstance(v, str) and v.isdigit() else v)
                                                        for k, v in _gold(s)[1].items()}),
    "booleans and floats for ints": lambda s: _line(_gold(s)[0], {k: (float(v) if isinstance(v, int) else v)
                                                                  for k, v in _gold(s)[1].items()}),
    "empty placeholders dropped": lambda s: _line(_gold(s)[0], {k: v for k, v in _gold(s)[1].items() if v != ""}),
    "case and spaces changed": lambda s: _line(_gold(s)[0].lower(), {k: (f" {v} " if isinstance(v, str) else v)
                                                                     for k, v in _gold(s)[1].items()}),
    "provider trimmed (defect 6)": lambda s: _line(_gold(s)[0].replace(" >", ">"), _gold(s)[1]),
    "empty answer": lambda s: "",
    "whitespace answer": lambda s: "  \n ",
    "two calls on one line": lambda s: _line(*_gold(s)) + " " + _line(_other(s), {}),
    "two calls on two lines, wrong first": lambda s: _line(_other(s), {}) + "\n" + _line(*_gold(s)),
    "refusal prose": lambda s: "I cannot do that.",
}  # fmt: skip


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return load_benchmark("petoolbench", write_json(tmp_path_factory.mktemp("pet") / "pet"))


def _check(samples, outputs):
    """pertool's compat numbers per setting equal the transcription's; returns the report."""
    report = score(samples, outputs, compat="petoolbench-public", resamples=0)
    for setting in ("preferred", "ratings", "chronological"):
        records = [{"response": outputs.get(s.id, ""), "api_call_ground_truth": dict(zip(
            ("tool_name", "parameters"), _gold(s)))} for s in samples if s.split == setting]  # fmt: skip
        tool, param = public_calculate_scores(records)
        assert (report.splits[setting]["tool_acc"], report.splits[setting]["param_acc"]) == (tool, param)
    return report


@pytest.mark.parametrize("style", list(STYLES))
def test_compat_equals_the_public_script(samples, style):
    outputs = {s.id: STYLES[style](s) for s in samples}
    report = _check(samples, outputs)
    assert "hallucinated" not in report.splits["overall"]


def test_compat_equals_the_public_script_on_a_mixed_set(samples):
    styles = list(STYLES.values())
    for shift in range(len(styles)):
        outputs = {s.id: styles[(i + shift) % len(styles)](s) for i, s in enumerate(samples)}
        _check(samples, outputs)


# What the defects do, stated outright (the transcription agrees above; these pin the values).
EXPECTED = {  # style -> (compat tool_acc, compat param_acc, pertool call_acc), over all 18 samples
    "gold": (1, 1, 1),
    "pretty-printed (defect 1)": (0, 0, 1),
    "newline between the keys": (1, 1, 1),
    "braces in prose, same line (defect 2)": (0, 0, 1),
    "think block on the same line": (0, 0, 1),
    "wrapper object": (0, 0, 1),
    "python dict (defect 3)": (0, 0, 1),
    "string parameters (defect 3)": (0, 0, 1),
    "two calls on one line": (0, 0, 1),
    "empty answer": (0, 0, 0),
}


@pytest.mark.parametrize(("style", "expected"), list(EXPECTED.items()))
def test_the_defects_and_pertools_rules_side_by_side(samples, style, expected):
    outputs = {s.id: STYLES[style](s) for s in samples}
    public = score(samples, outputs, compat="petoolbench-public", resamples=0).splits["overall"]
    ours = score(samples, outputs, resamples=0).splits["overall"]
    assert (public["tool_acc"], public["param_acc"], ours["call_acc"]) == expected


def test_defect_4_and_5_and_6_in_numbers(samples):
    wrong_tool = {s.id: STYLES["wrong tool, gold parameters (defect 4)"](s) for s in samples}
    public = score(samples, wrong_tool, compat="petoolbench-public", resamples=0).splits["overall"]
    assert public["tool_acc"] == 0 and public["param_acc"] == 1  # parameters scored whatever the tool
    numeric = {s.id: STYLES["numbers as strings (defect 5)"](s) for s in samples}
    public = score(samples, numeric, compat="petoolbench-public", resamples=0).splits["preferred"]
    ours = score(samples, numeric, resamples=0).splits["preferred"]
    assert public["param_acc"] < 1 and ours["param_acc"] == 1  # "1" == 1 for pertool, not for Python
    trimmed = {s.id: STYLES["provider trimmed (defect 6)"](s) for s in samples}
    public = score(samples, trimmed, compat="petoolbench-public", resamples=0).splits["preferred"]
    ours = score(samples, trimmed, resamples=0).splits["preferred"]
    assert public["tool_acc"] == 5 / 6 and ours["tool_acc"] == 1  # the Github API Scraper entry


def test_compat_scored_samples_carry_the_public_parse(samples):
    outputs = {s.id: STYLES["pretty-printed (defect 1)"](s) for s in samples}
    outputs["preferred:0"] = "note {x}\n" + STYLES["wrong tool, gold parameters (defect 4)"](samples[0])
    report = score(samples, outputs, compat="petoolbench-public", resamples=0)
    first = report.scored[0]
    assert first.prediction.calls[0].name == _other(samples[0]) and first.outcomes["param_acc"] is True
    assert first.categories == ("wrong_provider",) and first.counts == (1, 1, 0, 1, 0, 0)
    second = report.scored[1]
    assert second.prediction.parse_error == "no match of the public script's pattern"
    assert second.categories == ("format",)


def test_compat_equals_the_public_script_on_the_real_file():
    from support.public_data import require_public_data

    real = load_benchmark("petoolbench", require_public_data("petoolbench") / "user_entries_test.json.zip")
    styles = [STYLES[name] for name in ("gold", "wrong tool, gold parameters (defect 4)", "constant empty call",
                                        "numbers as strings (defect 5)", "provider trimmed (defect 6)",
                                        "strings as numbers", "empty placeholders dropped")]  # fmt: skip
    outputs = {s.id: styles[i % len(styles)](s) for i, s in enumerate(real)}
    report = _check(real, outputs)
    assert 0 < report.splits["overall"]["tool_acc"] < report.splits["overall"]["param_acc"] < 1
