"""The paper's experiment at small scale: does LoRA fine-tuning lift personalized tool invocation?

    python benchmarks/finetune_gain.py [--work DIR] [--base PATH] [--quick | --full] [--results FILE]

SmolLM2-135M-Instruct (the bundled real model) is evaluated zero-shot on a fixed, seeded,
stratified subset of the test split (`pertool eval --limit N --seed 0`), LoRA-trained on the
train split (`pertool train lora`), evaluated again with the adapter, and the two runs are
compared with the paired bootstrap (`pertool compare`). A few ToolSpectrum samples follow: the
model's window is too small for their prompts, so the script reports per sample what pertool
made of them (a `context_overflow`, another failure, or an answer), never a score.

Modes (each owns one marked section of --results, which it replaces and nothing else):

    default   builtin-mini on a CPU: 80 test samples, 192 training records (24 steps of 8),
              128 new tokens at most; within 60 minutes on 2 cores (the plan prints its estimate)
    --quick   a smoke run: 10 test samples, 5 steps; proves the pipeline, measures nothing
    --full    the full built-in benchmark with the paper's recipe (1,083 test samples, 7,096
              training records, 16 per step): GPU work

pertool runs as subprocesses (the CLI, exactly as printed); run directories, logs and the
adapter stay under --work. Every stage's wall time is printed and written to the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PERTOOL = [sys.executable, "-m", "pertool.cli.main"]
RESULTS = REPO / "docs" / "results.md"
BUNDLED_NAME = "smollm2-135m"  # resolved by pertool wherever a model path goes (hf/, --base)
PACKAGES = ("pertool", "torch", "transformers", "peft", "trl", "datasets", "accelerate")
METRICS = ("format", "platform", "query_param", "profile_param", "tool_name", "tool_param", "tool_value",
           "overall")  # fmt: skip
# Seconds on 2 quiet cores (docs NOTES): a LoRA step on 1,000 tokens ~5.5 s per sequence; a
# 1,000-token prompt plus up to 128 new tokens, batched by 8, ~10 s per sample (measured: 10
# samples in 548 s with about 0.4 of a core, i.e. ~100 s on 2 cores).
TRAIN_S_PER_SEQUENCE = 5.5
EVAL_S_PER_SAMPLE = 10.0
MODEL_LOAD_S = 15.0
TOOLSPECTRUM_S_PER_SAMPLE = 30.0  # a refused prompt costs its tokenizing; an answered one more


@dataclass
class Plan:
    mode: str
    test_spec: str
    train_spec: str
    test_limit: int | None  # None: the whole split
    train_limit: int | None
    max_steps: int | None
    max_tokens: int
    batch_size: int
    recipe: dict[str, Any] = field(default_factory=dict)  # overrides of the paper's recipe
    toolspectrum_samples: int = 3

    @property
    def sequences(self) -> int:
        per_step = self.recipe.get("per_device_train_batch_size", 2) * self.recipe.get(
            "gradient_accumulation_steps", 8)
        if self.max_steps is not None:
            return self.max_steps * per_step
        return self.train_limit or 7096

    def estimate_s(self, cores: int) -> float | None:
        if self.mode == "full":
            return None  # GPU work: no CPU estimate
        scale = (2 / max(1, min(cores, 16))) ** 0.7  # the figures are for 2 cores; threads help less than linearly
        tests = self.test_limit or 0
        return scale * (3 * MODEL_LOAD_S + 2 * tests * EVAL_S_PER_SAMPLE + self.sequences * TRAIN_S_PER_SEQUENCE
                        + self.toolspectrum_samples * TOOLSPECTRUM_S_PER_SAMPLE)  # fmt: skip


def make_plan(args: argparse.Namespace) -> Plan:
    # Small-scale recipe: the paper's (rank 8, alpha 16, all linear layers, cosine, warmup 0.1)
    # with 8 sequences per step and a higher rate, since 24 steps are all a CPU hour allows;
    # no gradient checkpointing (1,000-token sequences fit; it would cost a third more time).
    small = {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4, "learning_rate": 5e-4,
             "gradient_checkpointing": False, "logging_steps": 4, "save_steps": 8}  # fmt: skip
    if args.full:
        plan = Plan("full", "builtin", "builtin:train", None, None, None, 512, 16, {"logging_steps": 10})
    elif args.quick:
        plan = Plan("quick", "builtin-mini", "builtin-mini:train", 10, 10, 5, 48, 8,
                    {**small, "gradient_accumulation_steps": 1, "logging_steps": 1, "save_steps": 5},
                    toolspectrum_samples=2)  # fmt: skip
    else:
        plan = Plan("cpu", "builtin-mini", "builtin-mini:train", 80, 192, None, 128, 8, small)
    for name in ("test_limit", "train_limit", "max_steps", "max_tokens", "toolspectrum_samples"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    return plan


class Stages:
    """Runs pertool commands as subprocesses, logs each, times each. The times are kept in
    work/stage-times.json, so an experiment continued by a later call reports every stage's."""

    def __init__(self, work: Path, env: dict[str, str]):
        self.work, self.env = work, env
        self.times_file = work / "stage-times.json"
        self.times: dict[str, float] = json.loads(self.times_file.read_text()) if self.times_file.exists() else {}
        self.commands: dict[str, str] = {}
        (work / "logs").mkdir(parents=True, exist_ok=True)

    def done_earlier(self, name: str, args: list[str], where: Path) -> None:
        self.commands[name] = "pertool " + shlex.join(args) + "   # done by an earlier call"
        print(f"\n== {name}: done by an earlier call ({where})")

    def run(self, name: str, args: list[str], timeout: float, check: bool = True) -> int:
        shown = "pertool " + shlex.join(args)
        self.commands[name] = shown
        print(f"\n== {name}: {shown}", flush=True)
        log = self.work / "logs" / f"{name}.log"
        start = time.perf_counter()
        with open(log, "w", encoding="utf-8") as out:
            try:
                code = subprocess.run([*PERTOOL, *args], stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                      cwd=self.work, timeout=timeout).returncode  # fmt: skip
            except subprocess.TimeoutExpired:
                code = 124
        self.times[name] = time.perf_counter() - start
        self.times_file.write_text(json.dumps(self.times, indent=2) + "\n", encoding="utf-8")
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-14:]
        print("\n".join("   " + line for line in tail))
        print(f"== {name}: exit {code}, {self.times[name]:.0f} s", flush=True)
        if check and code != 0:
            sys.exit(f"finetune_gain: {name} failed (exit {code}); see {log}")
        return code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke run: 10 test samples, 5 steps")
    mode.add_argument("--full", action="store_true", help="the full built-in benchmark (for a GPU)")
    ap.add_argument("--work", type=Path, help="directory for runs, logs and the adapter (default "
                    "runs/finetune-gain-<mode>-<time>); an interrupted experiment's continues where it stopped")
    ap.add_argument("--base", help="base model: a Transformers directory or a bundled name (default: "
                    f"{BUNDLED_NAME}, SmolLM2-135M-Instruct, prepared on first use)")
    ap.add_argument("--results", type=Path, default=RESULTS, help=f"markdown file to write (default {RESULTS})")
    ap.add_argument("--no-results", action="store_true", help="write no results file")
    ap.add_argument("--test-limit", type=int, help="test samples (stratified, seeded)")
    ap.add_argument("--train-limit", type=int, help="training records")
    ap.add_argument("--max-steps", type=int, help="optimizer steps")
    ap.add_argument("--max-tokens", type=int, help="new tokens per answer")
    ap.add_argument("--toolspectrum-samples", type=int, help="ToolSpectrum samples to try (0: none)")
    ap.add_argument("--data-dir", type=Path, help="ToolSpectrum data directory (default: the public data "
                    "where pertool finds it, else the built fixture, pertool.testing.toolspectrum)")
    ap.add_argument("--plan", action="store_true", help="print the plan and its estimated time, run nothing")
    args = ap.parse_args()

    plan = make_plan(args)
    cores = os.cpu_count() or 1
    base = args.base or BUNDLED_NAME
    if args.base is None and not args.plan:
        _prepare_bundled()  # once, before any stage is timed (about a minute the first time)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    work = (args.work or REPO / "runs" / f"finetune-gain-{plan.mode}-{stamp}").resolve()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"),
                                                                     os.environ.get("PYTHONPATH")]))}

    estimate = plan.estimate_s(cores)
    print(f"finetune_gain ({plan.mode}): base {base}")
    print(f"  test   {plan.test_spec}, {plan.test_limit or 'all'} samples (stratified, seed 0), "
          f"max {plan.max_tokens} new tokens, batch {plan.batch_size}; zero-shot, then with the adapter")
    print(f"  train  {plan.train_spec}, {plan.train_limit or 'all'} records"
          + (f", {plan.max_steps} steps" if plan.max_steps else "") + f" ({plan.sequences} sequences); "
          f"recipe overrides {plan.recipe or 'none'}")
    print(f"  ToolSpectrum: {plan.toolspectrum_samples} environment samples, per-sample outcome")
    print(f"  machine: {cores} cores; estimated time: "
          + (f"{estimate / 60:.0f} min" if estimate is not None else "no CPU estimate (GPU run)"))
    print(f"  work directory: {work}", flush=True)
    if args.plan:
        return 0

    work.mkdir(parents=True, exist_ok=True)
    stages = Stages(work, env)
    model = f"hf/{base}"
    common = ["--limit", str(plan.test_limit)] if plan.test_limit else []
    common += ["--benchmark", plan.test_spec, "--model", model, "--max-tokens", str(plan.max_tokens),
               "--batch-size", str(plan.batch_size), "--seed", "0", "--no-progress", "--no-cache"]
    _eval(stages, "zero-shot", common, work)
    recipe = work / "recipe.json"
    recipe.write_text(json.dumps(plan.recipe, indent=2) + "\n", encoding="utf-8")
    train = ["train", "lora", "--base", base, "--data", plan.train_spec, "--out", str(work / "adapter"),
             "--config", str(recipe)]  # fmt: skip
    train += ["--limit", str(plan.train_limit)] if plan.train_limit else []
    train += ["--max-steps", str(plan.max_steps)] if plan.max_steps else []
    if (work / "adapter" / "training.json").is_file():
        stages.done_earlier("train", train, work / "adapter" / "training.json")
    else:
        stages.run("train", train + (["--resume"] if (work / "adapter" / "checkpoints").is_dir() else []),
                   timeout=12 * 3600)
    _eval(stages, "lora", [*common, "--adapter", str(work / "adapter")], work)
    comparisons = {}
    for metric in METRICS:
        out = work / f"compare-{metric}.csv"
        stages.run(f"compare-{metric}", ["compare", str(work / "zero-shot"), str(work / "lora"), "--metric",
                                         metric, "--format", "csv", "--out", str(out)], timeout=600)  # fmt: skip
        comparisons[metric] = _paired_delta(out)
    stages.run("compare", ["compare", str(work / "zero-shot"), str(work / "lora"), "--format", "markdown",
                           "--out", str(work / "compare.md")], timeout=600)  # fmt: skip
    spectrum = _toolspectrum(stages, plan, model, args.data_dir, work)
    total = sum(stages.times.values())  # every stage's wall time, earlier calls' included

    runs = {name: json.loads((work / name / "metrics.json").read_text()) for name in ("zero-shot", "lora")}
    training = json.loads((work / "adapter" / "training.json").read_text())
    section = _section(plan, base, cores, estimate, total, stages, runs, comparisons, training, spectrum, work)
    print("\n" + section)
    if not args.no_results:
        _write_section(args.results, plan.mode, section)
        print(f"wrote the {plan.mode} section of {args.results}")
    return 0


def _eval(stages: Stages, name: str, options: list[str], work: Path, check: bool = True) -> int:
    """`pertool eval` into work/name; an interrupted run is resumed, a finished one kept."""
    out = work / name
    if (out / "metrics.json").is_file():
        stages.done_earlier(name, ["eval", *options, "--out", str(out)], out / "metrics.json")
        return 0
    if (out / "config.json").is_file():
        return stages.run(name, ["eval", "--resume", str(out), "--no-progress"], timeout=6 * 3600, check=check)
    return stages.run(name, ["eval", *options, "--out", str(out)], timeout=6 * 3600, check=check)


def _prepare_bundled() -> str:
    from pertool.models.bundled import resolve_hf_path

    return resolve_hf_path(BUNDLED_NAME, report=lambda line: print(line, flush=True))


def _paired_delta(csv_file: Path) -> tuple[str, str]:
    """LoRA minus zero-shot with its paired interval, and p, from `pertool compare --format csv`
    (which gives the other run minus the best one)."""
    import csv

    with open(csv_file, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    other = next((r for r in rows if r.get("diff_vs_best")), None)
    if other is None:
        return "-", "-"
    sign = 1.0 if other["run"] == "lora" else -1.0  # the best is the other run
    cells = [other.get(k) or "" for k in ("diff_vs_best", "diff_low", "diff_high", "p_value")]
    if not cells[0]:
        return "-", "-"
    diff = sign * float(cells[0])
    shown = f"{diff:+.3f}"
    if cells[1] and cells[2]:  # empty when every bootstrap replicate was undefined
        low, high = sorted((sign * float(cells[1]), sign * float(cells[2])))
        shown += f" [{low:+.3f}, {high:+.3f}]"
    star = " *" if other.get("significant") == "true" else ""
    return shown + star, f"{float(cells[3]):.4f}" if cells[3] else "-"


def _toolspectrum(stages: Stages, plan: Plan, model: str, data_dir: Path | None,
                  work: Path) -> list[dict[str, Any]]:  # fmt: skip
    """Per sample: prompt tokens (the model's template), and what pertool made of it."""
    if plan.toolspectrum_samples <= 0:
        return []
    data_dir = data_dir or _public_toolspectrum()
    if data_dir is None:  # the fixture's prompts are shorter (about 3,900 tokens): they fit
        from pertool.testing.toolspectrum import write_toolspectrum

        data_dir = work / "toolspectrum-fixture"
        if not data_dir.exists():
            write_toolspectrum(data_dir)
    print(f"   ToolSpectrum data: {data_dir}")
    spec = "toolspectrum:environment"
    out = work / "toolspectrum"
    options = ["--benchmark", spec, "--data-dir", str(data_dir), "--model", model, "--limit",
               str(plan.toolspectrum_samples), "--max-tokens", "16", "--batch-size", "1", "--no-progress",
               "--no-cache", "--resamples", "0"]  # fmt: skip
    code = _eval(stages, "toolspectrum", options, work, check=False)
    # Every drawn sample has a line in predictions.jsonl (answered) or errors.jsonl (a failure,
    # `kind` naming its category, e.g. context_overflow with the token counts).
    answered = {_id(r): r for r in _jsonl(out / "predictions.jsonl")}
    errors = {_id(r): r for r in _jsonl(out / "errors.jsonl")}
    ids = sorted(set(answered) | set(errors))
    tokens = _prompt_tokens(_prepare_bundled() if model == f"hf/{BUNDLED_NAME}" else model[3:], spec, data_dir,
                            ids)  # fmt: skip
    rows = []
    for sid in ids:
        error = errors.get(sid)
        if error is not None:
            outcome = str(error.get("kind") or "failed")
            detail = str(error.get("error") or "")[:160]
            count = error.get("prompt_tokens") or tokens.get(sid)
        else:
            outcome, count = "answered", answered[sid].get("input_tokens") or tokens.get(sid)
            detail = str(answered[sid].get("output") or "")[:80]
        rows.append({"id": sid, "tokens": count, "outcome": outcome, "detail": detail})
    if not rows:
        rows.append({"id": "-", "tokens": None, "outcome": f"eval exit {code}", "detail": "no samples recorded"})
    return rows


def _public_toolspectrum() -> Path | None:
    """The public data (about 14,200-token prompts): the copy `pertool data download` fetched,
    $PERTOOL_DATA_DIR's, or the shared one beside a worktree."""
    from pertool.benchmarks.registry import toolspectrum_dir

    env = os.environ.get("PERTOOL_DATA_DIR")
    for root in (toolspectrum_dir(), Path(env) / "toolspectrum" if env else None, Path(env) if env else None,
                 REPO.parent / "shared" / "data" / "toolspectrum", REPO / "shared" / "data" / "toolspectrum"):
        if root is not None and (root / "data" / "dataset_environment.json").is_file():
            return root
    return None


def _prompt_tokens(base: str, spec: str, data_dir: Path, ids: list[str]) -> dict[str, int]:
    """Prompt tokens of the samples under the model's own chat template (what hf/ sends)."""
    try:
        from transformers import AutoTokenizer

        from pertool.kinds import load_benchmark
        from pertool.runner.task import Task

        tokenizer = AutoTokenizer.from_pretrained(base)
        task = Task()
        wanted = set(ids)
        out = {}
        for sample in load_benchmark(spec, data_dir):
            if sample.id in wanted:
                messages = task.request(sample).messages
                text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                out[sample.id] = len(tokenizer(text)["input_ids"])
        return out
    except Exception as exc:  # a measurement for the table only: say so, never stop the report
        print(f"   (prompt tokens not measured: {exc})")
        return {}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _id(record: dict[str, Any]) -> str:
    return str(record.get("id", record.get("sample_id", "?")))


def _section(plan: Plan, base: str, cores: int, estimate: float | None, total: float, stages: Stages,
             runs: dict[str, Any], comparisons: dict[str, tuple[str, str]], training: dict[str, Any],
             spectrum: list[dict[str, Any]], work: Path) -> str:  # fmt: skip
    title = {"cpu": "CPU default: builtin-mini, SmolLM2-135M-Instruct, zero-shot vs. LoRA",
             "quick": "Smoke run (--quick): 10 samples, 5 steps; proves the pipeline, measures nothing",
             "full": "Full built-in benchmark (--full), SmolLM2-135M-Instruct, zero-shot vs. LoRA"}[plan.mode]
    lines = [f"### {title}", ""]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {cores} cores" + _gpu()
    versions = ", ".join(f"{p} {_version(p)}" for p in PACKAGES)
    lines += [f"Run {when} on {machine}; Python {platform.python_version()}; {versions}.", ""]
    n = runs["zero-shot"]["counts"]["overall"]
    lines += [f"Test: `{plan.test_spec}`, {n} samples ({_counts(runs['zero-shot'])}; drawn by `--limit` with "
              f"seed 0, stratified by split). Training: `{plan.train_spec}`, {training.get('samples', '?')} "
              f"records, {training.get('steps', '?')} optimizer steps. 95% bootstrap intervals; Δ is LoRA "
              "minus zero-shot on the same samples with its 95% paired-bootstrap interval and p "
              "(* significant at 0.05).", ""]
    lines += ["| metric | zero-shot | LoRA | Δ (paired 95% CI) | p |", "|---|---:|---:|---:|---:|"]
    for metric in METRICS:
        cells = [_cell(runs[name], metric) for name in ("zero-shot", "lora")]
        delta, p = comparisons.get(metric, ("-", "-"))
        lines.append(f"| {metric} | {cells[0]} | {cells[1]} | {delta} | {p} |")
    losses = training.get("loss_history") or []
    if losses:
        lines += ["", f"Training loss {losses[0]['loss']:.3f} (step {losses[0].get('step', '?')}) -> "
                      f"{losses[-1]['loss']:.3f} (step {losses[-1].get('step', '?')})."]
    lines += ["", "| stage | wall time |", "|---|---:|"]
    for name in ("zero-shot", "train", "lora", "toolspectrum"):
        if name in stages.times:
            lines.append(f"| {name} | {_duration(stages.times[name])} |")
        elif name != "toolspectrum":
            lines.append(f"| {name} | (an earlier, interrupted call) |")
    compare_s = sum(t for k, t in stages.times.items() if k.startswith("compare"))
    lines.append(f"| compare (9 calls) | {_duration(compare_s)} |")
    lines.append(f"| **total** (the stages) | **{_duration(total)}**"
                 + (f" (planned {_duration(estimate)})" if estimate is not None else "") + " |")
    if spectrum:
        lines += ["", "ToolSpectrum (environment subset, the model's window is 8,192 tokens): per sample, "
                      "no score.", "", "| sample | prompt tokens | outcome | detail |", "|---|---:|---|---|"]
        for row in spectrum:
            detail = str(row["detail"]).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {row['id']} | {row['tokens'] if row['tokens'] is not None else ''} | "
                         f"{row['outcome']} | {detail} |")
    lines += ["", "Commands (run from the work directory; `pertool` is `python -m pertool.cli.main`):", "",
              "```"]
    lines += [stages.commands[k] for k in stages.commands if not k.startswith("compare-")]
    lines += [f"# recipe.json: {json.dumps(plan.recipe)}", "```", "",
              f"Reproduce: `python benchmarks/finetune_gain.py{_flag(plan.mode)}`."]
    del work
    return "\n".join(lines) + "\n"


def _cell(metrics: dict[str, Any], metric: str) -> str:
    value = metrics["splits"]["overall"].get(metric)
    interval = (metrics.get("intervals") or {}).get("overall", {}).get(metric)
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" ({interval[0]:.3f}-{interval[1]:.3f})" if interval else "")


def _counts(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in metrics["counts"].items() if k != "overall")


def _gpu() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f", GPU {torch.cuda.get_device_name(0)}"
        return f", no GPU (torch threads {torch.get_num_threads()})"
    except ImportError:
        return ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _flag(mode: str) -> str:
    return {"cpu": "", "quick": " --quick", "full": " --full"}[mode]


def _write_section(path: Path, mode: str, section: str) -> None:
    """Replace this mode's marked section of `path` (appended when absent); the rest stays."""
    begin, end = f"<!-- finetune_gain:{mode}:begin -->", f"<!-- finetune_gain:{mode}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{section}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
