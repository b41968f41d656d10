"""No import cycles among vitsdk's modules: the AST of every module under sdk/vitsdk and converters/ (imports at
module level and inside functions alike; an import inside a function hides a cycle, it does not remove it),
one graph, and a failure that names each cycle as `a -> b -> a`.

`if TYPE_CHECKING:` blocks are left out: they never run. Importing `pkg.mod` counts as an edge to `pkg.mod`
only, not to `pkg`'s `__init__` (Python runs it first, but a package whose `__init__` imports its own
modules would otherwise be a cycle with each of them).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"vitsdk": ROOT / "sdk" / "vitsdk", "vitsdk.converters": ROOT / "converters"}

# Edges (importer, imported) that close a cycle in another helper's area, allowed until their owner removes
# them; the lead empties this list when issue 12 is done. An entry that no longer exists fails the test.
KNOWN: dict[tuple[str, str], str] = {
}


def module_files() -> dict[str, Path]:
    modules = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if "__pycache__" in parts or any(not p.isidentifier() for p in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, at any depth, outside `if TYPE_CHECKING:` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The vitsdk modules `name` (the module in `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:  # `import vitsdk.x.y.Z`-style names: the longest module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_path_within(graph, component) for component in components]


def _path_within(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """The shortest cycle through the component's first module (breadth-first inside the component)."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
                if w not in parents:
                    parents[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def without_known(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {v: {w for w in targets if (v, w) not in KNOWN} for v, targets in graph.items()}


def test_the_walker_sees_the_package():
    graph = import_graph()
    assert "vitsdk.sparsity.artifact" in graph and "vitsdk.converters.bundle" in graph
    assert "vitsdk.formats.sparsity" in graph["vitsdk.sparsity.artifact"]
    assert "vitsdk.converters.targets" in graph["vitsdk.converters.bundle"]


def test_cycles_are_found_through_function_level_imports():
    """A cycle closed only inside a function body is still a cycle (checked on a made-up graph too)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = "import os\ndef f():\n    from vitsdk.b import x\nif TYPE_CHECKING:\n    import vitsdk.c\n"
    found = {alias.name if isinstance(node, ast.Import) else node.module
             for node in _imports(ast.parse(source)) for alias in node.names}
    assert found == {"os", "vitsdk.b"}


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(without_known(graph))
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_known_cycle_edges_still_exist():
    """The temporary list only shrinks: an edge its owner removed must leave the list too."""
    graph = import_graph()
    stale = [f"{a} -> {b} ({owner})" for (a, b), owner in KNOWN.items() if b not in graph.get(a, set())]
    assert not stale, "remove from KNOWN in tests/test_import_cycles.py: " + "; ".join(stale)


# Layers that must not reach up: (importer prefix, forbidden prefixes). The library reports progress through
# callbacks and never imports the CLI; models know nothing of pruning, training or resolving a spec.
FORBIDDEN = [
    ("vitsdk.", ("vitsdk.cli",)),
    ("vitsdk.models", ("vitsdk.sparsity", "vitsdk.training", "vitsdk.resolve")),
]
ENTRY_POINTS = {"vitsdk.__main__"}


def _within(name: str, prefix: str) -> bool:
    return name == prefix.rstrip(".") or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


def test_lower_layers_never_import_higher_ones():
    """E.g. a library module that imports vitsdk.cli drags Typer and rich into every import and can never be used
    without a terminal; models importing sparsity is the models <-> sparsity cycle waiting to come back."""
    graph = import_graph()
    offenders = sorted(f"{v} -> {w}" for low, high in FORBIDDEN for v, targets in graph.items()
                       if _within(v, low) and v not in ENTRY_POINTS and not any(_within(v, h) for h in high)
                       for w in targets if (v, w) not in KNOWN and any(_within(w, h) for h in high))
    assert not offenders, "imports that reach up a layer: " + "; ".join(offenders)
