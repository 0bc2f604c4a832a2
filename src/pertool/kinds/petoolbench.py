"""The PEToolBench kind: one preferred tool call from about ten candidates, given the user's
history, in three settings (preferred, ratings, chronological); the answer is one JSON object
`{"tool_name", "parameters"}` (docs/petoolbench.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertool.errors import PertoolError, SpecError
from pertool.kinds.kind import Prompt, SpecHelp
from pertool.schema import Call, GoldCall, Prediction, Sample

if TYPE_CHECKING:
    import numpy as np

    from pertool.benchmarks.download import RemoteDataset
    from pertool.scoring.results import ScoreReport

__all__ = ["KIND", "PEToolBenchKind"]

METRIC_TITLES = {"format": "Format", "tool_acc": "Tool", "param_acc": "Param", "call_acc": "Call",
                 "hallucinated": "Halluc", "param_given_tool": "Param/Tool"}  # fmt: skip
LEGEND = (
    ("Format", "the answer holds a call object (pertool's tolerant parser; --compat: the public regex)"),
    ("Tool", "the right candidate API (name matched exactly, else by trimmed, case-folded components)"),
    ("Param", "the gold parameters, whatever the tool (the public script's notion, normalised)"),
    ("Call", "the right tool with the right parameters (the headline)"),
    ("Halluc", "the named tool is no candidate (not under --compat)"),
    ("Param/Tool", "parameter accuracy among the tool-correct answers"),
    ("overall", "the mean of the settings; intervals resample entries (one entry is in every setting)"),
)  # fmt: skip
CATEGORY_TITLES = {"format": "Format", "hallucinated_tool": "Hallucinated tool",
                   "wrong_provider": "Wrong provider", "wrong_function": "Wrong function",
                   "param_names": "Param names", "param_values": "Param values"}  # fmt: skip
CONDITIONS = ("history", "no-history")


def _category(sample: Sample) -> str | None:
    from pertool.parsing.petoolbench import tool_parts

    parts = tool_parts(sample.gold_calls[0].name) if sample.gold_calls else ()
    return f"<{parts[0]}>" if len(parts) == 3 else None


def _group_size(sample: Sample) -> str | None:
    group = sample.extra.get("metadata", {}).get("apis_same_func")
    return f"{len(group)} providers" if isinstance(group, list) else None


class PEToolBenchKind:
    name: str = "petoolbench"
    sample_benchmarks: frozenset[str] = frozenset({"petoolbench"})
    location_keys: tuple[str, ...] = ()
    spec_names: tuple[str, ...] = ("petoolbench",)
    specs: tuple[SpecHelp, ...] = (
        SpecHelp("petoolbench:SETTING", "preferred, ratings, chronological or all (default), from "
                 "--data-dir, $PERTOOL_DATA_DIR or `pertool data download petoolbench`"),
    )  # fmt: skip
    download_names: tuple[str, ...] = ("petoolbench",)
    # Names hold spaces, `<>`, `/` and emoji: native tools= would need aliases.
    tool_modes: tuple[str, ...] = ("text",)
    chat_formats: bool = False
    compat_modes: tuple[str, ...] = ("petoolbench-public",)
    metric_titles: Mapping[str, str] = METRIC_TITLES
    metric_tables: tuple[Mapping[str, str], ...] = (METRIC_TITLES,)
    legend: tuple[tuple[str, str], ...] = LEGEND
    error_titles: Mapping[str, str] = CATEGORY_TITLES
    category_titles: Mapping[str, str] = CATEGORY_TITLES
    headline: str = "call_acc"
    lower_better: frozenset[str] = frozenset({"hallucinated"})
    platform_title: str | None = "provider"
    ablation_conditions: tuple[str, ...] = CONDITIONS
    license_notes: Mapping[str, str] = {
        "petoolbench": "PEToolBench (github.com/travis-xu/PEToolBench): public data under its authors' "
                       "terms (the repository has no license file)"}  # fmt: skip
    # The public script's generation settings, for `--compat petoolbench-public` (opt-in).
    compat_sampling: Mapping[str, Mapping[str, float]] = {
        "petoolbench-public": {"temperature": 0.1, "max_tokens": 256}}  # fmt: skip

    def load(self, name: str, arg: str, data_dir: str | Path | None) -> list[Sample]:
        from pertool.benchmarks.petoolbench import load_petoolbench

        return load_petoolbench(arg or "all", data_dir)

    def remote(self, name: str) -> tuple[RemoteDataset, Path]:
        from pertool.benchmarks.petoolbench import petoolbench_dir
        from pertool.benchmarks.petoolbench_remote import PETOOLBENCH_REMOTE

        return PETOOLBENCH_REMOTE, petoolbench_dir()

    def prompt(self, sample: Sample, tool_mode: str) -> Prompt:
        from pertool.benchmarks.petoolbench_prompts import messages

        if tool_mode != "text":
            raise SpecError("PEToolBench answers are text (one JSON object); --tool-mode native does not "
                            "apply")  # fmt: skip
        return Prompt(tuple(messages(sample)))

    def raw_prompt(self, sample: Sample, chat_format: str) -> str:
        raise PertoolError("PEToolBench's prompts are chat messages; --chat-format does not apply")

    def parse(self, output: str | None, sample: Sample) -> Prediction:
        from pertool.parsing.petoolbench import parse_petoolbench

        return parse_petoolbench(output, sample.id)

    def native_prediction(self, sample: Sample, text: str, tool_calls: Any) -> tuple[Prediction, str]:
        return self.parse(text, sample), text  # text mode only

    def score(self, samples: Sequence[Sample], given: Mapping[str, str | Prediction | None], *,
              compat: str | None, resamples: int, seed: int,
              keep_parses: bool = True) -> ScoreReport:  # fmt: skip
        from pertool.scoring.petoolbench import score_petoolbench

        return score_petoolbench(samples, given, compat=compat, resamples=resamples, seed=seed,
                             keep_parses=keep_parses)

    def metrics_from_counts(self, totals: np.ndarray, splits: Sequence[str]) -> Mapping[str, np.ndarray]:
        from pertool.scoring.petoolbench import metrics_from_counts

        return metrics_from_counts(totals, splits)

    def gold_text(self, sample: Sample) -> str:
        gold = sample.gold_calls[0]
        params = {k: v[0] for k, v in gold.arguments.items()}
        return json.dumps({"tool_name": gold.name, "parameters": params}, ensure_ascii=False)

    def shown_answer(self, sample: Sample, platform: str | None, calls: Sequence[Call]) -> str:
        """The parse in the answer format (the scored first call; further calls follow, one a line)."""
        if not calls:
            return "(no call)"
        return "\n".join(self.gold_text(sample.model_copy(update={"gold_calls": [
            GoldCall(name=c.name, arguments={k: [v] for k, v in c.arguments.items()})]})) for c in calls)

    def shown_gold(self, sample: Sample) -> str:
        return self.gold_text(sample)

    def gold_tool_calls(self, sample: Sample) -> list[dict[str, Any]]:
        raise PertoolError("PEToolBench answers are text (one JSON object); it has no native mode")

    def diff(self, sample: Sample, prediction: Prediction, *, compat: str | None) -> dict[str, Any]:
        from pertool.scoring.petoolbench_diff import petoolbench_diff

        return petoolbench_diff(sample, prediction, public=compat == "petoolbench-public")

    def is_test(self, sample: Sample) -> bool:
        return True  # only the test set is public (the training files are on the Hugging Face Hub)

    def prefix_key(self, sample: Sample) -> tuple[str, ...]:
        return (sample.benchmark, sample.extra["instruction"], sample.query)

    def breakdowns(self) -> Mapping[str, Callable[[Sample], str | None]]:
        return {"category": _category, "same-function group": _group_size}

    def cluster_key(self, sample: Sample) -> str:
        from pertool.scoring.petoolbench import entry_key

        return entry_key(sample)  # an entry's three settings are drawn together

    def ablation_samples(self, samples: Sequence[Sample], condition: str) -> list[Sample]:
        from pertool.benchmarks.petoolbench_prompts import without_history

        if condition not in CONDITIONS:
            raise ValueError(f"unknown PEToolBench condition {condition!r}; known: {', '.join(CONDITIONS)}")
        if condition == "history":
            return list(samples)
        out = []
        for sample in samples:
            instruction = without_history(sample.extra["instruction"], sample.id)
            out.append(sample.model_copy(update={"extra": {**sample.extra, "instruction": instruction}}))
        return out


KIND = PEToolBenchKind()
