"""The shell evaluator's modules import one way (ARCHITECTURE.md, "The shell front end").

`evaluate.py` is the interpreter and the top of the package: it imports the builtins and the
expansions; they never import it at run time (the `Evaluator` they are handed reaches back, e.g.
`ev.param_expansion`). Their only reference upward is the type of that `ev` parameter, imported
under `if TYPE_CHECKING:`. Function-local imports count like module-level ones: a circle hidden
inside a function is still a circle for the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

SHELL = Path(__file__).resolve().parent.parent / "migrate" / "shell"
PACKAGE = "migrate.shell"
CORE = "evaluate"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, modules: set[str]) -> set[str]:
    """The package's modules an import statement names (absolute or relative)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif node.level == 1:
        names = [f"{PACKAGE}.{node.module}"] if node.module else [f"{PACKAGE}.{a.name}" for a in node.names]
    elif node.module == PACKAGE:
        names = [f"{PACKAGE}.{alias.name}" for alias in node.names]
    else:
        names = [node.module or ""]
    found = set()
    for name in names:
        if name.startswith(PACKAGE + "."):
            head = name[len(PACKAGE) + 1:].split(".")[0]
            if head in modules:
                found.add(head)
    return found


def imports_of(source: str, modules: set[str]) -> tuple[set[str], set[str]]:
    """(run-time imports, type-only imports) of one module, function-local imports included."""
    runtime: set[str] = set()
    typing_only: set[str] = set()

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            (typing_only if type_only else runtime).update(_targets(node, modules))
        for child in ast.iter_child_nodes(node):
            guarded = type_only or (isinstance(node, ast.If) and _is_type_checking(node.test)
                                    and child in node.body)
            visit(child, guarded)

    visit(ast.parse(source), False)
    return runtime, typing_only - runtime


def import_graph(sources: dict[str, str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = set(sources)
    runtime, typing_only = {}, {}
    for name, source in sources.items():
        runtime[name], typing_only[name] = imports_of(source, modules)
        runtime[name].discard(name)
    return runtime, typing_only


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := walk(start)):
            return found
    return None


def _shell_sources() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(SHELL.glob("*.py"))}


def test_shell_modules_import_one_way() -> None:
    runtime, typing_only = import_graph(_shell_sources())
    assert {"builtins", "words", "params", "arith"} <= runtime[CORE], "the graph reader lost the core's imports"
    graph = {name: set(edges) for name, edges in runtime.items()}
    for name, edges in typing_only.items():  # type-only imports count too, except the `ev` type
        graph[name] |= edges - {CORE}
    cycle = find_cycle(graph)
    assert cycle is None, "migrate/shell imports in a circle: " + " -> ".join(cycle or [])


def test_only_the_package_imports_the_interpreter_at_run_time() -> None:
    runtime, _ = import_graph(_shell_sources())
    importers = sorted(name for name, edges in runtime.items() if CORE in edges)
    assert importers == ["__init__"], f"{importers} import migrate.shell.evaluate at run time"


def test_the_check_sees_function_local_and_type_only_imports() -> None:
    """The two rules above can fail: a circle through a function-local import is found, and an
    import under TYPE_CHECKING is told apart from a run-time one."""
    sources = {
        "a": "from migrate.shell import b\n",
        "b": "def f():\n    from migrate.shell.c import g\n",
        "c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from migrate.shell.d import X\n"
             "else:\n    from .a import y\n",
        "d": "",
    }
    runtime, typing_only = import_graph(sources)
    assert runtime == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert typing_only == {"a": set(), "b": set(), "c": {"d"}, "d": set()}
    assert find_cycle(runtime) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
