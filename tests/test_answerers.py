"""The answerers (`pertool.answerers`): one resolver for every model spec, and baselines that
answer through the sample's benchmark kind."""

from __future__ import annotations

import asyncio

import pytest

from pertool.answerers import create_model, model_prefixes
from pertool.answerers.baseline import random_answer
from pertool.errors import SpecError
from pertool.kinds import kind_of, load_benchmark
from pertool.kinds.score import score
from pertool.models.registry import ModelOptions
from pertool.parsing.render import render_ptbench
from pertool.runner.task import Task
from pertool.schema import Sample


def answers(spec: str, samples: list[Sample], mode: str = "text") -> dict[str, str]:
    backend = create_model(spec, ModelOptions(), samples)
    task = Task(tool_mode=mode)  # type: ignore[arg-type]

    async def run() -> dict[str, str]:
        out = {}
        for sample in samples:
            completion = await backend.complete(task.request(sample))
            out[sample.id] = kind_of(sample).native_prediction(sample, completion.text, completion.tool_calls)[1] \
                if mode == "native" else completion.text
        return out

    return asyncio.run(run())


def test_random_baseline_on_ptbench_writes_its_choice_in_the_ptbench_format():
    samples = load_benchmark("example")
    text = answers("baseline/random", samples)
    for sample in samples:
        platform, calls = random_answer(sample)
        assert text[sample.id] == render_ptbench(platform or "", calls)
    assert answers("baseline/random", samples) == text  # seeded by the sample id
    native = answers("baseline/random", samples, "native")
    assert native == text  # the tool calls read back as the same answer


def test_random_baseline_serves_toolspectrum_through_its_kind(toolspectrum_dir):
    samples = load_benchmark("toolspectrum:all", str(toolspectrum_dir))[:30]
    text = answers("baseline/random", samples)
    report = score(samples, text, resamples=0)
    assert report.splits and all(split["format"] == 1.0 for split in report.splits.values())  # JSON objects
    assert all((split["accuracy"] or 0.0) < 1.0 for split in report.splits.values())


def test_a_baseline_refuses_a_kind_it_does_not_serve(toolspectrum_dir):
    samples = load_benchmark("toolspectrum:persona", str(toolspectrum_dir))[:3]
    with pytest.raises(SpecError, match="baseline/history does not answer toolspectrum samples; "
                                        "for them use baseline/random"):  # fmt: skip
        create_model("baseline/history", ModelOptions(), samples)
    with pytest.raises(SpecError, match="unknown baseline 'nope'"):
        create_model("baseline/nope", ModelOptions(), [])


def test_one_resolver_for_answerers_and_backends():
    assert model_prefixes()[:3] == ["oracle", "baseline", "replay"]
    assert {"openai", "openai-compatible", "hf"} <= set(model_prefixes())
    with pytest.raises(SpecError, match=r"unknown model spec 'nope/x'; prefixes: oracle, baseline, replay, openai"):
        create_model("nope/x", ModelOptions(), [])
    with pytest.raises(SpecError, match="needs a model after 'replay/'"):
        create_model("replay", ModelOptions(), [])
    with pytest.raises(SpecError, match="needs --base-url"):  # a backend: reached without samples
        create_model("openai-compatible/m", ModelOptions(), load_benchmark("example"))
    samples = load_benchmark("example")
    oracle = answers("oracle", samples)
    assert score(samples, oracle, resamples=0).splits["overall"]["overall"] == 1.0
