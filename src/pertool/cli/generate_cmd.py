"""`pertool generate`: write the built-in benchmark (train + test) to a directory."""

from __future__ import annotations

import argparse

HELP = "generate the built-in benchmark (labels correct by construction) into a directory"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("generate", help=HELP, description=HELP + (
        ". Defaults follow PTBench's Table 1: 80 users (6 untrained), 7,096 train and 1,083 test "
        "queries (474 trained-user, 609 untrained-user). --preset builtin-mini: the compact setting "
        "(prompts of about 1,000 tokens at most; 20 users (4 untrained), 600 train, 100 + 100 test)."))
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--preset", choices=["builtin", "builtin-mini"], default="builtin",
                   help="prompt settings and default sizes (default builtin)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--users", type=int, help="number of users (default 80, at most 240)")
    p.add_argument("--untrained-users", type=int, help="users seen only in test (default 6)")
    p.add_argument("--train", type=int, help="train queries (default 7096)")
    p.add_argument("--test-trained", type=int, help="test queries of trained users (474)")
    p.add_argument("--test-untrained", type=int, help="test queries of untrained users (609)")
    p.add_argument("--format", choices=["pertool", "ptbench"], default="pertool",
                   help="pertool (compact; load with dataset:DIR) or ptbench (load with ptbench:DIR)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import time
    from pathlib import Path

    from pertool.benchmarks.builtin import BUILTINS, write_dataset
    from pertool.builtin.generate import generate
    from pertool.cli.checks import check_range
    from pertool.outpaths import check_out_dir

    for option in ("seed", "users", "untrained_users", "train", "test_trained", "test_untrained"):
        high = 2**63 - 1 if option == "seed" else 10**6  # GeneratorSettings.check refines users
        check_range("--" + option.replace("_", "-"), getattr(args, option), low=0, high=high)
    target = check_out_dir(Path(args.out), "dataset")  # a user's directory is refused up front
    given = {option: getattr(args, option) for option in ("seed", "users", "untrained_users", "train",
                                                          "test_trained", "test_untrained")}  # fmt: skip
    settings = dataclasses.replace(BUILTINS[args.preset], **{k: v for k, v in given.items() if v is not None})
    start = time.perf_counter()
    generated = generate(settings)
    files = write_dataset(generated, target.make(), args.format)
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(generated.rejected.items())) or "none"
    print(f"{len(generated.train)} train and {len(generated.test)} test samples in {args.out} "
          f"({len(files)} files, {time.perf_counter() - start:.1f} s); drafts rejected by rule: {rejected}")
    return 0
