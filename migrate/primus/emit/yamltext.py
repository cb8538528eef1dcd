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
from functools import lru_cache
from typing import Any, Sequence

import yaml
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


@lru_cache(maxsize=1)
def _ruamel() -> tuple[Any, Any]:
    """ruamel's dumper class with YAML-1.1-safe floats and strings, and its double-quoted string type.

    Imported on first use: most values never need it (`_simple_text`), and the import is a tenth
    of a cold `convert`."""
    from ruamel.yaml.representer import RoundTripRepresenter
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    class _Representer(RoundTripRepresenter):
        """ruamel's round-trip representer with YAML-1.1-safe floats and strings."""

    def represent_float(rep: RoundTripRepresenter, value: float) -> Any:
        return rep.represent_scalar(_FLOAT_TAG, format_float(value))

    def represent_str(rep: RoundTripRepresenter, value: str) -> Any:
        if value == "" or not plain_resolves_to_str(value):
            return rep.represent_scalar(_STR_TAG, value, style='"')
        return rep.represent_str(value)

    _Representer.add_representer(float, represent_float)
    _Representer.add_representer(str, represent_str)
    return _Representer, DoubleQuotedScalarString


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.Representer = _ruamel()[0]
    y.default_flow_style = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def render_value(value: Any) -> str:
    """One value as it appears after `key: ` on a single line; PyYAML's SafeLoader reads it back equal."""
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
        return _checked_render(value)
    text = _RENDERED.get(key)
    if text is None:
        if len(_RENDERED) > 4096:
            _RENDERED.clear()
        text = _RENDERED[key] = _checked_render(value)
    return text


# A string YAML 1.1 and 1.2 both read as itself when written plain: no indicator, no number, no
# boolean or null word (those start with a letter but `plain_resolves_to_str` refuses them).
_SIMPLE = re.compile(r"[A-Za-z/_][A-Za-z0-9_./+=@%~-]*")


def _simple_text(value: Any) -> str | None:
    """What ruamel writes for a plain word or a flat list of them, without ruamel (None: ask ruamel).
    tests/test_yaml_strings.py checks it against ruamel's own rendering."""
    if type(value) is str:
        return value if _SIMPLE.fullmatch(value) and plain_resolves_to_str(value) else None
    if type(value) is list and all(type(v) is str for v in value):
        items = [_simple_text(v) for v in value]
        return None if None in items else "[" + ", ".join(str(i) for i in items) + "]"
    return None


def _checked_render(value: Any) -> str:
    """ruamel's rendering where it is plainly right; else checked by loading it back as Primus does, and
    written as our own double-quoted escapes when ruamel got it wrong (`: x`, `? x`, NEL, U+2028 ...)."""
    simple = _simple_text(value)
    if simple is not None:
        return simple
    try:
        text = _render_with_ruamel(value)
    except Exception:  # noqa: BLE001 - ruamel cannot put it on one line: the escaped form can
        text = None
    if text is not None and (_plainly_safe(value) or (_printable(text) and reads_back(text, value))):
        return text
    text = _quoted(value)
    if not reads_back(text, value):
        raise ValueError(f"cannot write {value!r} as YAML that reads back the same")
    return text


_SAFE_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./+=,@%~-]*")


def _plainly_safe(value: Any) -> bool:
    """No character YAML could read as syntax: ruamel's rendering needs no check."""
    if isinstance(value, str):
        return bool(_SAFE_PLAIN.fullmatch(value))
    if isinstance(value, list):
        return all(_plainly_safe(v) for v in value)
    if isinstance(value, dict):
        return all(_plainly_safe(str(k)) and _plainly_safe(v) for k, v in value.items())
    return isinstance(value, (int, float, bool, type(None)))


def _printable(text: str) -> bool:
    """One line of characters every YAML reader and line-based tool takes literally (no U+2028, NEL, BOM)."""
    return all(_literal(ch) for ch in text)


def reads_back(text: str, value: Any) -> bool:
    """Does PyYAML's SafeLoader (Primus's reader) load `key: <text>` as exactly `value`?"""
    try:
        loaded = yaml.load(f"k: {text}\n", Loader=yaml.SafeLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError:
        return False
    return isinstance(loaded, dict) and list(loaded) == ["k"] and _same(loaded["k"], value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(b, tuple):
        b = list(b)
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                       and not isinstance(a, bool) and not isinstance(b, bool)):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(map(str, a)) == list(map(str, b)) and all(_same(a[k], b[k]) for k in a)
    return a == b


# Characters PyYAML reads literally inside a double-quoted scalar (its reader refuses the rest, and line
# breaks would fold): everything else is written as an escape.
_DQ_LITERAL_PATTERN = "[\x20-\x7E\xA0-\u2027\u202A-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD\U00010000-\U0010FFFF]"


@lru_cache(maxsize=1)
def _dq_literal() -> re.Pattern[str]:
    """Compiled on first use (a tenth of this module's import): ASCII text never needs it."""
    return re.compile(_DQ_LITERAL_PATTERN)


def _literal(ch: str) -> bool:
    return " " <= ch <= "~" or bool(_dq_literal().fullmatch(ch))


def double_quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar that any YAML 1.1 reader loads back exactly."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _literal(ch):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02X}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(f"\\U{ord(ch):08X}")
    return '"' + "".join(out) + '"'


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return double_quoted(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_quoted(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{double_quoted(str(k))}: {_quoted(v)}" for k, v in value.items()) + "}"
    return render_value(value)


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
        return _ruamel()[1](value)
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
    """A run of entries under `# title` lines (one per line of the title), separated from the previous
    group by a blank line."""

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
            lines += [f"{pad}# {comment_safe(line)}".rstrip() for line in group.title.splitlines()]
        for entry in group.entries:
            text = f"{pad}{entry.key}: {entry.raw if entry.raw is not None else render_value(entry.value)}"
            if entry.comment:
                text = f"{text.ljust(column)}  # {_one_line(entry.comment)}"
            lines.append(text)
    return lines


def _one_line(text: str) -> str:
    return comment_safe(re.sub(r"\s+", " ", text).strip())


def comment_safe(line: str) -> str:
    """One line of a `# comment`: characters YAML would read as a line break or refuse are escaped."""
    if line.isascii() and line.isprintable():
        return line
    return "".join(ch if ch == "\t" or _literal(ch) else ascii(ch)[1:-1] for ch in line)


def comment_block(text: str, indent: int = 0) -> list[str]:
    pad = " " * indent
    return [f"{pad}# {comment_safe(line)}".rstrip() if line else f"{pad}#" for line in text.splitlines()]
