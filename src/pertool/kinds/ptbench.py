"""The PTBench kind: PTBench itself and every source in its shape (the built-in benchmark,
`dataset:DIR`, the bundled example). Platform + call list answers, the paper's Table-2 metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertool.errors import SpecError
from pertool.kinds.kind import Prompt, SpecHelp
from pertool.schema import Call, Prediction, Sample

if TYPE_CHECKING:
    import numpy as np

    from pertool.benchmarks.download import RemoteDataset
    from pertool.scoring.results import ScoreReport

__all__ = ["KIND", "PTBenchKind"]

TEST_SPLITS = ("trained", "untrained", "test")
# One table of titles for the Table-2 metrics and the Figure-4 error categories.
METRIC_TITLES = {"format": "Format", "platform": "Platform", "query_param": "Query",
                 "profile_param": "Profile", "tool_name": "T-name", "tool_param": "T-param",
                 "tool_value": "T-value", "overall": "Overall"}  # fmt: skip
ERROR_TITLES = {"tool_wrong": "T-wrong", "tool_missing": "T-missing", "tool_excessive": "T-excess",
                "param_missing": "P-missing", "param_excessive": "P-excess", "param_value": "P-error",
                "platform": "Platform", "format": "Format"}  # fmt: skip


def _scenario_or_platform(sample: Sample) -> str | None:
    """The built-in benchmark's scenario, else the gold platform (what a report groups by)."""
    builtin = sample.extra.get("builtin")
    if isinstance(builtin, dict) and builtin.get("scenario"):
        return str(builtin["scenario"])
    return sample.gold_platform or "(refusal)"


class PTBenchKind:
    name: str = "ptbench"
    sample_benchmarks: frozenset[str] = frozenset({"ptbench", "builtin"})
    location_keys: tuple[str, ...] = ()
    spec_names: tuple[str, ...] = ("builtin", "builtin-mini", "dataset", "example", "ptbench")
    specs: tuple[SpecHelp, ...] = (
        SpecHelp("builtin", "the built-in benchmark's test split (builtin:train its train split)"),
        SpecHelp("builtin-mini", "the compact CPU setting (builtin-mini:train, builtin-mini:test)"),
        SpecHelp("dataset:DIR", "the test split of a dataset written by `pertool generate`"),
        SpecHelp("example", "the small PTBench-format example bundled with pertool"),
        SpecHelp("ptbench", "the copy fetched by `pertool data download ptbench`"),
        SpecHelp("ptbench:PATH", "a PTBench data.json, or a directory with the split directories"),
    )
    download_names: tuple[str, ...] = ("ptbench",)
    tool_modes: tuple[str, ...] = ("text", "native")
    chat_formats: bool = True
    compat_modes: tuple[str, ...] = ("ptbench-official",)
    # The public PTBench scripts' generation settings.
    compat_sampling: Mapping[str, Mapping[str, float]] = {
        "ptbench-official": {"temperature": 0.1, "max_tokens": 128}}  # fmt: skip
    metric_titles: Mapping[str, str] = METRIC_TITLES
    metric_tables: tuple[Mapping[str, str], ...] = (METRIC_TITLES,)
    legend: tuple[tuple[str, str], ...] = ()
    error_titles: Mapping[str, str] = ERROR_TITLES
    category_titles: Mapping[str, str] = ERROR_TITLES
    headline: str = "overall"
    lower_better: frozenset[str] = frozenset()
    platform_title: str | None = "platform"
    ablation_conditions: tuple[str, ...] = ("all", "no-basic", "no-history", "none")

    def load(self, name: str, arg: str, data_dir: str | Path | None) -> list[Sample]:
        from pertool.benchmarks.ptbench import load_ptbench
        from pertool.benchmarks.registry import EXAMPLE_DIR, ptbench_dir
        from pertool.fileio import user_cache_dir

        if name in ("builtin", "builtin-mini") and arg in ("", "test", "train"):
            from pertool.benchmarks.builtin import load_builtin

            return load_builtin("train" if arg == "train" else "test", user_cache_dir(), name)
        if name == "dataset" and arg:
            from pertool.benchmarks.dataset import load_dataset

            return load_dataset(Path(arg), "test")
        if name == "example" and not arg:
            return load_ptbench(EXAMPLE_DIR)
        if name == "ptbench":
            if arg:
                return load_ptbench(arg)
            root = ptbench_dir()
            if not root.exists():
                raise SpecError(f"PTBench is not downloaded yet (looked in {root}); run "
                                "`pertool data download ptbench`, or use ptbench:PATH")
            return load_ptbench(root)
        from pertool.kinds.kind import spec_summary

        raise SpecError(f"unknown benchmark spec {name + (':' + arg if arg else '')!r}; use {spec_summary()}")

    def remote(self, name: str) -> tuple[RemoteDataset, Path]:
        from pertool.benchmarks.registry import PTBENCH_REMOTE, ptbench_dir

        return PTBENCH_REMOTE, ptbench_dir()

    def prompt(self, sample: Sample, tool_mode: str) -> Prompt:
        from pertool.benchmarks.ptbench_prompts import chat_messages, native_messages, native_tools

        if tool_mode == "native":
            return Prompt(tuple(native_messages(sample)), tuple(native_tools(sample)))
        return Prompt(tuple(chat_messages(sample)))

    def raw_prompt(self, sample: Sample, chat_format: str) -> str:
        from pertool.benchmarks.ptbench_prompts import raw_prompt

        return raw_prompt(sample, chat_format)

    def parse(self, output: str | None, sample: Sample) -> Prediction:
        from pertool.parsing.ptbench import parse_ptbench

        return parse_ptbench(output, sample.id, [p.name for p in sample.platforms])

    def native_prediction(self, sample: Sample, text: str, tool_calls: Any) -> tuple[Prediction, str]:
        from pertool.kinds.native_calls import native_answer

        prediction, rendered = native_answer(sample.id, text, tool_calls)
        return prediction, rendered if rendered is not None else text

    def score(self, samples: Sequence[Sample], given: Mapping[str, str | Prediction | None], *,
              compat: str | None, resamples: int, seed: int,
              keep_parses: bool = True) -> ScoreReport:  # fmt: skip
        from pertool.scoring.ptbench_report import score_ptbench

        return score_ptbench(samples, given, compat=compat, resamples=resamples, seed=seed,
                             keep_parses=keep_parses)

    def metrics_from_counts(self, totals: np.ndarray, splits: Sequence[str]) -> Mapping[str, np.ndarray]:
        from pertool.scoring.results import metrics_from_counts

        return metrics_from_counts(totals, splits)

    def gold_text(self, sample: Sample) -> str:
        from pertool.parsing.render import gold_as_calls, render_ptbench

        return render_ptbench(sample.gold_platform or "", gold_as_calls(sample.gold_calls))

    def shown_answer(self, sample: Sample, platform: str | None, calls: Sequence[Call]) -> str:
        from pertool.scoring.call_diff import browser_calls_text

        return browser_calls_text(platform, calls)

    def shown_gold(self, sample: Sample) -> str:
        from pertool.scoring.call_diff import browser_gold_text

        return browser_gold_text(sample)

    def gold_tool_calls(self, sample: Sample) -> list[dict[str, Any]]:
        from pertool.kinds.native_calls import gold_tool_calls

        return gold_tool_calls(sample)

    def diff(self, sample: Sample, prediction: Prediction, *, compat: str | None) -> dict[str, Any]:
        from pertool.scoring.call_diff import ptbench_diff

        return ptbench_diff(sample, prediction)  # the same pairing and value rules in every mode

    def is_test(self, sample: Sample) -> bool:
        return sample.split in TEST_SPLITS

    def prefix_key(self, sample: Sample) -> tuple[str, ...]:
        from pertool.kinds.prefix import canonical_json, user_key

        return (sample.benchmark, user_key(sample), canonical_json([p.name for p in sample.platforms]),
                canonical_json([t.name for t in sample.tools]), sample.query)  # fmt: skip

    def breakdowns(self) -> Mapping[str, Callable[[Sample], str | None]]:
        return {"group": _scenario_or_platform}

    def cluster_key(self, sample: Sample) -> str:
        return sample.id  # every sample is drawn on its own

    def ablation_samples(self, samples: Sequence[Sample], condition: str) -> list[Sample]:
        from pertool.benchmarks.views import apply_profile_view

        return apply_profile_view(samples, condition)  # type: ignore[arg-type]  # every profile view


KIND = PTBenchKind()
