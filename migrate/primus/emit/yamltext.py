"""YAML text the way a Primus maintainer writes it, readable by every Primus version.

Primus reads configs with PyYAML's SafeLoader, a YAML 1.1 resolver: `1e-5` is a
*string* there (a 1.1 float needs a dot and a signed exponent), and `on`/`yes`
are booleans. So floats are written as `1.0e-05`, and any string that the 1.1
resolver would not read back as a string is quoted. Values are rendered with
ruamel.yaml (flow style for lists and maps); the layout around them (groups,
blank lines, trailing origin comments) is assembled here because that is what
makes the file look hand-written.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def format_float(value: float) -> str:
    """`1e-05` -> `1.0e-05`, `3e+20` -> `3.0e+20`, `0.5` -> `0.5`, `2.0` -> `2.0`.

    The result always resolves to a float under YAML 1.1 and 1.2 and round-trips
    to the same Python float.
    """
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(float(value))
    if "e" in text or "E" in text:
        mantissa, exponent = text.lower().split("e")
        if "." not in mantissa:
            mantissa += ".0"
        sign = "-" if exponent.startswith("-") else "+"
        digits = exponent.lstrip("+-").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    elif "." not in text:
        text += ".0"
    return text


def plain_resolves_to_str(text: str) -> bool:
    """Would PyYAML's SafeLoader read this plain scalar back as the same string?"""
    return _RESOLVER.resolve(yaml.nodes.ScalarNode, text, (True, False)) == _STR_TAG


class _Representer(RoundTripRepresenter):
    """ruamel's round-trip representer with YAML-1.1-safe floats and strings."""


def _represent_float(rep: RoundTripRepresenter, value: float):
    return rep.represent_scalar(_FLOAT_TAG, format_float(value))


def _represent_str(rep: RoundTripRepresenter, value: str):
    if value == "" or not plain_resolves_to_str(value):
        return rep.represent_scalar(_STR_TAG, value, style='"')
    return rep.represent_str(value)


_Representer.add_representer(float, _represent_float)
_Representer.add_representer(str, _represent_str)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.Representer = _Representer
    y.default_flow_style = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def render_value(value: Any) -> str:
    """One value as it appears after `key: ` on a single line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, tuple):
        value = list(value)
    key = _render_key(value)
    if key is None:
        return _render_with_ruamel(value)
    text = _RENDERED.get(key)
    if text is None:
        if len(_RENDERED) > 4096:
            _RENDERED.clear()
        text = _RENDERED[key] = _render_with_ruamel(value)
    return text


# Rendered strings and flat lists, by (type, repr) of each item: a fresh ruamel dumper per
# value was a tenth of a batch's time, and the same values repeat in every file.
_RENDERED: dict[tuple, str] = {}
_PLAIN_TYPES = (str, int, float, bool, type(None))


def _render_key(value: Any) -> tuple | None:
    if type(value) is str:
        return (str, value)
    if type(value) is list and all(type(v) in _PLAIN_TYPES for v in value):
        return (list, *((type(v), repr(v)) for v in value))
    return None


def _render_with_ruamel(value: Any) -> str:
    buf = io.StringIO()
    y = _yaml()
    y.dump({"k": _plainify(value)}, buf)
    text = buf.getvalue().strip()
    # ruamel wraps a flow document as `{k: ...}`; peel the wrapper off
    if text.startswith("{k: ") and text.endswith("}"):
        return text[len("{k: "):-1]
    if text.startswith("k: "):
        return text[len("k: "):]
    raise ValueError(f"cannot render {value!r} on one line: {text!r}")


def _plainify(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plainify(v) for v in value]
    if isinstance(value, list):
        return [_plainify(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plainify(v) for k, v in value.items()}
    if isinstance(value, str) and (value == "" or not plain_resolves_to_str(value)):
        return DoubleQuotedScalarString(value)
    return value


@dataclass
class Entry:
    """`key: value  # comment` inside a mapping."""

    key: str
    value: Any
    comment: str | None = None
    raw: str | None = None  # pre-rendered value text (e.g. `${TP:8}`), used as is


@dataclass
class Group:
    """A run of entries under a `# title` line, separated from the previous group by a blank line."""

    title: str | None
    entries: list[Entry] = field(default_factory=list)


def render_entries(groups: Sequence[Group], indent: int, comment_column: int | None = None) -> list[str]:
    """Lines for a block mapping made of commented groups."""
    pad = " " * indent
    lines: list[str] = []
    width = 0
    for group in groups:
        for entry in group.entries:
            text = f"{pad}{entry.key}: {entry.raw if entry.raw is not None else render_value(entry.value)}"
            width = max(width, len(text))
    column = comment_column or min(width + 2, 60)
    first = True
    for group in groups:
        if not group.entries:
            continue
        if not first:
            lines.append("")
        first = False
        if group.title:
            lines.append(f"{pad}# {group.title}")
        for entry in group.entries:
            text = f"{pad}{entry.key}: {entry.raw if entry.raw is not None else render_value(entry.value)}"
            if entry.comment:
                text = f"{text.ljust(column)}  # {_one_line(entry.comment)}"
            lines.append(text)
    return lines


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def comment_block(text: str, indent: int = 0) -> list[str]:
    pad = " " * indent
    return [f"{pad}# {line}".rstrip() if line else f"{pad}#" for line in text.splitlines()]
