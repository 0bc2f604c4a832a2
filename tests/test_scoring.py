import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertool.kinds.score import score
from pertool.parsing.ptbench import parse_ptbench
from pertool.parsing.render import gold_as_calls, render_ptbench
from pertool.schema import Call, GoldCall, Sample
from pertool.scoring.ptbench import score_sample

METRICS = ("format", "platform", "query_param", "profile_param", "tool_name", "tool_param",
           "tool_value", "overall")


def make_sample(calls: list[GoldCall], platform: str = "MegaMart", sid: str = "trained:0",
                split: str = "trained") -> Sample:
    return Sample(id=sid, benchmark="ptbench", split=split, query="q", gold_platform=platform,
                  gold_calls=calls)


def gold_text(sample: Sample) -> str:
    return render_ptbench(sample.gold_platform, gold_as_calls(sample.gold_calls))


# --- strategies for property tests -----------------------------------------------------------

idents = st.from_regex(r"[a-z][a-zA-Z0-9]{0,6}", fullmatch=True).filter(
    lambda s: not __import__("keyword").iskeyword(s))
scalars = st.one_of(st.text(min_size=1, max_size=8).filter(str.strip), st.integers(-99, 99), st.booleans())


@st.composite
def samples(draw):
    names = draw(st.lists(idents, min_size=1, max_size=3, unique=True))
    calls = []
    for name in names:
        params = draw(st.lists(idents, min_size=1, max_size=4, unique=True))
        args = {p: [draw(scalars)] for p in params}
        sources = {p: draw(st.sampled_from(["query", "profile"])) for p in params}
        calls.append(GoldCall(name=name, arguments=args, sources=sources))
    return make_sample(calls, platform=draw(st.sampled_from(["MegaMart", "Green Table", "x-y"])))


def result_of(sample: Sample, calls: list[Call], platform: str | None = None):
    text = render_ptbench(platform or sample.gold_platform, calls)
    prediction = parse_ptbench(text, sample.id)
    assert prediction.parse_error is None
    return score_sample(sample, prediction)


def counts(sample: Sample) -> tuple[int, int]:
    srcs = [s for g in sample.gold_calls for s in g.sources.values()]
    return srcs.count("query"), srcs.count("profile")


def other_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1000
    return value + "_changed"


@settings(max_examples=150, deadline=None)
@given(samples())
def test_gold_scores_one_on_every_metric(sample):
    report = score([sample], {sample.id: gold_text(sample)}, resamples=0)
    q_total, p_total = counts(sample)
    undefined = {"query_param": q_total == 0, "profile_param": p_total == 0}
    for key in METRICS:
        expected = None if undefined.get(key) else 1.0  # no such parameters: no accuracy
        assert report.splits["trained"][key] == expected, key
    assert report.errors["trained"] == dict.fromkeys(report.errors["trained"], 0)


@settings(max_examples=150, deadline=None)
@given(samples(), st.data())
def test_each_perturbation_lowers_exactly_its_metrics(sample, data):
    gold = gold_as_calls(sample.gold_calls)
    q_total, p_total = counts(sample)
    kind = data.draw(st.sampled_from(
        ["drop_call", "add_call", "dup_call", "drop_param", "add_param", "change_value", "platform"]))
    i = data.draw(st.integers(0, len(gold) - 1))
    target = sample.gold_calls[i]
    param = data.draw(st.sampled_from(sorted(target.arguments)))
    calls = copy.deepcopy(gold)
    lost_q = lost_p = 0
    if kind == "drop_call":
        del calls[i]
        lost_q = list(target.sources.values()).count("query")
        lost_p = list(target.sources.values()).count("profile")
    elif kind == "add_call":
        calls.append(Call(name="zzExtraCall", arguments={"a": 1}))
    elif kind == "dup_call":
        calls.append(copy.deepcopy(calls[i]))
    elif kind in ("drop_param", "change_value"):
        if kind == "drop_param":
            del calls[i].arguments[param]
        else:
            calls[i].arguments[param] = other_value(calls[i].arguments[param])
        lost_q = target.sources[param] == "query"
        lost_p = target.sources[param] == "profile"
    elif kind == "add_param":
        calls[i].arguments["zzExtraParam"] = "x"
    platform = "SomeOtherShop" if kind == "platform" else None

    r = result_of(sample, calls, platform)
    expected_category = {
        "drop_call": "tool_missing", "add_call": "tool_excessive", "dup_call": "tool_excessive",
        "drop_param": "param_missing", "add_param": "param_excessive",
        "change_value": "param_value", "platform": None,
    }[kind]
    assert r.format
    assert r.platform == (kind != "platform")
    assert r.tool_name == (kind in ("drop_param", "add_param", "change_value", "platform"))
    assert r.tool_param == (kind in ("change_value", "platform"))
    assert r.tool_value == (kind == "platform")
    assert not r.overall
    assert (r.query_correct, r.profile_correct) == (q_total - lost_q, p_total - lost_p)
    assert (r.query_total, r.profile_total) == (q_total, p_total)
    expected_errors = tuple(c for c in (expected_category, "platform" if kind == "platform" else None) if c)
    assert r.errors == expected_errors


def test_order_of_calls_does_not_matter():
    sample = make_sample([GoldCall(name="a", arguments={"x": [1]}), GoldCall(name="b", arguments={"y": [2]})])
    r = result_of(sample, [Call(name="b", arguments={"y": 2}), Call(name="a", arguments={"x": 1})])
    assert r.overall


def test_repeated_names_pair_by_best_match():
    sample = make_sample([
        GoldCall(name="add", arguments={"item": ["tea", "green tea"]}),
        GoldCall(name="add", arguments={"item": ["green tea"]}),
    ])
    r = result_of(sample, [Call(name="add", arguments={"item": "green tea"}),
                           Call(name="add", arguments={"item": "tea"})])
    assert r.tool_value and r.errors == ()


def test_tool_wrong_when_a_call_is_missing_and_another_extra():
    sample = make_sample([GoldCall(name="a", arguments={"x": [1]})])
    r = result_of(sample, [Call(name="b", arguments={"x": 1})])
    assert r.errors == ("tool_wrong",)


def test_each_gold_parameter_counts_once():
    sample = make_sample([GoldCall(name="order", arguments={"item": ["tea"]}, sources={"item": "query"})])
    r = result_of(sample, [Call(name="order", arguments={"item": "tea"})] * 3)
    assert (r.query_correct, r.query_total) == (1, 1)
    assert not r.tool_name


def test_platform_compares_case_and_space_insensitively():
    sample = make_sample([GoldCall(name="a")], platform="Green Table")
    assert result_of(sample, [Call(name="a")], platform="green  table").platform


def test_unparsable_output_counts_in_every_denominator():
    ok = make_sample([GoldCall(name="a", arguments={"x": [1]}, sources={"x": "query"})], sid="trained:0")
    bad = make_sample([GoldCall(name="a", arguments={"x": [1]}, sources={"x": "query"})], sid="trained:1")
    report = score([ok, bad], {"trained:0": "MegaMart:[a(x=1)]", "trained:1": "I cannot"}, resamples=0)
    m = report.splits["trained"]
    assert m["format"] == m["overall"] == m["query_param"] == 0.5
    assert report.errors["trained"]["format"] == 1


def test_overall_is_sample_weighted_over_splits():
    samples_ = [make_sample([GoldCall(name="a", arguments={"x": [1]}, sources={"x": "query"})],
                            sid=f"{split}:{i}", split=split)
                for split, n in (("trained", 3), ("untrained", 1)) for i in range(n)]
    outputs = {"trained:0": "MegaMart:[a(x=1)]", "untrained:0": "MegaMart:[a(x=1)]"}
    report = score(samples_, outputs, resamples=0)
    assert report.splits["trained"]["overall"] == pytest.approx(1 / 3)
    assert report.splits["untrained"]["overall"] == 1.0
    assert report.splits["overall"]["overall"] == pytest.approx((3 * (1 / 3) + 1 * 1.0) / 4)
    assert report.counts == {"trained": 3, "untrained": 1, "overall": 4}
    assert report.missing_predictions == ["trained:1", "trained:2"]


def test_unknown_prediction_ids_are_reported():
    sample = make_sample([GoldCall(name="a")])
    report = score([sample], {"trained:0": "MegaMart:[a()]", "trained:99": "x"}, resamples=0)
    assert report.unknown_predictions == ["trained:99"]


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate():
    samples_ = [make_sample([GoldCall(name="a", arguments={"x": [1]}, sources={"x": "query"})],
                            sid=f"trained:{i}") for i in range(200)]
    outputs = {f"trained:{i}": "MegaMart:[a(x=1)]" for i in range(0, 200, 3)}
    first = score(samples_, outputs, resamples=500, seed=7)
    again = score(samples_, outputs, resamples=500, seed=7)
    other = score(samples_, outputs, resamples=500, seed=8)
    assert first.intervals == again.intervals
    assert first.intervals != other.intervals
    low, high = first.intervals["trained"]["overall"]
    point = first.splits["trained"]["overall"]
    assert low < point < high
    assert 0.05 < high - low < 0.2  # about 2 * 1.96 * sqrt(p(1-p)/n) = 0.13
    assert first.intervals["overall"]["overall"] == first.intervals["trained"]["overall"]
