"""The shape of app/: no import cycle between its packages, shared layers below the domains, and
small modules. See docs/architecture.md for the picture these rules keep true.

The graph is read from the source (every `import` and `from ... import`, also inside
functions), so a lazy import does not hide an edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

SHARED = frozenset(
    {
        "config",
        "db",
        "models",
        "errors",
        "web",
        "auth",
        "items",
        "embeddings",
        "text",
        "formats",
        "llm",
    }
)
"""Layers every domain may use; none of them may import a domain."""
COMPOSITION = frozenset({"main", "cli", "migrate", "health"})
"""Top-level modules that wire the app together: they may import anything."""

KNOWN_EXCEPTIONS: frozenset[str] = frozenset()
"""Modules allowed to break the layering. Empty: job kinds are registered by the composition
root (`app/job_handlers.py`, beside `main.py` and `cli/`), which no domain imports."""

MAX_LINES = 400
LONG_MODULES: frozenset[str] = frozenset()
"""Modules allowed over MAX_LINES. Empty."""


def package_of(path: Path) -> str:
    """`app/x/y.py` -> `x`; `app/x.py` -> `x`."""
    parts = path.relative_to(APP).with_suffix("").parts
    return parts[0]


def imported_packages(path: Path) -> set[str]:
    """The app packages (first name under `app`) that the module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "app":
                names = [f"app.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "app" and len(parts) > 1 and _is_module(parts[1]):
                found.add(parts[1])
    return found


def _is_module(name: str) -> bool:
    """A package or module under app/ (not a name defined in app/__init__.py)."""
    return (APP / name).is_dir() or (APP / f"{name}.py").is_file()


def modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(APP.parent).as_posix()


def package_graph(exceptions: Iterable[str] = KNOWN_EXCEPTIONS) -> dict[str, dict[str, str]]:
    """package -> {imported package: one module that imports it}."""
    skip = set(exceptions)
    graph: dict[str, dict[str, str]] = {}
    for path in modules():
        if relative(path) in skip:
            continue
        source = package_of(path)
        edges = graph.setdefault(source, {})
        for target in imported_packages(path) - {source}:
            edges.setdefault(target, relative(path))
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search with colours)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(f"{a} ({graph[a][b]})" for a, b in pairwise(cycle))


def test_shared_layers_import_no_domain() -> None:
    graph = package_graph()
    wrong = {
        f"{source} -> {target} ({where})"
        for source, edges in graph.items()
        if source in SHARED
        for target, where in edges.items()
        if target not in SHARED
    }
    assert not wrong, sorted(wrong)


def test_the_graph_check_sees_cycles_and_lazy_imports(tmp_path: Path) -> None:
    """The checks above can fail: a cycle is found, and an import inside a function counts."""
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    module = tmp_path / "m.py"
    module.write_text(
        "from app import __version__\n"
        "def f():\n    from app.examples import service\n    import app.pairs\n"
    )
    assert imported_packages(module) == {"examples", "pairs"}


def test_known_exceptions_still_exist() -> None:
    for name in KNOWN_EXCEPTIONS | LONG_MODULES:
        assert (APP.parent / name).exists(), f"{name} is gone: remove it from the exceptions"


def test_no_module_over_400_lines() -> None:
    long = {
        relative(path): count
        for path in modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and relative(path) not in LONG_MODULES
    }
    assert not long, long
