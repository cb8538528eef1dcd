"""The `type=` converters Megatron-LM's options use, reimplemented.

A schema names each option's converter (`"int"`, `"enum:AttnBackend"`,
`"moe_freq_type"`, ...); argparse calls it on the command-line string. We must
give the same value or the same refusal, without importing Megatron. A
converter raises `ValueError` with a short hint when argparse would reject the
string.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable

from migrate.megatron.schema import OptionSpec

_PATTERN_CHARS = re.compile(r"[^,\d\[\]\(\)\+\*\s]")
_MAX_PATTERN_LEN = 1_000_000


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a number") from None


def _bool(text: str) -> bool:
    """`type=bool`: Python truthiness of the string, so `--onnx-safe False` is True (as in Megatron)."""
    return bool(text)


def layer_pattern(text: str) -> Any:
    """`moe_freq_type` & co: an int, or a list expression such as `([1]*3+[0])*2`."""
    if "[" not in text:
        return _int(text)
    if _PATTERN_CHARS.search(text):
        raise ValueError("expected an integer or a list pattern such as ([1]*3+[0]*1)*2")
    try:
        return _eval_pattern(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, TypeError):
        raise ValueError("expected an integer or a list pattern such as ([1]*3+[0]*1)*2") from None


def _eval_pattern(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.List):
        return [_eval_pattern(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_eval_pattern(e) for e in node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _eval_pattern(node.left), _eval_pattern(node.right)
        if isinstance(node.op, ast.Mult):
            seq, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, (list, tuple)) and isinstance(count, int) and len(seq) * count > _MAX_PATTERN_LEN:
                raise TypeError("pattern too long")
            return seq * count
        return left + right
    raise TypeError("not a pattern")


def int_tuple(text: str) -> tuple[int, ...]:
    """`tuple_type`: "1,2" or "(1,2)" → (1, 2)."""
    try:
        return tuple(int(i) for i in text.strip("()").split(","))
    except ValueError:
        raise ValueError("expected comma-separated integers such as 128,0") from None


def enum_member(choices: tuple[Any, ...] | None) -> Callable[[str], str]:
    """`type=lambda x: SomeEnum[x]`: the member name must exist; we keep the name."""

    def convert(text: str) -> str:
        if choices is not None and text not in choices:
            raise ValueError("not a member of the enum")
        return text

    return convert


def converter(spec: OptionSpec) -> Callable[[str], Any] | None:
    """The converter for `spec`, or None when the schema names one we do not know."""
    name = spec.type
    if name is None or name == "str":
        return str
    simple = {"int": _int, "float": _float, "bool": _bool, "tuple_type": int_tuple}
    if name in simple:
        return simple[name]
    if name in ("moe_freq_type", "no_rope_freq_type", "la_freq_type"):
        return layer_pattern
    if name.startswith("enum:"):
        return enum_member(spec.choices)
    if name.startswith("lambda") and "CudaGraphScope[" in name:
        return str  # member name, or the literal "full"
    return None
