"""Knobs: the variables a user sets from outside (environment or KEY=VALUE args).

A knob is recorded the first time the script reads a variable it has not
assigned itself. `compared_with` comes from a static scan of every test and
`case` in the parsed files, so batch conversion sees all the variants (MODEL_SIZE
8 and 70) even when this evaluation took only one branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate.diagnostics import Origin
from migrate.shell.plan import Knob, KnobSource
from migrate.shell.syntax import iter_nodes, lit_word

# every literal a knob is tested against, thresholds (`-gt 1`) included: the batch stage decides
# which of them are variants (equality) and which only bound a range
_COMPARISON_OPS = {"-eq", "-ne", "-lt", "-le", "-gt", "-ge", "==", "=", "!="}


@dataclass
class KnobRecord:
    """A knob while the evaluation runs; `KnobRegistry.knobs` turns each into a plan's `Knob`."""

    name: str
    value: str | None
    source: KnobSource
    defined_at: Origin | None
    default: str | None = None
    has_default: bool = False
    compared_with: list[str] = field(default_factory=list)


class KnobRegistry:
    def __init__(self) -> None:
        self.records: dict[str, KnobRecord] = {}

    def read(self, name: str, value: str | None, source: KnobSource, origin: Origin) -> None:
        if name not in self.records:
            self.records[name] = KnobRecord(name, value, source, origin)

    def default(self, name: str, default: str, origin: Origin) -> None:
        record = self.records.get(name)
        if record is None or record.has_default:
            return
        record.default = default
        record.has_default = True
        record.defined_at = origin
        if record.source == "default" and record.value is None:
            record.value = default

    def knobs(self, trees: list[dict]) -> list[Knob]:
        compared = compared_literals(trees)
        out = []
        for record in self.records.values():
            out.append(
                Knob(
                    name=record.name,
                    default=record.default,
                    value=record.value,
                    source=record.source,
                    compared_with=compared.get(record.name, []),
                    defined_at=record.defined_at,
                )
            )
        return out


def _param_name(word: dict | None) -> str | None:
    """NAME when a word is exactly `$NAME`, `${NAME}` or `"$NAME"` (defaults allowed)."""
    if not word:
        return None
    parts = word.get("Parts") or []
    if len(parts) == 1 and parts[0].get("Type") == "DblQuoted":
        parts = parts[0].get("Parts") or []
    if len(parts) != 1 or parts[0].get("Type") != "ParamExp":
        return None
    node = parts[0]
    if node.get("Length") or node.get("Slice") or node.get("Repl") or node.get("Index"):
        return None
    exp = node.get("Exp")
    if exp and exp.get("Op") not in (":-", "-"):
        return None
    return node["Param"]["Value"]


def _literal(word: dict | None) -> str | None:
    if not word:
        return None
    parts = word.get("Parts") or []
    if len(parts) == 1 and parts[0].get("Type") in ("DblQuoted", "SglQuoted"):
        inner = parts[0]
        if inner["Type"] == "SglQuoted":
            return inner.get("Value", "")
        return lit_word(inner) if inner.get("Parts") else ""
    return lit_word(word)


def _add(out: dict[str, list[str]], name: str | None, value: str | None) -> None:
    if name is None or value is None:
        return
    values = out.setdefault(name, [])
    if value not in values:
        values.append(value)


def compared_literals(trees: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tree in trees:
        for node in iter_nodes(tree):
            kind = node.get("Type")
            if kind == "BinaryTest" and node.get("Op") in _COMPARISON_OPS:
                _add(out, _param_name(node.get("X")), _literal(node.get("Y")))
                _add(out, _param_name(node.get("Y")), _literal(node.get("X")))
            elif kind == "CallExpr":
                _scan_test_command(node.get("Args") or [], out)
            elif kind == "CaseClause":
                name = _param_name(node.get("Word"))
                for item in node.get("Items") or []:
                    for pattern in item.get("Patterns") or []:
                        text = _literal(pattern)
                        if text is not None and not re.search(r"[*?\[]", text):
                            _add(out, name, text)
            elif kind == "BinaryArithm" and node.get("Op") in ("==", "!="):
                x, y = node.get("X") or {}, node.get("Y") or {}
                name = lit_word(x) if x.get("Type") == "Word" else None
                if name and not re.fullmatch(r"[A-Za-z_]\w*", name):
                    name = None
                name = name or _param_name(x)
                value = lit_word(y) if y.get("Type") == "Word" else None
                if value is not None and re.fullmatch(r"-?\d+", value):
                    _add(out, name, value)
    return out


def _scan_test_command(args: list[dict], out: dict[str, list[str]]) -> None:
    words = [lit_word(a) for a in args]
    if not words or words[0] not in ("[", "test"):
        return
    for i in range(1, len(args) - 2):
        if words[i + 1] in _COMPARISON_OPS:
            _add(out, _param_name(args[i]), _literal(args[i + 2]))
            _add(out, _param_name(args[i + 2]), _literal(args[i]))
