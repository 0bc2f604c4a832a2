"""`pertool models`: real models that come with a Python package, by name (models/bundled.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "bundled real models: list them, prepare one for hf/ (a Transformers checkpoint)"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("models", help=HELP, description=HELP + ". A bundled name works wherever a "
                            "model path does: hf/NAME, llamacpp/NAME, train lora --base NAME.")  # fmt: skip
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    ls = sub.add_parser("list", help="the bundled models, their package, and whether they are prepared",
                        description="The bundled models: parameters, context window, license, the "
                        "package carrying the weights, and where the prepared checkpoint is "
                        "($PERTOOL_MODELS_DIR, else models/ in the cache directory).")  # fmt: skip
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    ls.set_defaults(run=run_list)
    pr = sub.add_parser("prepare", help="turn a bundled model into a Transformers checkpoint, once",
                        description="De-quantize a bundled model's GGUF file into a Transformers "
                        "checkpoint (safetensors, tokenizer, chat template), once: later calls return "
                        "at once. Offline; about a minute on a CPU.")  # fmt: skip
    pr.add_argument("name", help="a bundled model's name (see `pertool models list`)")
    pr.add_argument("--out", metavar="DIR", help="write the checkpoint here instead of the models "
                    "directory (a new or empty directory)")  # fmt: skip
    pr.set_defaults(run=run_prepare)
    p.set_defaults(run=lambda args: p.print_help())


def describe() -> list[dict[str, Any]]:
    """One entry per bundled model, as `models list --json` prints it."""
    from pertool.errors import MissingBundle
    from pertool.models.bundled import BUNDLED, gguf_path, is_prepared, prepared_dir

    entries = []
    for model in BUNDLED.values():
        try:
            gguf: str | None = str(gguf_path(model))
        except MissingBundle:
            gguf = None
        checkpoint = prepared_dir(model)
        entries.append({"name": model.name, "parameters": model.parameters,
                        "context_window": model.context_window, "license": model.license,
                        "package": model.package, "package_installed": gguf is not None,
                        "install": model.install, "source": model.source, "gguf": gguf,
                        "prepared": is_prepared(checkpoint), "checkpoint": str(checkpoint)})  # fmt: skip
    return entries


def run_list(args: argparse.Namespace) -> int:
    entries = describe()
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    header = ("NAME", "PARAMETERS", "CONTEXT", "LICENSE", "PACKAGE", "PREPARED", "CHECKPOINT")
    rows = [(e["name"], e["parameters"], str(e["context_window"]), e["license"],
             e["package"] + ("" if e["package_installed"] else " (not installed)"),
             "yes" if e["prepared"] else "no", e["checkpoint"]) for e in entries]  # fmt: skip
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for entry in entries:
        if not entry["package_installed"]:
            print(f"{entry['name']}: install its package with: {entry['install']}")
    if any(not e["prepared"] for e in entries):
        print("prepare one with `pertool models prepare NAME` (once, about a minute), or just use it: "
              "hf/NAME prepares it on first use")  # fmt: skip
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    import time

    from pertool.errors import PertoolError
    from pertool.models.bundled import BUNDLED, find, prepare, prepared_dir, prepared_name
    from pertool.outpaths import check_out_dir

    model = find(args.name)
    if model is None:
        raise PertoolError(f"unknown bundled model {args.name!r}; known: {', '.join(BUNDLED)}")
    if args.out is not None:
        check_out_dir(Path(args.out), "model")  # a user's directory is refused before anything else
    target = Path(args.out) if args.out is not None else prepared_dir(model)
    if prepared_name(target) == model.name:
        print(f"{model.name} is already prepared at {target}")
        return 0
    started = time.perf_counter()
    out = Path(args.out) if args.out is not None else None
    path = prepare(model, out, report=lambda line: print(line, file=sys.stderr, flush=True))
    use = f"hf/{model.name}" if args.out is None else f"hf/{path}"
    print(f"prepared {model.name} in {time.perf_counter() - started:.1f} s at {path}; use it as {use}")
    return 0
