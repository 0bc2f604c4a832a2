"""The ToolSpectrum kind: profile, environment and app policies; one JSON answer object (or a
refusal); cascaded level-wise F1 (docs/scoring.md, "ToolSpectrum")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertool.errors import PertoolError
from pertool.kinds.kind import Prompt, SpecHelp
from pertool.schema import Call, Prediction, Sample

if TYPE_CHECKING:
    import numpy as np

    from pertool.benchmarks.download import RemoteDataset
    from pertool.scoring.results import ScoreReport

__all__ = ["KIND", "ToolSpectrumKind"]

METRIC_TABLES = (
    {"format": "Format", "format_strict": "Strict", "app_f1": "APP", "api_f1": "API", "rp_f1": "RP",
     "pp_f1": "PP", "op_f1": "OP", "accuracy": "Accuracy"},
    {"rp_param_f1": "RP-param", "pp_param_f1": "PP-param", "op_param_f1": "OP-param",
     "refusal_precision": "Refuse-P", "refusal_recall": "Refuse-R", "refusal_f1": "Refuse-F1"},
)  # fmt: skip
# What each column means (printed under the tables; the HTML report shows the same).
LEGEND = (
    ("Format, Strict", "the answer parses; Strict: with no repair (one JSON object or a bare null)"),
    ("APP, API, RP", "cascaded F1: the right app; also the right API; also every required parameter"),
    ("PP / OP", "also every personalized (PP, persona subset) / environmental (OP, other subsets) "
     "parameter"),
    ("Accuracy", "a refusal where the gold refuses, else a call correct at the last level"),
    ("RP/PP/OP-param", "micro-F1 of required / personalized / environmental parameters, not cascaded"),
    ("Refuse-P/R/F1", "precision, recall and F1 of refusing (refusal as the positive class)"),
    ("Unparsed, Repaired", "answers that did not parse; answers that parsed only after a repair"),
    ("Refused!, NotRefused", "refused a valid request; did not refuse where the gold refuses"),
)  # fmt: skip
# Counts under the tables: unparsed, repaired, refused a valid request, failed to refuse.
ERROR_TITLES = {"format": "Unparsed", "repaired": "Repaired", "wrong_refusal": "Refused!",
                "missed_refusal": "NotRefused"}  # fmt: skip
# The levels cascade, so each wrong answer is counted at the first level it fails.
CATEGORY_TITLES = {
    "format": "Format", "wrong_refusal": "Refused valid", "missed_refusal": "Missed refusal",
    "app": "APP wrong", "api": "API wrong", "rp": "RP wrong", "pp": "PP wrong", "op": "OP wrong",
}  # fmt: skip
# Ablation conditions -> the profile view that shows them.
_CONDITION_VIEWS = {"both": "all", "persona-only": "persona-only", "environment-only": "environment-only"}


def _app(sample: Sample) -> str | None:
    return sample.gold_platform or "(refusal)"


class ToolSpectrumKind:
    name: str = "toolspectrum"
    sample_benchmarks: frozenset[str] = frozenset({"toolspectrum"})
    location_keys: tuple[str, ...] = ("toolspectrum_root",)  # where the templates and API files are
    spec_names: tuple[str, ...] = ("toolspectrum",)
    specs: tuple[SpecHelp, ...] = (
        SpecHelp("toolspectrum:SUBSET", "persona, environment, persona_environment or all, from "
                 "--data-dir, $PERTOOL_DATA_DIR or `pertool data download toolspectrum`"),
    )  # fmt: skip
    download_names: tuple[str, ...] = ("toolspectrum",)
    tool_modes: tuple[str, ...] = ("text",)  # the answer is its JSON object (with a refusal as null)
    chat_formats: bool = False  # its templates are one user message
    compat_modes: tuple[str, ...] = ()
    compat_sampling: Mapping[str, Mapping[str, float]] = {}
    metric_titles: Mapping[str, str] = {k: v for table in METRIC_TABLES for k, v in table.items()}
    metric_tables: tuple[Mapping[str, str], ...] = METRIC_TABLES
    legend: tuple[tuple[str, str], ...] = LEGEND
    error_titles: Mapping[str, str] = ERROR_TITLES
    category_titles: Mapping[str, str] = CATEGORY_TITLES
    headline: str = "accuracy"
    lower_better: frozenset[str] = frozenset()
    platform_title: str | None = "platform"
    ablation_conditions: tuple[str, ...] = tuple(_CONDITION_VIEWS)
    license_notes: Mapping[str, str] = {
        "toolspectrum": "ToolSpectrum (github.com/BUAA-IRIP-LLM/ToolSpectrum): public data under its "
                        "authors' terms"}  # fmt: skip

    def load(self, name: str, arg: str, data_dir: str | Path | None) -> list[Sample]:
        from pertool.benchmarks.toolspectrum import load_toolspectrum

        return load_toolspectrum(arg or "all", data_dir)

    def remote(self, name: str) -> tuple[RemoteDataset, Path]:
        from pertool.benchmarks.registry import TOOLSPECTRUM_REMOTE, toolspectrum_dir

        return TOOLSPECTRUM_REMOTE, toolspectrum_dir()

    def prompt(self, sample: Sample, tool_mode: str) -> Prompt:
        from pertool.benchmarks.toolspectrum_prompts import toolspectrum_messages

        return Prompt(tuple(toolspectrum_messages(sample)))

    def raw_prompt(self, sample: Sample, chat_format: str) -> str:
        raise PertoolError("ToolSpectrum's prompts are single user messages; --chat-format does not apply")

    def parse(self, output: str | None, sample: Sample) -> Prediction:
        from pertool.parsing.toolspectrum import parse_toolspectrum

        return parse_toolspectrum(output, sample.id)

    def native_prediction(self, sample: Sample, text: str, tool_calls: Any) -> tuple[Prediction, str]:
        return self.parse(text, sample), text  # text mode only: its answer is the JSON object

    def score(self, samples: Sequence[Sample], given: Mapping[str, str | Prediction | None], *,
              compat: str | None, resamples: int, seed: int,
              keep_parses: bool = True) -> ScoreReport:  # fmt: skip
        from pertool.scoring.toolspectrum_api import score_toolspectrum

        return score_toolspectrum(samples, given, resamples=resamples, seed=seed, keep_parses=keep_parses)

    def metrics_from_counts(self, totals: np.ndarray, splits: Sequence[str]) -> Mapping[str, np.ndarray]:
        from pertool.scoring.toolspectrum import metrics_from_counts

        return metrics_from_counts(totals, splits)

    def gold_text(self, sample: Sample) -> str:
        from pertool.parsing.render import gold_as_calls, render_toolspectrum

        return render_toolspectrum(sample.gold_platform, gold_as_calls(sample.gold_calls))

    def shown_answer(self, sample: Sample, platform: str | None, calls: Sequence[Call]) -> str:
        from pertool.scoring.call_diff import browser_calls_text

        return browser_calls_text(platform, calls)

    def shown_gold(self, sample: Sample) -> str:
        from pertool.scoring.call_diff import browser_gold_text

        return browser_gold_text(sample)

    def gold_tool_calls(self, sample: Sample) -> list[dict[str, Any]]:
        raise PertoolError("ToolSpectrum answers are text (its JSON object); it has no native mode")

    def diff(self, sample: Sample, prediction: Prediction, *, compat: str | None) -> dict[str, Any]:
        from pertool.scoring.call_diff import ptbench_diff

        return ptbench_diff(sample, prediction)  # the same pairing and value rules in every mode

    def is_test(self, sample: Sample) -> bool:
        return True  # ToolSpectrum publishes a test set only

    def prefix_key(self, sample: Sample) -> tuple[str, ...]:
        from pertool.kinds.prefix import canonical_json

        environment = sample.environment.model_dump(mode="json") if sample.environment else None
        return (sample.benchmark, sample.split, sample.query, canonical_json(sample.profile.basic_features),
                canonical_json(environment))  # fmt: skip

    def breakdowns(self) -> Mapping[str, Callable[[Sample], str | None]]:
        return {"app": _app}

    def cluster_key(self, sample: Sample) -> str:
        return sample.id  # every sample is drawn on its own

    def ablation_samples(self, samples: Sequence[Sample], condition: str) -> list[Sample]:
        from pertool.benchmarks.views import apply_profile_view

        # its conditions, and the generic profile views (which blank the persona's parts)
        return apply_profile_view(samples, _CONDITION_VIEWS.get(condition, condition))  # type: ignore[arg-type]


KIND = ToolSpectrumKind()
