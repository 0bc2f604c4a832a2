"""The package-level Python API."""

import pertool


def test_load_and_score_from_the_package_root():
    samples = pertool.load_benchmark("example")
    outputs = {s.id: pertool.render_ptbench(s.gold_platform, [
        pertool.Call(name=g.name, arguments={k: v[0] for k, v in g.arguments.items()})
        for g in s.gold_calls]) for s in samples}
    report = pertool.score(samples, outputs, resamples=200)
    assert report.splits["overall"]["overall"] == 1.0
    assert report.intervals["overall"]["overall"] == [1.0, 1.0]
    assert set(report.to_json()) >= {"splits", "errors", "intervals"}


def test_parsed_predictions_are_accepted_too():
    samples = pertool.load_benchmark("example")
    predictions = [pertool.parse_ptbench("nothing", s.id) for s in samples]
    report = pertool.score(samples, predictions, resamples=0)
    assert report.splits["overall"]["format"] == 0.0
    assert report.missing_predictions == []


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError):
        pertool.nope  # noqa: B018
