"""The packages of `migrate/` import one way (ARCHITECTURE.md, "Shared contracts").

`cli` -> `pipeline` -> `conversion` -> `primus/emit` -> `primus`, `megatron`, `shell`; `parity`
(dynamic) and `batch` use `pipeline`; `primus/emit` never imports `conversion` or `parity`. Every
import counts: module-level, function-local and `TYPE_CHECKING` ones (a type is still a dependency
for the reader). ALLOWED below is that contract written out per part of the tree; the test fails on
an import it does not list, and on a circle among the parts it allows.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATE = ROOT / "migrate"

# Modules every part may import: records, errors, limits and small helpers that import none of the parts.
BASE = frozenset({"diagnostics", "limits", "values", "output", "signals", "tokenizer_files", "tokenizer_vocab",
                  "__version__"})

# part -> the parts it may import (besides itself and BASE). `primus` includes `primus/releases`: the
# release rules and the loader they steer are one layer (a release module imports `primus.inherit`).
ALLOWED: dict[str, frozenset[str]] = {
    "__main__": frozenset({"cli"}),
    "cli": frozenset({"pipeline", "parity", "batch", "verify", "torchtitan", "conversion", "entries",
                      "primus/emit", "primus", "megatron", "shell"}),
    "parity": frozenset({"pipeline", "conversion", "primus/emit", "primus", "megatron", "shell"}),
    "batch": frozenset({"pipeline", "torchtitan", "conversion", "entries", "primus/emit", "primus", "megatron",
                        "shell"}),
    "pipeline": frozenset({"torchtitan", "conversion", "entries", "primus/emit", "primus", "megatron", "shell"}),
    "torchtitan": frozenset({"conversion", "primus/emit", "primus", "megatron", "shell"}),
    "verify": frozenset({"primus", "megatron"}),
    "conversion": frozenset({"primus/emit", "primus", "megatron", "shell"}),
    "primus/emit": frozenset({"primus", "megatron", "shell"}),
    "entries": frozenset({"primus", "megatron", "shell"}),
    "primus": frozenset({"megatron"}),
    "megatron": frozenset({"shell"}),
    "shell": frozenset(),
}
# Known exceptions, to remove: (importing part, imported part) -> why it is there now.
KNOWN: dict[tuple[str, str], str] = {}


def part_of(module: str) -> str | None:
    """`migrate.primus.emit.files` -> `primus/emit`; `migrate.pipeline` -> `pipeline`; None outside migrate."""
    parts = module.split(".")
    if parts[0] != "migrate" or len(parts) == 1:
        return None
    if parts[1] == "primus":
        return "primus/emit" if len(parts) > 2 and parts[2] == "emit" else "primus"
    return parts[1]


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """(module, line) for every import in `source` (of `module`), relative ones made absolute,
    `from X import y` read as X.y (y may be a module) and as X."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.append((origin, node.lineno))
            found += [(f"{origin}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _is_part(part: str) -> bool:
    """A package or module of migrate/ (not a name some `from migrate import x` picks from __init__)."""
    return part == "primus/emit" or (MIGRATE / part).is_dir() or (MIGRATE / f"{part}.py").is_file()


def edges() -> dict[tuple[str, str], list[str]]:
    """(importing part, imported part) -> where (file:line), BASE and same-part imports left out."""
    out: dict[tuple[str, str], list[str]] = {}
    for path in sorted(MIGRATE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        here = part_of(module)
        if here is None:
            continue
        source = path.read_text(encoding="utf-8")
        for name, line in imported_modules(source, module, path.name == "__init__.py"):
            there = part_of(name)
            if there is None or there == here or there in BASE or not _is_part(there):
                continue
            out.setdefault((here, there), []).append(f"{path.relative_to(ROOT)}:{line}")
    return out


def test_imports_follow_the_contract():
    wrong = {pair: where for pair, where in edges().items()
             if pair[1] not in ALLOWED.get(pair[0], frozenset()) and pair not in KNOWN}  # BASE: none
    assert not wrong, f"imports against ARCHITECTURE.md's direction (part -> part: where): {wrong}"


def test_known_exceptions_still_exist():
    # a fixed exception is removed from KNOWN, so the contract only tightens
    assert set(KNOWN) <= set(edges()), f"no longer imported, remove from KNOWN: {set(KNOWN) - set(edges())}"


def test_the_contract_is_one_way():
    seen: dict[str, int] = {}

    def walk(part: str, path: list[str]) -> None:
        assert seen.get(part) != 1, f"the contract has a circle: {' -> '.join(path + [part])}"
        if seen.get(part) == 2:
            return
        seen[part] = 1
        for nxt in sorted(ALLOWED.get(part, frozenset())):
            walk(nxt, path + [part])
        seen[part] = 2

    for part in sorted(ALLOWED):
        walk(part, [])


def test_every_part_is_in_the_contract():
    # a new package of migrate/ (or a new top-level module importing the parts) must be placed in ALLOWED
    parts = {p.name for p in MIGRATE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} | {"primus/emit"}
    modules = {p.stem for p in MIGRATE.glob("*.py") if p.stem != "__init__"}
    placed = set(ALLOWED) | BASE
    assert parts - placed == set(), f"packages missing from ALLOWED: {parts - placed}"
    assert modules - placed == set(), f"top-level modules missing from ALLOWED or BASE: {modules - placed}"


def test_the_reader_sees_each_form():
    # an upward import inside a function, a relative one, and one under TYPE_CHECKING all count
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from migrate.conversion import flags\n"
              "def f():\n    from ...parity import dynamic\n    import migrate.pipeline\n")
    found = {part_of(m) for m, _ in imported_modules(source, "migrate.primus.emit.probe")}
    assert {"conversion", "parity", "pipeline"} <= found
    assert {part_of(m) for m, _ in imported_modules("from . import files\n", "migrate.primus.emit", True)} == {
        "primus/emit"}
