"""`pertool compare`: a leaderboard over runs of one benchmark, with paired bootstrap tests.

The module has three parts: the statistics (pure functions over arrays), loading runs, and the
output formats (terminal, markdown, LaTeX, CSV), each a function of a `Leaderboard`.

Runs are read from their run directories as the scorer left them (scores.jsonl: each sample's
count row; `report.scored_run`, which refuses a run whose benchmark changed since), so a
leaderboard can be rebuilt at any time without re-parsing. A row shows the metrics of all the
run's splits together (its overall column; a single split: that split) with their 95% bootstrap
intervals, in the columns of the kind's first metric table; every number comes from the stored
count rows through the kind's `metrics_from_counts`.

Paired test. Each sample's count row is placed in its split's block of a wider row (so the
kind's metrics over the splits, such as PTBench's sample-weighted mean of the splits, come out as
in `pertool eval`). On the samples both runs answered (ids in both predictions files; the test
keeps them, `PairedTest.ids`), each replicate draws one set of sample indices with replacement
(seeded) and applies it to both runs; the replicate's difference is metric(A) - metric(B) on
those rows. Samples the kind draws together (`cluster_key`: PEToolBench's entry, posed in all
three settings) are drawn as whole clusters instead, the same cluster weights for both runs, as
are a row's intervals, which then equal the ones `pertool eval` wrote (same seed and
resamples). The interval is the percentile interval at 1 - alpha; the two-sided p-value is twice
the share of replicates on the far side of 0 (a replicate at exactly 0 counts on both sides),
capped at 1; p >= alpha is marked "n.s." (not significant). Every run is tested against the
best run by the chosen metric; a reported difference is that run minus the best.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pertool.errors import PertoolError
from pertool.kinds import BenchmarkKind, kind_named
from pertool.report.csv_cells import csv_text
from pertool.scoring.bootstrap import bootstrap_samples, cluster_weights
from pertool.scoring.defaults import DEFAULT_RESAMPLES
from pertool.scoring.results import OVERALL, SampleResult, point_metrics

__all__ = [
    "PairedTest",
    "Leaderboard",
    "RunScores",
    "SampleTable",
    "build_leaderboard",
    "counts_table",
    "default_metric",
    "format_csv",
    "format_latex",
    "format_markdown",
    "format_terminal",
    "load_runs",
    "metric_columns",
    "metric_titles",
    "paired_bootstrap",
    "ptbench_table",
    "text_table",
    "toolspectrum_table",
]

MetricFn = Callable[[np.ndarray], dict[str, np.ndarray]]

# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


@dataclass
class SampleTable:
    """Per-sample count rows (one row per sample id) and the map from summed rows (any leading
    shape, last axis the columns) to metric arrays (NaN where undefined)."""

    ids: list[str]
    rows: np.ndarray
    metrics: MetricFn
    clusters: list[str] | None = None  # each sample's cluster key (None: each its own cluster)

    def clusters_for(self, ids: Sequence[str]) -> list[str] | None:
        if self.clusters is None:
            return None
        index = {sample_id: i for i, sample_id in enumerate(self.ids)}
        return [self.clusters[index[i]] for i in ids]

    def rows_for(self, ids: Sequence[str]) -> np.ndarray:
        index = {sample_id: i for i, sample_id in enumerate(self.ids)}
        return self.rows[[index[i] for i in ids]]

    def metric(self, name: str) -> Callable[[np.ndarray], np.ndarray]:
        """One metric of summed rows (NaN where this table does not define it)."""

        def one(totals: np.ndarray) -> np.ndarray:
            values = self.metrics(totals)
            return values[name] if name in values else np.full(totals.shape[:-1], np.nan)

        return one

    def value(self, metric: str, ids: Sequence[str] | None = None) -> float | None:
        rows = self.rows if ids is None else self.rows_for(ids)
        v = float(self.metrics(rows.sum(axis=0))[metric])
        return None if np.isnan(v) else v


def counts_table(kind: BenchmarkKind, ids: Sequence[str], splits: Sequence[str],
                 rows: Sequence[Sequence[float]], clusters: Sequence[str] | None = None,
                 ) -> SampleTable:  # fmt: skip
    """A table of per-sample count rows (sample `ids[i]` of split `splits[i]` has `rows[i]`, and
    is drawn with cluster `clusters[i]`): each row sits in its split's block, so summed rows
    hold each split's totals and the kind's `metrics_from_counts` gives the metrics over all
    the splits together."""
    names = list(dict.fromkeys(splits))
    width = len(rows[0]) if len(rows) else 0
    table = np.zeros((len(rows), width * len(names)), dtype=np.float64)
    for i, (split, row) in enumerate(zip(splits, rows)):
        base = width * names.index(split)
        table[i, base : base + width] = row

    def metrics(totals: np.ndarray) -> dict[str, np.ndarray]:
        stacked = totals.reshape(*totals.shape[:-1], len(names), width)
        return dict(kind.metrics_from_counts(stacked, names))

    return SampleTable(list(ids), table, metrics, None if clusters is None else list(clusters))


def ptbench_table(results: Sequence[SampleResult]) -> SampleTable:
    """The table of PTBench-shaped results (their count rows)."""
    return counts_table(kind_named("ptbench"), [r.sample_id for r in results], [r.split for r in results],
                        [r.count_row() for r in results])  # fmt: skip


def toolspectrum_table(samples: Sequence[Any], outputs: Mapping[str, str | None]) -> SampleTable:
    """The table of ToolSpectrum answers, scored here (`score_row`)."""
    from pertool.kinds.score import score

    report = score(samples, dict(outputs), resamples=0)
    scored = report.scored
    return counts_table(kind_named("toolspectrum"), [s.sample_id for s in scored], [s.split for s in scored],
                        [s.counts for s in scored])  # fmt: skip


@dataclass(frozen=True)
class PairedTest:
    """metric(A) - metric(B) on the shared samples, with its bootstrap interval and p-value."""

    metric: str
    shared: int
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    replicates: int  # replicates where the metric was defined for both runs
    alpha: float
    ids: tuple[str, ...] = ()  # the samples paired on (both runs answered them), when known
    clusters: int = 0  # the clusters drawn (== shared when every sample is its own)

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    metric: Callable[[np.ndarray], np.ndarray],
    *,
    metric_b: Callable[[np.ndarray], np.ndarray] | None = None,
    clusters: Sequence[str] | None = None,
    ids: Sequence[str] = (),
    name: str = "",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
    chunk: int = 256,
) -> PairedTest:
    """Paired percentile bootstrap of metric(A) - metric(B).

    `a` and `b` hold the two runs' count rows for the same samples in the same order; `metric`
    maps summed rows (shape [..., columns]) to metric values (`metric_b`, when given, does so for
    `b`, whose columns may then be laid out differently). Replicate r draws n indices with
    `default_rng(seed).integers(0, n, size=(resamples, n))[r]` (drawn in chunks, same stream)
    and sums the rows it drew, for both runs. `clusters` (each row's cluster key; `ids` the
    rows' sample ids, kept in the result): when a cluster holds several rows, replicates draw
    the clusters instead (`scoring.bootstrap.cluster_weights`, from the same seed), and every
    row of a cluster, in both runs, gets its cluster's weight, so the pairing holds.
    """
    fa, fb = metric, metric_b or metric
    if len(a) != len(b) or (metric_b is None and a.shape != b.shape):
        raise ValueError(f"paired rows differ in shape: {a.shape} vs {b.shape}")
    if clusters is not None and len(clusters) != len(a):
        raise ValueError(f"{len(clusters)} cluster keys for {len(a)} paired rows")
    n = len(a)
    order: dict[str, int] = {}
    member = np.array([order.setdefault(c, len(order)) for c in (clusters or ())], dtype=np.intp)
    drawn = len(order) if clusters is not None else n  # fewer than n: some clusters hold several rows
    empty = PairedTest(name, n, None, None, None, None, 0, alpha, tuple(ids), drawn)
    if n == 0:
        return empty
    point = float(fa(a.sum(axis=0)) - fb(b.sum(axis=0)))
    if np.isnan(point):
        return empty
    if resamples <= 0:
        return PairedTest(name, n, point, None, None, None, 0, alpha, tuple(ids), drawn)
    rng = np.random.default_rng(seed)
    parts = []
    for weights in (_cluster_rows(rng, member, drawn, resamples, chunk) if drawn < n
                    else _sample_rows(rng, n, resamples, chunk)):  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            parts.append(fa(weights @ a) - fb(weights @ b))
    diffs = np.concatenate(parts)
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        return PairedTest(name, n, point, None, None, None, 0, alpha, tuple(ids), drawn)
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    return PairedTest(name, n, point, float(low), float(high), p, int(diffs.size), alpha, tuple(ids), drawn)


def _sample_rows(rng: np.random.Generator, n: int, resamples: int, chunk: int) -> Iterator[np.ndarray]:
    """Row weights [replicates, n] of chunks of replicates, each n indices drawn with replacement."""
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(k, n))
        flat = (idx + (np.arange(k) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=k * n).reshape(k, n).astype(np.float64)


def _cluster_rows(rng: np.random.Generator, member: np.ndarray, clusters: int, resamples: int,
                  chunk: int) -> Iterator[np.ndarray]:  # fmt: skip
    """Row weights [replicates, rows]: each row weighs what its cluster (`member[row]`) drew."""
    for _, weights in cluster_weights(rng, clusters, resamples, chunk):
        yield weights[:, member]


# ---------------------------------------------------------------------------------------------
# Runs and the leaderboard
# ---------------------------------------------------------------------------------------------


@dataclass
class RunScores:
    """One run directory, re-scored."""

    path: Path
    name: str
    model: str
    benchmark: str
    kind: BenchmarkKind
    profile_view: str
    n: int
    column: str  # the split whose metrics the row shows ("overall", or the only subset)
    metrics: dict[str, float | None]
    intervals: dict[str, list[float] | None]
    answered: set[str]
    table: SampleTable
    no_answer: int = 0  # samples whose request failed: in no metric; `n` counts the others
    answered_line: str = ""  # "N of M samples answered; ..." with context overflows apart


@dataclass
class Leaderboard:
    benchmark: str
    kind: BenchmarkKind
    metric: str
    metrics: list[str]
    runs: list[RunScores]  # ranked, best first
    tests: list[PairedTest | None]  # each run against runs[0]; None for the best itself
    alpha: float
    resamples: int
    notes: list[str] = field(default_factory=list)


def metric_titles(kind: BenchmarkKind) -> dict[str, str]:
    return dict(kind.metric_titles)


def metric_columns(kind: BenchmarkKind, metrics: Sequence[Mapping[str, float | None]]) -> list[str]:
    """The columns of the kind's first metric table, without those undefined for every run (a
    level of another subset, a parameter class no sample has)."""
    return [k for k in kind.metric_tables[0] if any(m.get(k) is not None for m in metrics)]


def default_metric(kind: BenchmarkKind) -> str:
    return kind.headline


def load_runs(paths: Sequence[Path], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
              partial: bool = False) -> list[RunScores]:  # fmt: skip
    """Load each run directory as scored; refuses runs of different benchmarks or scoring modes.
    `partial`: runs still being written, scored on the samples answered so far (`pertool view`)."""
    from pertool.report.scored_run import load_scored_run
    from pertool.runner.run import load_config
    from pertool.runner.rundir import RunDir

    if not paths:
        raise PertoolError("no run directories given")
    configs = [load_config(RunDir.open(Path(p))) for p in paths]
    for name, what in (("benchmark", "benchmarks"), ("compat", "scoring modes (--compat)")):
        values = {str(getattr(c, name) or "default") for c in configs}
        if len(values) > 1:  # compat None is pertool's own rules: "default"
            listing = "; ".join(f"{p}: {getattr(c, name) or 'default'}" for p, c in zip(paths, configs))
            raise PertoolError(f"the runs are of different {what} and cannot be compared ({listing})")
    names = [Path(p).name or str(p) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    out = []
    for path, name in zip(paths, names):
        run = load_scored_run(Path(path), partial=partial)
        scored, kind, config = run.report.scored, run.kind, run.config
        rows_by_split: dict[str, list[tuple[float, ...]]] = {}
        for s in scored:
            rows_by_split.setdefault(s.split, []).append(s.counts)
        width = len(scored[0].counts) if scored else 0
        splits = list(rows_by_split)
        totals = np.stack([np.array(r, dtype=np.float64).reshape(len(r), width).sum(axis=0)
                           for r in rows_by_split.values()]) if scored else np.zeros((0, 0))  # fmt: skip
        metrics = point_metrics(totals, splits, kind.metrics_from_counts) if scored else {}
        cluster_of = {s.id: kind.cluster_key(s) for s in run.samples}
        clusters = [cluster_of[s.sample_id] for s in scored]
        intervals = bootstrap_samples([s.counts for s in scored], [s.split for s in scored], clusters,
                                      kind.metrics_from_counts, width=width, resamples=resamples,
                                      seed=seed).get(OVERALL, {})  # fmt: skip
        table = counts_table(kind, [s.sample_id for s in scored], [s.split for s in scored],
                             [s.counts for s in scored], clusters)  # fmt: skip
        ids = {s.id for s in run.samples}
        out.append(RunScores(
            path=Path(path), name=name, model=config.model, benchmark=config.benchmark, kind=kind,
            profile_view=config.profile_view, n=len(scored), column=OVERALL if len(splits) > 1 else
            next(iter(splits), OVERALL), metrics=metrics, intervals=intervals,
            answered={i for i in run.records if i in ids}, table=table, no_answer=len(run.report.no_answer),
            answered_line=run.report.answered_line(),
        ))  # fmt: skip
    return out


def build_leaderboard(
    runs: Sequence[RunScores],
    *,
    metric: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
) -> Leaderboard:
    """Rank the runs by `metric` (best first, undefined last) and test each against the best."""
    if not runs:
        raise PertoolError("no runs to compare")
    if not 0 < alpha < 1:
        raise PertoolError(f"--alpha must lie between 0 and 1, not {alpha}")
    kind = runs[0].kind
    columns = metric_columns(kind, [r.metrics for r in runs])
    metric = metric or default_metric(kind)
    if metric == OVERALL and metric not in columns:  # "overall": the kind's headline
        metric = kind.headline
    if metric not in columns:
        raise PertoolError(f"unknown metric {metric!r} for this benchmark; known: {', '.join(columns)}")
    sign = 1.0 if metric in kind.lower_better else -1.0  # best first: ascending where lower is better
    ranked = sorted(runs, key=lambda r: (r.metrics.get(metric) is None,
                                        sign * (r.metrics.get(metric) or 0.0)))
    best = ranked[0]
    tests: list[PairedTest | None] = [None]
    notes = [f"{r.name}: {r.answered_line}" for r in ranked if r.no_answer and r.answered_line]
    for other in ranked[1:]:
        shared = [i for i in best.table.ids if i in best.answered and i in other.answered]
        # Each run sums its own rows with its own metric function: their column layouts follow
        # their own sample sets (splits, subsets), which need not be the same.
        test = paired_bootstrap(other.table.rows_for(shared), best.table.rows_for(shared),
                                other.table.metric(metric), metric_b=best.table.metric(metric),
                                clusters=best.table.clusters_for(shared), ids=shared, name=metric,
                                resamples=resamples, seed=seed, alpha=alpha)  # fmt: skip
        tests.append(test)
        if len(shared) < min(best.n, other.n):
            notes.append(f"{other.name}: tested on the {len(shared)} samples both runs answered")
    return Leaderboard(runs[0].benchmark, kind, metric, columns, ranked, tests, alpha, resamples, notes)


# ---------------------------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------------------------


def text_table(rows: Sequence[Sequence[str]], *, left: int = 1, gap: int = 2) -> list[str]:
    """Plain aligned columns: the first `left` columns left-aligned, the others right-aligned."""
    widths = [max(len(r[c]) for r in rows if c < len(r)) for c in range(max(len(r) for r in rows))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[c]) if c < left else cell.rjust(widths[c]) for c, cell in enumerate(row)]
        lines.append((" " * gap).join(cells).rstrip())
    return lines


def _value(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _signed(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:+.{digits}f}"


def _interval(iv: Sequence[float] | None, digits: int = 2, sep: str = "-") -> str:
    return "" if not iv else f"{iv[0]:.{digits}f}{sep}{iv[1]:.{digits}f}"


def _p(test: PairedTest) -> str:
    if test.p_value is None:
        return "n/a"
    if test.p_value == 0:
        return f"<{1 / max(test.replicates, 1):.4f}"
    return f"{test.p_value:.4f}"


def _mark(test: PairedTest) -> str:
    if test.p_value is None:
        return ""
    return "significant" if test.significant else "n.s."


def _label(run: RunScores) -> str:
    return run.model if run.profile_view == "all" else f"{run.model} [{run.profile_view}]"


def format_terminal(board: Leaderboard) -> str:
    titles = metric_titles(board.kind)
    title = titles.get(board.metric, board.metric)
    count = f"{len(board.runs)} run{'s' if len(board.runs) != 1 else ''}"
    intervals = f"95% bootstrap intervals, {board.resamples} resamples" if board.resamples else "no intervals"
    lines = [f"{board.benchmark}: {count}, sorted by {title} ({intervals})"]
    rows = [["#", "run", "model", "n", *(titles.get(m, m) for m in board.metrics)]]
    for rank, run in enumerate(board.runs, start=1):
        values = [_value(run.metrics.get(m)) for m in board.metrics]
        rows.append([str(rank), run.name, _label(run), str(run.n), *values])
        if any(run.intervals.get(m) for m in board.metrics):
            rows.append(["", "", "  95% CI", "", *(_interval(run.intervals.get(m)) for m in board.metrics)])
    lines += text_table(rows, left=3)
    if len(board.runs) > 1:
        confidence = f"{100 * (1 - board.alpha):g}% CI"
        best = board.runs[0]
        lines += ["", f"Paired bootstrap against the best ({best.name}) on shared samples: {title}, "
                  f"alpha {board.alpha:g}, {board.resamples} resamples"]  # fmt: skip
        rows = [["run", "shared", f"{title} diff", confidence, "p", ""]]
        for run, test in zip(board.runs[1:], board.tests[1:]):
            assert test is not None
            rows.append([run.name, str(test.shared), _signed(test.difference),
                         _interval((test.low, test.high), 4, " to ") if test.low is not None
                         and test.high is not None else "",
                         _p(test), _mark(test)])  # fmt: skip
        lines += text_table(rows, left=1)
        lines.append("diff: the run minus the best; n.s.: not significant at alpha "
                     "(no evidence that the runs differ)")
    lines += [f"note: {n}" for n in board.notes]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _vs_best(test: PairedTest, digits: int) -> tuple[str, str]:
    """(difference, interval) of the run minus the best."""
    if test.difference is None:
        return "n/a", ""
    interval = ""
    if test.low is not None and test.high is not None:
        interval = f"[{test.low:+.{digits}f}, {test.high:+.{digits}f}]"
    return _signed(test.difference, digits), interval


def format_markdown(board: Leaderboard) -> str:
    titles = metric_titles(board.kind)
    title = titles.get(board.metric, board.metric)
    header = ["#", "Run", "Model", "n", *(titles.get(m, m) for m in board.metrics), f"Δ {title} vs best", "p"]
    lines = ["| " + " | ".join(_md(h) for h in header) + " |",
             "|" + "|".join(["---:", ":---", ":---", "---:"] + ["---:"] * (len(header) - 4)) + "|"]
    for rank, (run, test) in enumerate(zip(board.runs, board.tests), start=1):
        cells = [str(rank), _md(run.name), _md(_label(run)), str(run.n)]
        for m in board.metrics:
            iv = run.intervals.get(m)
            cells.append(_value(run.metrics.get(m), 3) + (f" ({_interval(iv, 3, '–')})" if iv else ""))
        if test is None:
            cells += ["best", ""]
        else:
            diff, interval = _vs_best(test, 3)
            mark = " ≈ (n.s.)" if _mark(test) == "n.s." else ""
            cells += [f"{diff} {interval}".strip() + mark, _p(test)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Sorted by {title}; 95% bootstrap intervals; Δ: the run minus the best on the samples "
              f"both answered, with its {100 * (1 - board.alpha):g}% paired-bootstrap interval and "
              f"two-sided p ({board.resamples} resamples); ≈ (n.s.): not significant at α = {board.alpha:g}."]
    lines += [f"Note: {_md(n)}" for n in board.notes]
    return "\n".join(lines)


# `|` typesets as a dash in LaTeX's default font encoding: \textbar{}.
_LATEX_SPECIAL = {"|": r"\textbar{}", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$",
                  "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}  # fmt: skip


def _tex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def format_latex(board: Leaderboard) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs})."""
    titles = metric_titles(board.kind)
    title = titles.get(board.metric, board.metric)
    spec = "rllr" + "c" * len(board.metrics) + "cc"
    header = [r"\#", "Run", "Model", "$n$", *(_tex(titles.get(m, m)) for m in board.metrics),
              rf"$\Delta$ {_tex(title)} vs best", "$p$"]  # fmt: skip
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    for rank, (run, test) in enumerate(zip(board.runs, board.tests), start=1):
        cells = [str(rank), _tex(run.name), _tex(_label(run)), str(run.n)]
        for m in board.metrics:
            iv = run.intervals.get(m)
            cell = _value(run.metrics.get(m), 3)
            cells.append(cell + (rf" {{\scriptsize [{_interval(iv, 2, ', ')}]}}" if iv else ""))
        if test is None:
            cells += ["--", ""]
        else:
            diff, interval = _vs_best(test, 3)
            cell = f"${diff}$" + (rf" {{\scriptsize {interval}}}" if interval else "")
            mark = r" $\approx$ (n.s.)" if _mark(test) == "n.s." else ""
            cells += [cell + mark, _p(test).replace("<", "$<$")]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}",
              f"% sorted by {_tex(title)}; paired bootstrap against the best, alpha {board.alpha:g}, "
              f"{board.resamples} resamples; n.s.: not significant"]  # fmt: skip
    return "\n".join(lines)


def format_csv(board: Leaderboard) -> str:
    """One row per run: metrics with interval bounds, then the paired test against the best
    (difference = this run minus the best, on the samples both answered). Names, paths and
    models are escaped against formula injection; numbers stay numbers (report/csv_cells.py)."""
    metric_cells = [c for m in board.metrics for c in (m, f"{m}_low", f"{m}_high")]
    rows: list[list[Any]] = [["rank", "run", "path", "model", "profile_view", "n", *metric_cells, "sorted_by",
                              "shared_n", "diff_vs_best", "diff_low", "diff_high", "p_value", "significant",
                              "no_answer"]]  # fmt: skip
    for rank, (run, test) in enumerate(zip(board.runs, board.tests), start=1):
        values: list[Any] = []
        for m in board.metrics:
            iv = run.intervals.get(m)
            values += [run.metrics.get(m), iv[0] if iv else None, iv[1] if iv else None]
        if test is None:
            tail: list[Any] = [None] * 6
        else:
            tail = [test.shared, test.difference, test.low, test.high, test.p_value,
                    None if test.p_value is None else test.significant]  # fmt: skip
        rows.append([rank, run.name, str(run.path), run.model, run.profile_view, run.n, *values,
                     board.metric, *tail, run.no_answer])  # fmt: skip
    return csv_text(rows)


FORMATS: dict[str, Callable[[Leaderboard], str]] = {
    "terminal": format_terminal, "markdown": format_markdown, "latex": format_latex, "csv": format_csv,
}  # fmt: skip
