"""What makes a benchmark a benchmark: the `BenchmarkKind` protocol and the registry of kinds.

Everything that differs between benchmarks is a method or attribute of its kind: how its files
load, the prompt a sample becomes in each answer mode, how an answer parses and scores, its gold
answer, the titles of its metrics and its headline metric, the breakdowns and ablation conditions
a report shows. Code outside the kind modules asks `kind_of(sample)` (or `kind_for_spec(spec)`)
and never compares a benchmark's name, so a new benchmark is one new kind module plus one line
in `_KIND_MODULES`.

Kinds in pertool: `ptbench` (PTBench and every PTBench-shaped source: the built-in benchmark,
`dataset:DIR`, `example`), `toolspectrum` and `petoolbench`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pertool.errors import DataError, PertoolError, SpecError
from pertool.hfdata.benchmark import HF_SPEC  # a benchmark saved by `data export --format hf`: any kind
from pertool.schema import Call, Prediction, Sample

if TYPE_CHECKING:
    import numpy as np

    from pertool.benchmarks.download import RemoteDataset
    from pertool.scoring.results import ScoreReport

__all__ = [
    "BenchmarkKind",
    "Prompt",
    "SpecHelp",
    "all_kinds",
    "check_settings",
    "kind_for_spec",
    "kind_named",
    "kind_of",
    "kind_of_samples",
    "download_names",
    "export_source",
    "gold_text",
    "load_benchmark",
    "remote_dataset",
    "spec_summary",
    "view_samples",
]


# Kind modules, each exposing `KIND`; imported on first use so that `pertool --help` stays fast.
_KIND_MODULES = (
    "pertool.kinds.ptbench",
    "pertool.kinds.toolspectrum",
    "pertool.kinds.petoolbench",
)


@dataclass(frozen=True)
class Prompt:
    """A sample rendered for a model: chat messages, and `tools` for the native answer mode."""

    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SpecHelp:
    """One spec form a kind loads, as `pertool --help` and error messages list it."""

    spec: str
    meaning: str


# Spec forms that are no one kind's: an hf export loads as the kind it records.
GENERIC_SPECS = (SpecHelp("hf:PATH", "a benchmark saved by `pertool data export --format hf` (any kind)"),)


@runtime_checkable
class BenchmarkKind(Protocol):
    """One family of benchmarks that share a sample shape, prompts, parsing and scoring."""

    name: str  # the kind's own name ("ptbench", "toolspectrum", "petoolbench")
    sample_benchmarks: frozenset[str]  # the `Sample.benchmark` values it owns
    # `Sample.extra` keys that say where this machine keeps the data, not what it is: left out of
    # a run's benchmark fingerprint, so moved data (--data-dir) is the same benchmark.
    location_keys: tuple[str, ...]
    spec_names: tuple[str, ...]  # spec prefixes it loads ("ptbench", "example", "builtin", ...)
    specs: tuple[SpecHelp, ...]  # the spec forms, for help and errors
    download_names: tuple[str, ...]  # names `pertool data download` fetches for this kind
    tool_modes: tuple[str, ...]  # answer modes: "text" always; "native" when tools= fits
    chat_formats: bool  # whether raw-completion chat formats (--chat-format) apply
    compat_modes: tuple[str, ...]  # --compat modes that reproduce a public script
    compat_sampling: Mapping[str, Mapping[str, float]]  # per mode: the public script's generation settings
    metric_titles: Mapping[str, str]  # every metric it reports, in table order -> column title
    metric_tables: tuple[Mapping[str, str], ...]  # how the terminal and reports lay them out
    legend: tuple[tuple[str, str], ...]  # (columns, meaning) lines printed under the tables
    error_titles: Mapping[str, str]  # the keys of `ScoreReport.errors`, in chart order -> title
    category_titles: Mapping[str, str]  # a scored sample's error category -> title
    headline: str  # the metric a leaderboard sorts by
    # Metrics where lower is better (a True per-sample check is a fault): leaderboards rank them
    # ascending, reports bold the lowest, the sample browser marks a True check as bad.
    lower_better: frozenset[str]
    # The sample browser's label for the diff's first row (`diff()["platform"]`); None omits it.
    platform_title: str | None
    ablation_conditions: tuple[str, ...]  # `pertool ablate` conditions, the first = nothing hidden
    # Spec prefix -> the license note a dataset card gives (`data export --format hf`).
    license_notes: Mapping[str, str]

    def load(self, name: str, arg: str, data_dir: str | Path | None) -> list[Sample]:
        """Samples for the spec `name[:arg]` (`name` in `spec_names`)."""
        ...

    def remote(self, name: str) -> tuple[RemoteDataset, Path]:
        """What `pertool data download NAME` fetches, and where it goes."""
        ...

    def prompt(self, sample: Sample, tool_mode: str) -> Prompt:
        """The chat messages (and tools) for `sample` in an answer mode of `tool_modes`."""
        ...

    def raw_prompt(self, sample: Sample, chat_format: str) -> str:
        """The whole prompt as one string for a completion backend (when `chat_formats`)."""
        ...

    def parse(self, output: str | None, sample: Sample) -> Prediction:
        """A model's text answer as a `Prediction` (never raises, never evaluates the text)."""
        ...

    def native_prediction(self, sample: Sample, text: str, tool_calls: Any) -> tuple[Prediction, str]:
        """A native-mode answer (its tool calls) as a prediction, and the text to store as the
        answer's `output` (re-scoring that text gives the same prediction)."""
        ...

    def score(self, samples: Sequence[Sample], given: Mapping[str, str | Prediction | None], *,
              compat: str | None, resamples: int, seed: int,
              keep_parses: bool = True) -> ScoreReport:  # fmt: skip
        """Score answers (raw text or parsed) by sample id; a missing id is an empty answer.
        `keep_parses=False` leaves each `ScoredSample.prediction` None (nothing will show or
        store the parses: a large `pertool score` then holds no parse in memory)."""
        ...

    def metrics_from_counts(self, totals: np.ndarray, splits: Sequence[str]) -> Mapping[str, np.ndarray]:
        """Every metric from summed count rows (`ScoredSample.counts`): `totals` has the shape
        [..., len(splits), row width], the rows of each split summed; the result is each metric
        over those splits together (the overall column when several), NaN where undefined. The
        one place where the kind's metrics are made from counts: the scorer's aggregation, its
        bootstrap, reports' breakdowns and compare's paired test all call it."""
        ...

    def gold_text(self, sample: Sample) -> str:
        """The gold answer in the benchmark's text answer format."""
        ...

    def shown_answer(self, sample: Sample, platform: str | None, calls: Sequence[Call]) -> str:
        """A parsed answer (`platform`, `calls`) as the sample browser shows it."""
        ...

    def shown_gold(self, sample: Sample) -> str:
        """The gold answer as the sample browser shows it (every accepted value, where several)."""
        ...

    def gold_tool_calls(self, sample: Sample) -> list[dict[str, Any]]:
        """The gold answer as native tool calls (`[{"name", "arguments": JSON text}]`)."""
        ...

    def diff(self, sample: Sample, prediction: Prediction, *, compat: str | None) -> dict[str, Any]:
        """The parse the scorer used against the gold, for the sample browser, judged by the same
        rules as `score` under `compat` (structure: `pertool.scoring.call_diff`)."""
        ...

    def is_test(self, sample: Sample) -> bool:
        """Whether the sample belongs to a test split (training on it leaks the test)."""
        ...

    def prefix_key(self, sample: Sample) -> tuple[str, ...]:
        """A sort key that follows the rendered prompt part by part (the prefix-cache order)."""
        ...

    def breakdowns(self) -> Mapping[str, Callable[[Sample], str | None]]:
        """Report breakdowns: title -> the category of a sample (None: not in this breakdown)."""
        ...

    def cluster_key(self, sample: Sample) -> str:
        """The bootstrap's resampling unit: samples with the same key are drawn together in
        every bootstrap (the scorer's intervals, reports' breakdowns, compare's rows and paired
        test), across splits; the sample id for independent samples."""
        ...

    def ablation_samples(self, samples: Sequence[Sample], condition: str) -> list[Sample]:
        """The samples as an ablation condition (one of `ablation_conditions`, or another view
        the kind accepts: `--profile-view`) shows them; ValueError for a view it has not."""
        ...


_kinds: tuple[BenchmarkKind, ...] | None = None


def all_kinds() -> tuple[BenchmarkKind, ...]:
    global _kinds
    if _kinds is None:
        _kinds = tuple(import_module(m).KIND for m in _KIND_MODULES)
    return _kinds


def kind_named(name: str) -> BenchmarkKind:
    for kind in all_kinds():
        if kind.name == name:
            return kind
    raise PertoolError(f"unknown benchmark kind {name!r}; known: {', '.join(k.name for k in all_kinds())}")


def kind_of(sample: Sample) -> BenchmarkKind:
    """The kind that owns a sample; an unknown `benchmark` value is treated as PTBench-shaped
    (every other kind marks its samples with its own value)."""
    for kind in all_kinds():
        if sample.benchmark in kind.sample_benchmarks:
            return kind
    return kind_named("ptbench")


def gold_text(sample: Sample) -> str:
    """The gold answer of any sample in its benchmark's text format."""
    return kind_of(sample).gold_text(sample)


def check_settings(kind: BenchmarkKind, benchmark: str, *, tool_mode: str = "text",
                   chat_format: str | None = None) -> None:
    """Answer settings the kind cannot use are a PertoolError naming the benchmark: said before
    a model is asked anything or a file is written (eval, train export, prompt)."""
    if tool_mode not in kind.tool_modes:
        raise PertoolError(f"--tool-mode {tool_mode} does not apply to {benchmark} "
                           f"(answer modes: {', '.join(kind.tool_modes)})")  # fmt: skip
    if chat_format and not kind.chat_formats:
        raise PertoolError(f"--chat-format does not apply to {benchmark}: its prompts are sent as "
                           "chat messages")  # fmt: skip


def view_samples(samples: Sequence[Sample], view: str) -> list[Sample]:
    """`samples` as a profile view or ablation condition shows them (`--profile-view`, `pertool
    ablate`), through their kind; `all` shows everything. A view the kind does not have is a
    PertoolError naming the ones it has."""
    if view == "all" or not samples:
        return list(samples)
    kind = kind_of_samples(samples)
    try:
        return kind.ablation_samples(samples, view)
    except ValueError as exc:
        raise PertoolError(f"--profile-view {view} does not apply to {kind.name} samples ({exc})") from None


def kind_of_samples(samples: Iterable[Sample]) -> BenchmarkKind:
    """The one kind of a set of samples (PTBench for none); mixing kinds is refused."""
    kinds: dict[str, tuple[BenchmarkKind, str]] = {}
    for sample in samples:
        kind = kind_of(sample)
        kinds.setdefault(kind.name, (kind, sample.id))
    if len(kinds) > 1:
        shown = ", ".join(f"{name} ({sample_id}, ...)" for name, (_, sample_id) in kinds.items())
        raise PertoolError(f"samples of different benchmark kinds cannot be scored together: {shown}")
    if not kinds:
        return kind_named("ptbench")
    return next(iter(kinds.values()))[0]


def kind_for_spec(spec: str) -> BenchmarkKind:
    name, _, arg = spec.partition(":")
    if name == HF_SPEC:
        from pertool.hfdata.benchmark import export_info

        return kind_named(export_info(arg)["kind"])
    for kind in all_kinds():
        if name in kind.spec_names:
            return kind
    raise SpecError(f"unknown benchmark spec {spec!r}; use {spec_summary()}")


def spec_summary() -> str:
    forms = [h.spec for kind in all_kinds() for h in kind.specs] + [h.spec for h in GENERIC_SPECS]
    return ", ".join(forms[:-1]) + " or " + forms[-1]


def load_benchmark(spec: str, data_dir: str | Path | None = None) -> list[Sample]:
    """Samples of a benchmark spec (`pertool --help` lists the forms), loaded by the kind that
    owns its prefix."""
    name, _, arg = spec.partition(":")
    if name == HF_SPEC:  # the kind the export records; its files travel with it (no data_dir)
        return _load_hf(spec, arg)
    return kind_for_spec(spec).load(name, arg, data_dir)


def _load_hf(spec: str, path: str) -> list[Sample]:
    from pertool.hfdata.benchmark import INFO_FILE, load_hf_benchmark

    kind = kind_for_spec(spec)
    samples = load_hf_benchmark(path, lambda sample: kind_of(sample).location_keys)
    other = next((s for s in samples if kind_of(s) is not kind), None)
    if other is not None:
        raise DataError(f"{path}/{other.split}", f"sample {other.id} belongs to the {kind_of(other).name} "
                        f"kind, not {kind.name} as {INFO_FILE} records", field="benchmark")  # fmt: skip
    return samples


def export_source(spec: str) -> tuple[str, str]:
    """The source a dataset card names and its license note: the kind's note for the spec's form;
    an export of an export keeps the original's."""
    name, _, arg = spec.partition(":")
    if name == HF_SPEC:
        from pertool.hfdata.benchmark import export_info

        info = export_info(arg)
        return str(info.get("source", spec)), str(info.get("license", ""))
    return spec, kind_for_spec(spec).license_notes.get(name, "see the source's own terms")


def remote_dataset(name: str) -> tuple[RemoteDataset, Path]:
    """What `pertool data download NAME` fetches and where it goes."""
    for kind in all_kinds():
        if name in kind.download_names:
            return kind.remote(name)
    known = [n for kind in all_kinds() for n in kind.download_names]
    raise SpecError(f"no downloadable dataset {name!r}; known: {', '.join(known)}")


def download_names() -> list[str]:
    return [n for kind in all_kinds() for n in kind.download_names]

