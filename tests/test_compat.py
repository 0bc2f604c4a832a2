"""`--compat ptbench-official` on fixtures built from the documented defects (PTBENCH.md).

Expected values are worked out by hand from the public scripts' rules, one defect per test.
"""

import pytest

from pertool.kinds.score import score
from pertool.schema import GoldCall, Sample
from pertool.scoring.ptbench_official import official_include, official_parse, score_sample_official


def sample(calls, platform="Mega Mart", query_params=(), profile_params=(), sid="trained:0", split="trained"):
    return Sample(id=sid, benchmark="ptbench", split=split, query="q", gold_platform=platform,
                  gold_calls=[GoldCall(name=n, arguments=a) for n, a in calls],
                  extra={"query_params": list(query_params), "profile_params": list(profile_params)})


ORDER = sample([("order", {"item": ["tea"], "qty": [2], "vip": [True]})],
               query_params=["item", "qty"], profile_params=["vip"])


def run(s, output):
    return score_sample_official(s, output)


@pytest.mark.parametrize("output", [
    "{'Mega Mart':[order(item='tea', qty=2, vip=True)]}",   # braces of Figure 7
    "```\n'Mega Mart':[order(item='tea', qty=2, vip=True)]\n```",
    "<think>ok</think>'Mega Mart':[order(item='tea', qty=2, vip=True)]",
    "Mega Mart:[order(item='tea', qty=2, vip=True)]",        # unquoted name with a space
    "Here you go: 'Mega Mart':[order(item='tea', qty=2, vip=True)]",
])
def test_defect_1_wrappers_are_format_failures(output):
    assert not run(ORDER, output).format


def test_quoted_platform_with_space_parses():
    r = run(ORDER, "'Mega Mart':[order(item='tea', qty=2, vip=True)]")
    assert r.format and r.overall and (r.query_correct, r.profile_correct) == (2, 1)


def test_defect_2_is_not_reproduced_nothing_is_evaluated(tmp_path):
    marker = tmp_path / "ran"
    out = f"'Mega Mart':[order(item='tea', qty=1+__import__('pathlib').Path({str(marker)!r}).touch(), vip=True)]"
    assert not run(ORDER, out).format
    assert not marker.exists()
    folded = run(ORDER, "'Mega Mart':[order(item='tea', qty=1+1, vip=True)]")
    assert folded.format and folded.overall
    assert run(ORDER, "'Mega Mart':[order(item='tea', qty=2*1.0, vip=True)]").overall  # 2.0 == 2 exactly
    assert not run(ORDER, "'Mega Mart':[order(item='t'+'ea', qty=2, vip=True)]").format
    assert not run(ORDER, "'Mega Mart':[order(item='tea', qty=1/0, vip=True)]").format
    assert not run(ORDER, "'Mega Mart':[order(item=lambda: 1, qty=2, vip=True)]").format


def test_defect_3_string_against_non_string_is_a_format_failure():
    r = run(ORDER, "'Mega Mart':[order(item='tea', qty='2', vip=True)]")
    assert not r.format and r.query_correct == 0 and r.query_total == 2


def test_defect_4_missing_and_excessive_labels_are_swapped():
    two = sample([("a", {"x": ["1"]}), ("b", {"y": ["2"]})], query_params=["x", "y"])
    only_a = run(two, "'Mega Mart':[a(x='1')]")          # gold call b absent
    assert only_a.errors == ("tool_excessive",)
    extra = run(two, "'Mega Mart':[a(x='1'), b(y='2'), c()]")  # extra predicted call
    assert extra.errors == ("tool_missing",)
    no_param = run(two, "'Mega Mart':[a(), b(y='2')]")        # gold param absent
    assert no_param.errors == ("param_excessive",)
    more_param = run(two, "'Mega Mart':[a(x='1', z='3'), b(y='2')]")
    assert more_param.errors == ("param_missing",)


def test_defect_5_repeated_call_counts_twice():
    r = run(ORDER, "'Mega Mart':[order(item='tea', qty=2, vip=True), order(item='tea', qty=2, vip=True)]")
    assert (r.query_correct, r.profile_correct) == (4, 2)
    assert r.tool_name and r.overall  # set semantics on names: the duplicate is not an error
    report = score([ORDER], {"trained:0": "'Mega Mart':[order(item='tea', qty=2, vip=True)," * 1
                             + " order(item='tea', qty=2, vip=True)]"}, compat="ptbench-official", resamples=0)
    assert report.splits["trained"]["query_param"] == 2.0


def test_defect_6_value_rules():
    assert official_include(2, [2.005, 7])           # int within 0.01 of the FIRST value
    assert not official_include(7, [2, 7])           # ... and only the first
    assert not official_include(2.0000001, [2.0])    # floats need exact membership
    assert official_include(2.0, [2])
    assert official_include("true", [True])          # JSON-decoded string
    assert official_include("TEA", ["tea"])
    assert official_include(["B", "a"], [["a", "b"]])
    assert official_include(["c", "b", "a"], ["abc"])  # a string accepted value is a set of chars
    with pytest.raises(AttributeError):
        official_include("2", [2])
    with pytest.raises(TypeError):
        official_include(2, ["2"])


def test_defect_7_lenient_values():
    key, calls = official_parse("P:[f(a=foo, b=g(1), c=h(x=1), d=-5, e=x[0], g=(1, 2)), k(1, z=2)]")
    assert key == "P"
    assert calls[0] == {"f": {"a": "foo", "b": "g(1)", "c": {"h": {"x": 1}}, "d": -5, "e": "x[0]", "g": (1, 2)}}
    assert calls[1] == {"k": {"z": 2}}  # positional argument dropped
    assert official_parse("P:f(a=1)") == ("P", [{"f": {"a": 1}}])  # no list needed
    assert official_parse("P:[f(a=not True)]") == ("P", [{"f": {"a": -1}}])  # any unary op negates


def test_defect_8_param_errors_count_independently():
    s = sample([("a", {"x": ["1"], "y": ["2"]})], query_params=["x"])
    r = run(s, "'Mega Mart':[a(x='1', z='9')]")  # y absent AND z extra
    assert r.errors == ("param_missing", "param_excessive")
    wrong_value_hidden = run(s, "'Mega Mart':[a(x='0', z='9')]")
    assert "param_value" not in wrong_value_hidden.errors


def test_errors_and_platform_only_on_parsable_samples():
    s2 = sample([("a", {"x": ["1"]})], query_params=["x"], sid="trained:1")
    report = score([ORDER, s2], {"trained:0": "garbage", "trained:1": "Other:[a(x='1')]"},
                   compat="ptbench-official", resamples=0)
    errors = report.errors["trained"]
    assert errors["format"] == 1 and errors["platform"] == 1
    m = report.splits["trained"]
    assert m["format"] == 0.5 and m["overall"] == 0.0 and m["tool_value"] == 0.5
    assert m["query_param"] == pytest.approx(1 / 3)  # 1 of (2 + 1) query params
    assert m["profile_param"] == 0.0


def test_overall_split_weights_by_actual_counts():
    samples = [sample([("a", {"x": ["1"]})], query_params=["x"], profile_params=["x"],
                      sid=f"{sp}:{i}", split=sp)
               for sp, n in (("trained", 2), ("untrained", 3)) for i in range(n)]
    outputs = {"trained:0": "'Mega Mart':[a(x='1')]", "untrained:0": "'Mega Mart':[a(x='1')]",
               "untrained:1": "'Mega Mart':[a(x='1')]"}
    report = score(samples, outputs, compat="ptbench-official", resamples=0)
    assert report.splits["overall"]["overall"] == pytest.approx((2 * 0.5 + 3 * (2 / 3)) / 5)
    assert report.splits["overall"]["query_param"] == pytest.approx((2 * 0.5 + 3 * (2 / 3)) / 5)


def test_arithmetic_limits_match_the_public_script():
    s = sample([("f", {"a": [401]})], query_params=["a"])
    # The public parser unparses a binary operation before evaluating it: long chains hit the
    # recursion limit there, so they are format failures here too.
    assert not run(s, "'Mega Mart':[f(a=" + "+".join(["1"] * 2000) + ")]").format
    assert run(s, "'Mega Mart':[f(a=200+201)]").overall
    # Folding refuses integers wider than 10,000 bits (the public script would compute them).
    assert run(s, "'Mega Mart':[f(a=2**9999)]").format
    assert not run(s, "'Mega Mart':[f(a=2**10001)]").format
