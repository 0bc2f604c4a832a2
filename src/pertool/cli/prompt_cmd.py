"""`pertool prompt`: show the prompt a model gets for one sample."""

from __future__ import annotations

import argparse
import json

from pertool.cli import DATA_DIR_HELP

HELP = "print the prompt of one sample (chat messages, or raw text in a chat format)"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("prompt", help=HELP, description=HELP)
    p.add_argument("--benchmark", default="example", help="benchmark spec (default: example)")
    p.add_argument("--id", required=True, help="sample id, e.g. trained:0")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument("--chat-format", help="qwen, llama3, mistral, deepseek-r1, hammer or xlam; "
                   "default: the chat messages as JSON")
    p.add_argument("--profile-view", default="all", metavar="VIEW",
                   help="what the model sees of the user: all (default), no-basic, no-history, none; "
                   "ToolSpectrum: persona-only, environment-only; PEToolBench: no-history")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pertool.errors import PertoolError
    from pertool.kinds import check_settings, kind_of, load_benchmark, view_samples

    loaded = load_benchmark(args.benchmark, args.data_dir)
    samples = {s.id: s for s in view_samples(loaded, args.profile_view)}
    if args.id not in samples:
        raise PertoolError(f"no sample {args.id!r} in {args.benchmark} ({len(samples)} samples)")
    sample = samples[args.id]
    kind = kind_of(sample)
    check_settings(kind, args.benchmark, chat_format=args.chat_format)
    messages = kind.prompt(sample, "text").messages
    if len(messages) == 1 and not args.chat_format:  # one user message (ToolSpectrum): its text
        print(messages[0]["content"])
    elif args.chat_format:
        try:
            print(kind.raw_prompt(sample, args.chat_format))
        except ValueError as exc:
            raise PertoolError(str(exc)) from None
    else:
        print(json.dumps(list(messages), indent=2, ensure_ascii=False))
    return 0
