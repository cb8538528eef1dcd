"""Evaluate small Python expressions from source without running them.

The schema extractor needs the values inside `add_argument(...)` calls and
dataclass fields: literals, negative numbers, `1e-5`, `4 * 1024`, `range(0, 3)`,
names bound to module constants, enum members. Anything else (a call to
`os.getenv`, a lambda) is not ours to run; it raises `NotStatic` and the caller
records the source text instead.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable

import libcst as cst


class NotStatic(Exception):
    """The expression needs the program to run."""


@dataclass(frozen=True)
class Ref:
    """A name we can identify but not run: a type (`int`), a function (`moe_freq_type`)."""

    name: str


@dataclass(frozen=True)
class EnumClass:
    """An enum class found in the sources: its name and member names in definition order."""

    name: str
    members: tuple[str, ...]
    values: tuple[Any, ...] = ()  # member values where static (same order), for `[e.value for e in E]`


@dataclass(frozen=True)
class EnumMember:
    enum: str
    member: str


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Power: operator.pow,
    cst.Modulo: operator.mod,
}

_BUILTIN_REFS = {"int", "float", "str", "bool", "list", "tuple", "dict"}


def evaluate(node: cst.BaseExpression, lookup: Callable[[str], Any]) -> Any:
    """The value of `node`; `lookup(name)` resolves free names or raises NotStatic."""
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    if isinstance(node, cst.Float):
        return float(node.value.replace("_", ""))
    if isinstance(node, cst.SimpleString):
        if "b" in node.prefix.lower() or "f" in node.prefix.lower():
            raise NotStatic
        return node.evaluated_value
    if isinstance(node, cst.ConcatenatedString):
        left, right = evaluate(node.left, lookup), evaluate(node.right, lookup)
        return left + right
    if isinstance(node, cst.Name):
        if node.value == "True":
            return True
        if node.value == "False":
            return False
        if node.value == "None":
            return None
        return lookup(node.value)
    if isinstance(node, cst.UnaryOperation):
        value = evaluate(node.expression, lookup)
        if isinstance(node.operator, cst.Minus):
            return -value
        if isinstance(node.operator, cst.Plus):
            return +value
        if isinstance(node.operator, cst.Not):
            return not value
        raise NotStatic
    if isinstance(node, cst.BinaryOperation):
        op = _BINOPS.get(type(node.operator))
        if op is None:
            raise NotStatic
        left, right = evaluate(node.left, lookup), evaluate(node.right, lookup)
        if not all(isinstance(v, (int, float, str, list, tuple)) for v in (left, right)):
            raise NotStatic
        return op(left, right)
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        items = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                items.extend(evaluate(el.value, lookup))
            else:
                items.append(evaluate(el.value, lookup))
        return tuple(items) if isinstance(node, cst.Tuple) else items
    if isinstance(node, cst.Dict):
        out = {}
        for item in node.elements:
            if not isinstance(item, cst.DictElement):
                raise NotStatic
            out[evaluate(item.key, lookup)] = evaluate(item.value, lookup)
        return out
    if isinstance(node, cst.Attribute):
        base = evaluate(node.value, lookup)
        if isinstance(base, EnumClass) and node.attr.value in base.members:
            return EnumMember(base.name, node.attr.value)
        if isinstance(base, Ref) and base.name == "argparse":
            return Ref(node.attr.value)
        if isinstance(base, Ref) and base.name == "signal" and node.attr.value.startswith("SIG"):
            return EnumMember("Signals", node.attr.value)
        raise NotStatic
    if isinstance(node, cst.Call):
        return _evaluate_call(node, lookup)
    if isinstance(node, cst.ListComp):
        return _evaluate_enum_comprehension(node, lookup)
    raise NotStatic


def _evaluate_enum_comprehension(node: cst.ListComp, lookup: Callable[[str], Any]) -> list[Any]:
    """`[e.value for e in SomeEnum]` / `[e.name for e in SomeEnum]`: the only comprehension options use."""
    comp = node.for_in
    if comp.inner_for_in is not None or comp.ifs or not isinstance(comp.target, cst.Name):
        raise NotStatic
    enum = evaluate(comp.iter, lookup)
    elt = node.elt
    if not (isinstance(enum, EnumClass) and isinstance(elt, cst.Attribute) and isinstance(elt.value, cst.Name)):
        raise NotStatic
    if elt.value.value != comp.target.value:
        raise NotStatic
    if elt.attr.value == "name":
        return list(enum.members)
    if elt.attr.value == "value" and len(enum.values) == len(enum.members):
        return list(enum.values)
    raise NotStatic


def _evaluate_call(node: cst.Call, lookup: Callable[[str], Any]) -> Any:
    func = node.func
    if not isinstance(func, cst.Name) or any(a.keyword or a.star for a in node.args):
        raise NotStatic
    args = [evaluate(a.value, lookup) for a in node.args]
    if func.value == "range" and all(isinstance(a, int) for a in args):
        return list(range(*args))
    if func.value in ("list", "tuple") and len(args) == 1:
        (arg,) = args
        if isinstance(arg, EnumClass):
            items = [EnumMember(arg.name, m) for m in arg.members]
        elif isinstance(arg, (list, tuple)):
            items = list(arg)
        else:
            raise NotStatic
        return items if func.value == "list" else tuple(items)
    if func.value in ("list", "dict") and not args:
        return [] if func.value == "list" else {}
    if func.value in ("int", "float", "str") and len(args) == 1 and isinstance(args[0], (int, float, str)):
        return {"int": int, "float": float, "str": str}[func.value](args[0])
    raise NotStatic


def builtin_lookup(name: str) -> Any:
    """Names every module sees: builtin types become `Ref`s, `argparse` a namespace."""
    if name in _BUILTIN_REFS or name in ("argparse", "signal"):
        return Ref(name)
    raise NotStatic
