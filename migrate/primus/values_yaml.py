"""A Primus preset file re-written as its values only.

The snapshot under `configs/<target>/` must hold what a release's presets *say* (their values,
types, key order, inheritance keys and `${VAR:default}` strings, exactly as PyYAML's SafeLoader
reads them, which is how every Primus release reads them), and none of the upstream text around
them (comments, prose). So a file is read with SafeLoader and written again by PyYAML's own
SafeDumper, the writer that is the exact inverse of that reader; the result is read back and must
be the same tree, type for type, or nothing is written.

Each top-level key stays on the line it has upstream (the lines comments held become blank), so a
value's origin `file:line` in our reports points at the same line of the user's Primus checkout.
A nested value is written in block style when it fits before the next key's upstream line, else
in flow style on one line.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from migrate.diagnostics import MigrateError, Origin
from migrate.primus.yamlio import MarkedDict, load_yaml_text

_WIDTH = 1 << 30  # never fold a long scalar over several lines


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents a list under its key (`extends:\\n  - base.yaml`), as Primus writes it."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(MarkedDict, _Dumper.represent_dict)


def _entry_lines(key: Any, value: Any, flow: bool) -> list[str]:
    """`key: value` as YAML lines; nested values in block style, or on one line with `flow`."""
    if flow and isinstance(value, (dict, list)) and value:
        head = yaml.dump({key: None}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=_WIDTH)
        body = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, sort_keys=False, allow_unicode=True,
                         width=_WIDTH)
        return [head.rstrip("\n")[: -len("null")] + body.strip("\n")]
    text = yaml.dump({key: value}, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                     allow_unicode=True, width=_WIDTH)
    return text.rstrip("\n").split("\n")


def render_values(data: dict[Any, Any]) -> str:
    """The mapping as YAML text, each top-level key on its upstream line where it can be."""
    lines_of: dict[Any, int] = getattr(data, "lines", {})
    keys = list(data)
    out: list[str] = []
    for i, key in enumerate(keys):
        want = lines_of.get(key, 0)
        while len(out) + 1 < want:
            out.append("")
        later = [lines_of[k] for k in keys[i + 1:] if k in lines_of]
        bound = min(later) if later else None
        entry = _entry_lines(key, data[key], flow=False)
        if bound is not None and len(out) + len(entry) >= bound:
            entry = _entry_lines(key, data[key], flow=True)
        out.extend(entry)
    return "\n".join(out) + "\n" if out else ""


def identical(a: Any, b: Any) -> bool:
    """Same YAML tree: same types (a subclass of dict counts as dict), key order, values; NaN == NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def values_text(text: str, filename: str) -> str:
    """`text` (one upstream preset) re-written as its values; MigrateError for a file that is not a
    YAML mapping (or empty); AssertionError if the re-written text would not read back the same."""
    data = load_yaml_text(text, filename)
    if data is None:
        return ""  # an empty (or comments-only) file stays empty: its meaning is the release's
    if not isinstance(data, dict):
        raise MigrateError(f"a Primus preset must be a YAML mapping, got {type(data).__name__}",
                           origin=Origin(filename, 1))
    written = render_values(data)
    again = yaml.load(written, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader itself
    if not identical(yaml.load(text, Loader=yaml.SafeLoader), again):  # noqa: S506 - SafeLoader itself
        raise AssertionError(f"{filename}: the values-only text does not read back as the same values")
    return written
