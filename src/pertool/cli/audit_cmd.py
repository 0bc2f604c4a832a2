"""`pertool audit`: how far shallow rules over the context predict a benchmark's answers."""

from __future__ import annotations

import argparse
import json

from pertool.cli import DATA_DIR_HELP

HELP = "shortcut audit: how well single fields and shallow trees predict the gold parameters and app"
EXPLANATION = (
    "Cross-validated accuracy of rules learned on the other folds (folds hold out each persona/"
    "environment whole): 'field' maps one context field's value to the majority gold value, "
    "'tree' is a depth<=3 tree over the fields, 'majority' always answers the most frequent "
    "value. High numbers mean a model can pass that parameter by copying a field, without "
    "reasoning; with small n, the best of many fields is optimistic."
)


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("audit", help=HELP, description=HELP + ". " + EXPLANATION)
    p.add_argument("--benchmark", required=True,
                   help="benchmark spec, e.g. toolspectrum:environment, toolspectrum:persona, ptbench")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pertool.audit import audit
    from pertool.cli.checks import check_range, check_run_options
    from pertool.kinds import load_benchmark

    check_range("--folds", args.folds, low=2, high=1000)
    check_run_options(args)  # --seed
    samples = load_benchmark(args.benchmark, args.data_dir)
    report = audit(samples, folds=args.folds, seed=args.seed)
    if args.json:
        print(json.dumps({**report.to_json(), "benchmark": args.benchmark, "explanation": EXPLANATION},
                         indent=2, ensure_ascii=False))  # fmt: skip
        return 0
    print(format_audit(report, args.benchmark))
    return 0


def format_audit(report, benchmark: str) -> str:  # type: ignore[no-untyped-def]
    header = ("param", "class", "best field", "field acc", "tree acc", "majority", "n")
    targets = [(t.param or "", t) for t in report.params]
    if report.app is not None:
        targets.append(("APP (app choice)", report.app))
    rows = [
        (name, t.cls, t.best_field or "(none: majority)", f"{t.field_accuracy:.3f}", f"{t.tree_accuracy:.3f}",
         f"{t.majority_accuracy:.3f}", str(t.n))
        for name, t in targets
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {3, 4, 5, 6}

    def line(cells: tuple[str, ...]) -> str:
        padded = (c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "  ".join(padded)

    out = [f"Shortcut audit of {benchmark}: {report.samples} samples with a non-null gold, "
           f"{report.folds}-fold cross-validation (seed {report.seed}).", EXPLANATION, "",
           line(header), line(tuple("-" * w for w in widths))]  # fmt: skip
    out.extend(line(r) for r in rows)
    if not report.params:
        out.append("(no personalized or environmental parameters in the gold)")
    return "\n".join(out)
