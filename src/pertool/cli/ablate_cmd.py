"""`pertool ablate`: the paper's profile ablation (section 5.3) as run directories, a table and
a chart."""

from __future__ import annotations

import argparse

HELP = ("run the profile ablation (all, no-basic, no-history, none; ToolSpectrum: both, persona-only, "
        "environment-only) and write its table and chart")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ablate", help=HELP, description=HELP + ". Each condition is a run directory "
                            "under --out (cached and resumable: run the same command again to finish it); "
                            "the table goes to the terminal, ablation.md and ablation.csv, the chart to "
                            "ablation.svg.")  # fmt: skip
    p.add_argument("--benchmark", help="benchmark spec (default: builtin, the built-in test split)")
    p.add_argument("--data-dir", metavar="DIR", help="ToolSpectrum data directory (data/, api/, prompts/)")
    p.add_argument("--model", help="model spec (default: baseline/history), as for `pertool eval`")
    p.add_argument("--out", metavar="DIR", help="output directory (default: runs/<time>-ablate-<model>)")
    p.add_argument("--conditions", metavar="LIST",
                   help="comma-separated subset of the conditions (default: all of them)")
    p.add_argument("--limit", type=int, help="only the first N samples")
    p.add_argument("--max-concurrency", type=int, help="requests in flight at once (default 8)")
    p.add_argument("--base-url", help="server URL for openai-compatible/ (e.g. http://127.0.0.1:8000/v1)")
    p.add_argument("--api-key-env", metavar="VAR", help="NAME of the environment variable holding the key")
    p.add_argument("--adapter", metavar="PATH", help="LoRA adapter for hf/ and vllm/")
    p.add_argument("--vllm-args", help="extra flags for `vllm serve`, as one string")
    p.add_argument("--tool-mode", choices=["text", "native"], help="answer format (default text)")
    p.add_argument("--chat-format", help="send raw text in this chat format (qwen, llama3, ...)")
    p.add_argument("--temperature", type=float, help="default 0 (0.1 with --compat ptbench-official)")
    p.add_argument("--max-tokens", type=int, help="default 512 (128 with --compat ptbench-official)")
    p.add_argument("--compat", choices=["ptbench-official"], help="the public scripts' settings and scoring")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("--timeout", type=float, help="seconds per request (default 120)")
    p.add_argument("--max-attempts", type=int, help="attempts per request (default 6)")
    p.add_argument("--backoff-cap", type=float, help="longest wait between attempts, seconds (default 30)")
    p.add_argument("--batch-size", type=int, help="batch size of local backends (default 8)")
    p.add_argument("--train", metavar="SPEC", help="training benchmark of learned baselines (baseline/rules)")
    p.add_argument("--prices", metavar="FILE",
                   help='JSON {"input": USD per 1M tokens, "output": USD per 1M tokens} for the cost')
    p.add_argument("--resamples", type=int, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, help="bootstrap seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    from pathlib import Path

    from pertool.cli.eval_cmd import _config_from
    from pertool.report.ablation import format_terminal, run_ablation, write_outputs
    from pertool.runner.run import default_out_dir

    args.profile_view = None  # set per condition
    config = _config_from(args)
    out = Path(args.out) if args.out else default_out_dir(f"ablate-{config.model}")
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()] if args.conditions else None

    def started(condition: str, path: Path) -> None:
        if not args.no_progress:
            print(f"{condition}: {path}", file=sys.stderr)

    try:
        rows = asyncio.run(run_ablation(out, config, conditions=conditions,
                                        show_progress=not args.no_progress, on_start=started))  # fmt: skip
    except KeyboardInterrupt:
        print(f"\npertool: interrupted; finished samples are saved. Run the same command (--out {out}) "
              "to finish.", file=sys.stderr)  # fmt: skip
        return 130
    title = f"Profile ablation: {config.model} on {config.benchmark}"
    print(format_terminal(rows, title=f"{title} ({out}):"))
    files = write_outputs(out, rows, title=title)
    print(f"\nwrote {', '.join(str(f) for f in files)}")
    print("paired tests: pertool compare " + " ".join(str(r.path) for r in rows))
    failed = [r.condition for r in rows if (r.path / "errors.jsonl").exists()
              and (r.path / "errors.jsonl").read_text(encoding="utf-8").strip()]  # fmt: skip
    if failed:
        print(f"pertool: warning: some samples failed in {', '.join(failed)}; run the same command again "
              "to retry them", file=sys.stderr)  # fmt: skip
    return 0
