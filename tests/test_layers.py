"""The layers of docs/architecture.md hold: every import in src/pertool (top-level, inside
functions, under TYPE_CHECKING, and modules named for `import_module`) goes down the layer table
that the docs write, the narrower rules below hold, and no two packages import each other.

A node is a package under src/pertool (`models`, `kinds`, ...), a top-level module (`schema`,
`errors`, ...) or `pertool` itself (the package root: the public API)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "pertool"
DOCS = ROOT / "docs" / "architecture.md"

# Narrower rules than "down the table" (docs/architecture.md lists them under the table).
ONLY = {
    "builtin": {"schema", "errors"},  # the generator: the data model and errors, nothing else
    "learners": {"schema", "values"},
}
MODELS_FOR_KINDS = {"pertool.models.wire"}  # a kind reads a native answer's tool-call arguments
NEVER_IN_LIBRARY = ("pertool.testing", "tests", "support", "conftest")

Edge = tuple[str, str, str]  # (target node, importing module, imported module)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def node_of(module: str) -> str | None:
    """The graph node of a dotted module name (None outside pertool)."""
    parts = module.split(".")
    if parts[0] != "pertool":
        return None
    if len(parts) == 1:
        return "pertool"
    if (SRC / parts[1]).is_dir() or (SRC / f"{parts[1]}.py").is_file():
        return parts[1]
    return "pertool"  # a name defined in the package root (`from pertool import __version__`)


def imported_modules(source: str, module: str, is_package: bool) -> list[str]:
    """Every module a source imports: import statements anywhere (functions, TYPE_CHECKING
    blocks, try/except) and string constants that name a pertool module (lazy `import_module`
    registries)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:  # `from pertool import models` imports pertool.models
                out.append(f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_module(node.value):
            out.append(node.value)
    return out


@cache
def _is_module(name: str) -> bool:
    if not re.fullmatch(r"pertool(\.\w+)+", name):
        return False
    path = SRC.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@cache
def import_graph() -> dict[str, list[Edge]]:
    """Node -> its edges to other nodes (each with the importing and the imported module); read
    once per test session."""
    graph: dict[str, list[Edge]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module = module_name(path)
        source_node = node_of(module)
        assert source_node is not None
        graph.setdefault(source_node, [])
        for target in imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            target_node = node_of(target)
            if target_node is not None and target_node != source_node:
                graph[source_node].append((target_node, module, target))
            elif target_node is None and target.split(".")[0] in NEVER_IN_LIBRARY:
                graph[source_node].append((target, module, target))
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(set(graph.get(node, ()))):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


@cache
def documented_layers() -> dict[str, int]:
    """Node -> layer number, from the table under "## Layers" in docs/architecture.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for name in re.findall(r"`([\w.]+)/?`", cells[1]):
                layers[name.removesuffix(".py")] = int(cells[0])
    return layers


def _where(edges: Iterable[Edge], target: str) -> str:
    return "; ".join(sorted({f"{m} imports {t}" for n, m, t in edges if n == target}))


def test_every_import_goes_down_the_documented_layers():
    graph = import_graph()
    layers = documented_layers()
    assert set(graph) <= set(layers), f"not in the layer table of docs/architecture.md: {set(graph) - set(layers)}"
    wrong = []
    for node, edges in graph.items():
        for target in sorted({n for n, _, _ in edges}):
            if target not in layers:
                wrong.append(f"{node} -> {target} (a library module importing test code): {_where(edges, target)}")
            elif layers[target] > layers[node] or (layers[target] == layers[node] and layers[node] > 0):
                wrong.append(f"{node} (layer {layers[node]}) -> {target} (layer {layers[target]}): "
                             f"{_where(edges, target)}")  # fmt: skip
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_narrower_rules():
    graph = import_graph()
    wrong = []
    for node, allowed in ONLY.items():
        for target in sorted({n for n, _, _ in graph[node]} - allowed):
            wrong.append(f"{node} may import only {sorted(allowed)}, not {target}: {_where(graph[node], target)}")
    foundation = {n for n, layer in documented_layers().items() if layer == 0}
    for target in sorted({n for n, _, _ in graph["models"]} - foundation):
        wrong.append(f"models (backends) import only the foundation, not {target}: {_where(graph['models'], target)}")
    for _, module, imported in graph["kinds"]:
        if node_of(imported) == "models" and imported not in MODELS_FOR_KINDS:
            wrong.append(f"kinds use models only through {sorted(MODELS_FOR_KINDS)}: {module} imports {imported}")
    for node, edges in graph.items():
        for _, module, imported in edges:
            if node != "testing" and imported.startswith(NEVER_IN_LIBRARY):
                wrong.append(f"library module {module} imports test code {imported}")
            if imported == "pertool" or (node_of(imported) == "pertool" and node != "pertool"):
                wrong.append(f"{module} imports the package root (the public API); import the module instead")
    assert not wrong, "\n".join(wrong)


def test_no_cycles_between_packages():
    graph = import_graph()
    cycle = find_cycle({node: [n for n, _, _ in edges] for node, edges in graph.items()})
    if cycle is not None:
        steps = [f"{a} -> {b} ({_where(graph[a], b)})" for a, b in zip(cycle, cycle[1:])]
        raise AssertionError("package cycle " + " -> ".join(cycle) + ":\n" + "\n".join(steps))


def test_the_walker_sees_every_kind_of_import():
    """The checks above can fail: hidden imports are found and a cycle is reported as a path."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pertool.runner.run import EvalConfig\n"
        "def f():\n    import pertool.report.html\n    from pertool import kinds\n"
        "from .base import Completion\n"
        "PLUGINS = ('pertool.answerers.oracle', 'pertool.nothing_here')\n"
    )
    found = imported_modules(source, "pertool.models.x", is_package=False)
    assert {"pertool.runner.run", "pertool.report.html", "pertool.kinds", "pertool.models.base",
            "pertool.answerers.oracle"} <= set(found)  # fmt: skip
    assert "pertool.nothing_here" not in found
    assert {node_of(m) for m in found} >= {"runner", "report", "kinds", "models", "answerers"}
    assert node_of("pertool.__version__") == "pertool"
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "d": ["a"]}) is None
    assert documented_layers()["schema"] == 0 and documented_layers()["cli"] > documented_layers()["runner"]
