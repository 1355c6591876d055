"""The import structure of ``src/vipguard``, read with ``ast`` (nothing is imported): no import cycle between
modules, and no import from a lower layer to a higher one (issue #20).

Every ``import`` statement counts, wherever it is: at the top, inside a function (a lazy import is still a
dependency) and under ``if TYPE_CHECKING:`` (a type-only import is a dependency of the design, though not of the
running code; cycles are checked both ways below). Layers, lowest first; a module may import its own layer and
the layers below it:

1. infrastructure — ``infra`` (io, weights, plugins, registry, index)
2. ``faces``
3. evidence sources and what they feed — ``artifact``, ``lite.evidence``, ``lite.decision``, ``forge`` (the
   forgery methods only need faces; enrolment, a layer up, uses them)
4. the tiers' cores — the rest of ``lite`` (profile, head, enrol, guard, explain, background) and ``mllm``
5. apps — ``apps`` (scan, video, report), ``service``, ``cli``, ``api``, ``bench``, ``train`` (training apps,
   imported by nothing but the training commands), the package's public API (``vipguard/__init__.py``) and
   ``__main__``

A module's layer is that of the longest dotted prefix listed in LAYERS. A new module (or a moved one) must be given a layer here: :func:`test_every_module_has_a_layer` fails until it is.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "vipguard"

LAYERS: dict[str, int] = {
    "infra": 1,
    "faces": 2,
    "artifact": 3, "lite.evidence": 3, "lite.decision": 3, "forge": 3,
    "lite": 4, "mllm": 4,
    "apps": 5, "service": 5, "cli": 5, "api": 5, "bench": 5, "train": 5, "": 5, "__main__": 5,
}

# Known violations of the layering: none since #20 removed the three upward imports (the face analyzer building the
# artefact detector, the registry decoding VipProfile itself, evidence.compare typed against VipProfile) and the
# evidence <-> profile type-only cycle. Each entry would be (importer, imported module) or a set of modules; a new
# violation fails the test, and so does an entry here that no longer occurs (so that none comes back unnoticed).
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[ast.AST]:
    """The import nodes under an ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) block."""
    out: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                out.update(n for n in ast.walk(child) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return out


def _resolve(name: str) -> str | None:
    """The vipguard module a dotted name refers to (the longest prefix that is a module), or None."""
    files = modules()
    while name and name not in files:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> dict[str, bool]:
    """``{imported vipguard module: type-only?}`` for every import statement of ``module``. ``from X import y``
    is an import of ``X.y`` when that is a module, else of ``X``."""
    path = modules()[module]
    tree = ast.parse(path.read_text(), str(path))
    type_only = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "vipguard":
                continue
            target = _resolve(name)
            if target is not None and target != module:
                out[target] = out.get(target, True) and node in type_only
    return out


@cache
def graph(with_type_only: bool = True) -> dict[str, frozenset[str]]:
    return {m: frozenset(t for t, only_types in imports_of(m).items() if with_type_only or not only_types)
            for m in modules()}


def layer_of(module: str) -> int | None:
    parts = module.split(".")[1:]
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return LAYERS[".".join(parts[:n])]
    return LAYERS.get("") if not parts else None


def cycles(g: dict[str, frozenset[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan), i.e. every import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def upward_imports() -> set[tuple[str, str]]:
    return {(m, t) for m, targets in graph().items() for t in targets
            if layer_of(m) is not None and layer_of(t) is not None and layer_of(t) > layer_of(m)}


# ----------------------------------------------------------------------------------------------------- tests


def test_the_parser_sees_the_imports_it_must():
    """The graph is read correctly: relative, absolute, lazy and type-only imports all appear (so an empty
    graph cannot pass the checks below)."""
    g = graph()
    assert "vipguard.faces.analyzer" in modules() and "vipguard.forge" in modules() and len(modules()) > 50
    assert "vipguard.lite.decision" in g["vipguard.lite.evidence"]  # from .decision import FEATURES
    assert "vipguard.forge.swap" in g["vipguard.forge"]  # from . import swap, ... (a submodule by name)
    assert "vipguard.faces.align" in g["vipguard.artifact.crop"]  # from ..faces.align import ...
    assert "vipguard.apps.scan" in g["vipguard.cli.scan_cmd"]  # a lazy import inside a function
    assert "vipguard.artifact.detector" in g["vipguard.lite.evidence"]  # under TYPE_CHECKING
    assert "vipguard.artifact.detector" not in graph(with_type_only=False)["vipguard.lite.evidence"]
    assert cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}) \
        == {frozenset("abc")}


def test_every_module_has_a_layer():
    missing = sorted(m for m in modules() if layer_of(m) is None)
    assert not missing, f"give these modules a layer in tests/test_layers.py LAYERS: {missing}"


def test_no_import_cycle_at_run_time():
    assert cycles(graph(with_type_only=False)) == set()


def test_no_import_cycle_but_the_known_type_only_one():
    found = cycles(graph())
    assert found - KNOWN_CYCLES == set(), f"new import cycle(s): {[sorted(c) for c in found - KNOWN_CYCLES]}"
    fixed = [sorted(c) for c in KNOWN_CYCLES - found]
    assert not fixed, f"no longer a cycle, remove from KNOWN_CYCLES: {fixed}"


def test_no_import_from_a_lower_layer_to_a_higher_one():
    found = upward_imports()
    new = sorted(found - KNOWN_UPWARD)
    gone = sorted(KNOWN_UPWARD - found)
    assert not new, "imports from a lower layer to a higher one: " + ", ".join(
        f"{a} (layer {layer_of(a)}) -> {b} (layer {layer_of(b)})" for a, b in new)
    assert not gone, f"no longer imported, remove from KNOWN_UPWARD: {gone}"
