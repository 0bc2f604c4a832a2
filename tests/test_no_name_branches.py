"""No code outside the kind modules branches on a benchmark's name (issue 13): everything that
differs between benchmarks goes through `pertool.kinds`. The modules that implement one kind
(src/pertool/kinds/, benchmarks/<name>*.py, parsing/<name>.py and scoring/<name>*.py) may name
it; every other module, the generic ones in benchmarks/ included, is searched for comparisons
with a name."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "pertool"
NAMES = ("ptbench", "toolspectrum", "petoolbench", "builtin")
_NAME = "(?:" + "|".join(NAMES) + ")"
_Q = "[\"']"
PATTERNS = [
    re.compile(rf"[!=]==?\s*{_Q}{_NAME}{_Q}", re.I),  # == "toolspectrum", != 'ptbench', === in JS
    re.compile(rf"{_Q}{_NAME}{_Q}\s*[!=]==?", re.I),  # "toolspectrum" == x
    re.compile(rf"\bin\s*[(\[{{]\s*{_Q}{_NAME}{_Q}", re.I),  # in ("ptbench", ...)
    re.compile(r"\.benchmark\s*[!=]=\s*[\"']"),  # sample.benchmark == "...", args.benchmark != "example"
    re.compile(r"\brun\.kind\s*[!=]==?\s*[\"']"),  # run.kind === "..." in the report's embedded JS
]
# Lines that name a benchmark without branching on a kind (src/pertool-relative path, the line
# stripped): `pertool dataset --format ptbench` picks an output file format, not a kind.
ALLOWED_LINES = {("benchmarks/dataset.py", 'if fmt == "ptbench":')}


def implements_one_kind(path: Path) -> bool:
    rel = path.relative_to(SRC).as_posix()
    if rel.startswith("kinds/"):
        return True
    stem = path.stem
    return (rel.startswith("parsing/") and stem in NAMES) or (
        rel.startswith(("scoring/", "benchmarks/")) and any(stem.startswith(n) for n in NAMES))


def name_branches() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if implements_one_kind(path):
            continue
        rel = path.relative_to(SRC).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if (rel, line.strip()) not in ALLOWED_LINES and any(p.search(line) for p in PATTERNS):
                found.append(f"{path.relative_to(SRC.parent.parent)}:{number}: {line.strip()}")
    return found


def test_no_module_outside_the_kinds_branches_on_a_benchmark_name():
    found = name_branches()
    assert not found, "branches on a benchmark name outside the kind modules:\n" + "\n".join(found)


def test_the_search_finds_the_forms_it_looks_for():
    lines = ['if sample.benchmark == "toolspectrum":', "x = kind != 'ptbench'", 'if args.benchmark != "example":', 'if name in ("ptbench", "x"):',
             'row(run.kind === "toolspectrum" ? 1 : 2)', 'ok = "PEToolBench" == name']  # fmt: skip
    assert all(any(p.search(line) for p in PATTERNS) for line in lines)
    assert not any(p.search('kind = kind_named("ptbench")') for p in PATTERNS)


def test_the_exemptions_are_narrow_and_current():
    """Generic modules in benchmarks/ are searched; each allowed line still exists as written."""
    assert not implements_one_kind(SRC / "benchmarks" / "dataset.py")
    assert not implements_one_kind(SRC / "benchmarks" / "registry.py")
    assert implements_one_kind(SRC / "benchmarks" / "petoolbench_prompts.py")
    for rel, line in ALLOWED_LINES:
        lines = {text.strip() for text in (SRC / rel).read_text(encoding="utf-8").splitlines()}
        assert line in lines, (rel, line)
