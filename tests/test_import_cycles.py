"""No import cycles inside camo: the graph of camo's own imports, read from the sources, has no loop.

Every ``import`` and ``from ... import`` anywhere in a module counts: at module level, inside functions (the lazy
imports that keep ``camo --help`` fast run as surely as the others, just later) and under ``if TYPE_CHECKING:``
(a type-only import still means the two modules know each other: records and the figures that draw them must not).
A literal ``importlib.import_module("camo.x")`` counts too; a computed name cannot be followed and is not used for
camo's own modules except by ``camo/__init__.py``'s lazy table, read below.

How a name is resolved to a node of the graph:

* ``import camo.a.b`` and ``from camo.a import b`` where ``b`` is a module: an edge to ``camo.a.b`` only. Python
  runs the parent packages' ``__init__`` first, but an edge to every parent would make each package that re-exports
  its submodules a "cycle" with them; packages are checked through their own imports instead.
* ``from camo.a import name`` where ``name`` is not a module: an edge to the module that defines ``name``, followed
  through the package's re-exports (``from camo.a.x import name`` in ``camo/a/__init__.py``, at its top level) and
  through ``camo``'s lazy table ``camo._LAZY`` (``from camo import fgsm`` leads to ``camo.attacks``, then on to
  ``camo.attacks.fgsm``). A name the package defines itself (``__version__``) is an edge to the package.
* The package ``camo`` is a node like any other, whose edges are its ``__init__``'s own imports, the
  ``TYPE_CHECKING`` block naming the lazy re-exports included: a module that imports the package itself
  (``import camo``, ``from camo import __version__``) depends on everything the package re-exports, so it must not
  be one of those modules (import ``camo.errors`` or the submodule you need instead).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import camo

SRC = Path(camo.__file__).resolve().parent.parent


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def module_names(root: Path = SRC / "camo") -> dict[str, Path]:
    """Every module and package of camo by dotted name (a package by its ``__init__.py``)."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom, modules: dict[str, Path]) -> str:
    if not node.level:
        return node.module or ""
    package = module if _is_package(module, modules) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _reexports(package: str, modules: dict[str, Path]) -> dict[str, str]:
    """Names a package's ``__init__`` binds by a top-level ``from M import name``: name -> M (absolute)."""
    tree = ast.parse(modules[package].read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = _absolute(package, node, modules)
            for alias in node.names:
                found[alias.asname or alias.name] = source
    if package == "camo":
        found.update(camo._LAZY)
    return found


def resolve(base: str, name: str, modules: dict[str, Path], seen: frozenset[str] = frozenset()) -> str:
    """The camo module ``from base import name`` depends on (see the module docstring)."""
    if f"{base}.{name}" in modules:
        return f"{base}.{name}"
    if base in modules and _is_package(base, modules) and base not in seen:
        source = _reexports(base, modules).get(name)
        if source is not None and source in modules:
            return resolve(source, name, modules, seen | {base}) if _is_package(source, modules) else source
    return base


def _containing_module(dotted: str, modules: dict[str, Path]) -> str | None:
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def imports_of(module: str, modules: dict[str, Path]) -> Iterator[Edge]:
    """Every camo-internal import of one module, wherever it is written."""
    tree = ast.parse(modules[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [t for alias in node.names if (t := _containing_module(alias.name, modules))]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node, modules)
            if base in modules:
                targets = [resolve(base, alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            target = _containing_module(node.args[0].value, modules)
            targets = [target] if target else []
        for target in targets:
            if target != module:
                yield Edge(module, target, getattr(node, "lineno", 0))


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, Edge]]:
    """``{module: {imported module: the first edge}}`` over these modules."""
    graph: dict[str, dict[str, Edge]] = {name: {} for name in modules}
    for name in modules:
        for edge in imports_of(name, modules):
            graph[name].setdefault(edge.target, edge)
    return graph


def cycles(graph: dict[str, dict[str, Edge]]) -> list[tuple[list[Edge], set[str]]]:
    """Each knot of modules that import one another (a strongly connected component of more than one module, found
    by Tarjan's algorithm): one shortest cycle through it and all its modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return [(_shortest_cycle(graph, component), component) for component in components]


def _shortest_cycle(graph: dict[str, dict[str, Edge]], component: set[str]) -> list[Edge]:
    start = min(component)
    paths: dict[str, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target, edge in sorted(graph[node].items()):
                if target == start:
                    return [*paths[node], edge]
                if target in component and target not in paths:
                    paths[target] = [*paths[node], edge]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in its own component")


def describe(cycle: list[Edge], component: set[str]) -> str:
    """``a (line 3) -> b (line 9) -> a``, each with the line of its import, and the rest of the knot if any."""
    text = " -> ".join(f"{e.source} (line {e.line})" for e in cycle) + f" -> {cycle[0].source}"
    rest = sorted(component - {e.source for e in cycle})
    return text + (f"; also in this knot: {', '.join(rest)}" if rest else "")


def test_camo_has_no_import_cycles() -> None:
    found = cycles(import_graph(module_names()))
    assert not found, "import cycles:\n" + "\n".join(describe(*c) for c in found)


def test_names_resolve_to_the_module_that_defines_them() -> None:
    modules = module_names()
    assert resolve("camo", "images", modules) == "camo.images"             # a submodule
    assert resolve("camo", "fgsm", modules) == "camo.attacks.fgsm"         # lazy table, then the re-export
    assert resolve("camo", "InputError", modules) == "camo.errors"         # a top-level re-export
    assert resolve("camo", "__version__", modules) == "camo"               # defined by the package itself
    assert resolve("camo.attacks.patch", "apply_patch", modules) == "camo.attacks.patch.geometry"
    edges = {edge.target for edge in imports_of("camo.cli", modules)}
    assert {"camo.commands.attack", "camo.commands.train", "camo.errors", "camo"} <= edges


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "camo"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from camo.sub.b import thing\n")
    (package / "a.py").write_text("def f():\n    from camo.sub import thing\n    return thing\n")
    (package / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import camo.a\n"
                                          "thing = 1\n\n\ndef g():\n    import camo.c\n")
    (package / "c.py").write_text("import camo.a\n")
    modules = module_names(package)
    graph = import_graph(modules)
    assert graph["camo.a"].keys() == {"camo.sub.b"}  # through the package's re-export, not to the package
    found = cycles(graph)
    assert [describe(*c) for c in found] == [
        "camo.a (line 2) -> camo.sub.b (line 3) -> camo.a; also in this knot: camo.c"]
    assert cycles({name: {} for name in modules}) == []
