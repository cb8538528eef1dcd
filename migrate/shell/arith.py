"""Shell arithmetic (`$(( ))`, `(( ))`, `let`, `declare -i`) over shfmt's nodes.

64-bit wrap-around, C division, variables evaluated recursively as bash does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from migrate.shell.text import is_unknown, to_str

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ArithError(Exception):
    """Bash would print an arithmetic error here; `unknown` marks an unknowable operand."""

    def __init__(self, message: str, unknown: bool = False) -> None:
        super().__init__(message)
        self.unknown = unknown


def wrap(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >> 63 else n


def parse_number(text: str) -> int:
    t = text.strip()
    sign = 1
    if t[:1] in "+-" and t[1:2]:
        sign = -1 if t[0] == "-" else 1
        t = t[1:].strip()
    try:
        if "#" in t:
            base_s, digits = t.split("#", 1)
            return sign * int(digits, int(base_s))
        if t.lower().startswith("0x"):
            return sign * int(t, 16)
        if len(t) > 1 and t.startswith("0"):
            return sign * int(t, 8)
        return sign * int(t, 10)
    except ValueError:
        raise ArithError(f"{text}: syntax error in expression") from None


class Arith:
    def __init__(self, ev: "Evaluator", depth: int = 0) -> None:
        self.ev = ev
        self.depth = depth

    def eval(self, node: dict) -> int:
        kind = node.get("Type")
        if kind == "BinaryArithm":
            return self.binary(node)
        if kind == "UnaryArithm":
            return self.unary(node)
        if kind == "ParenArithm":
            return self.eval(node["X"])
        if kind == "Word":
            return self.word(node)
        raise ArithError(f"unsupported arithmetic node {kind}")

    # -- operands
    def word(self, node: dict) -> int:
        parts = node.get("Parts") or []
        if len(parts) == 1 and parts[0].get("Type") == "Lit" and _NAME.fullmatch(parts[0].get("Value", "")):
            return self.variable(parts[0]["Value"], node)
        from migrate.shell.words import expand_string

        value = expand_string(self.ev, node)
        if is_unknown(value):
            raise ArithError("operand is unknown", unknown=True)
        return self.text(to_str(value))

    def variable(self, name: str, node: dict) -> int:
        var = self.ev.read_var(name, node)
        if var is None:
            from migrate.shell.params import _SHELL_VARS

            if name not in _SHELL_VARS:
                return 0
            value = _SHELL_VARS[name](self.ev, node)
        else:
            value = var.scalar()
        if is_unknown(value):
            raise ArithError(f"{name} is unknown", unknown=True)
        return self.text(to_str(value))

    def text(self, text: str) -> int:
        """Evaluate a string as an arithmetic expression (numbers fast, else re-parse)."""
        t = text.strip()
        if not t:
            return 0
        if re.fullmatch(r"[+-]?[0-9]+|[+-]?0[xX][0-9a-fA-F]+|[0-9]+#[0-9a-zA-Z@_]+", t):
            return parse_number(t)
        if _NAME.fullmatch(t):
            if self.depth > 64:
                raise ArithError(f"{t}: expression recursion level exceeded")
            return Arith(self.ev, self.depth + 1).variable(t, {})
        if self.depth > 64:
            raise ArithError(f"{t}: expression recursion level exceeded")
        node = self.ev.parse_arith(t)
        return Arith(self.ev, self.depth + 1).eval(node)

    # -- operators
    def unary(self, node: dict) -> int:
        op = node["Op"]
        x = node["X"]
        if op in ("++", "--"):
            name = self._lvalue(x)
            old = self.variable(name, x)
            new = wrap(old + (1 if op == "++" else -1))
            self.ev.assign_scalar_str(name, str(new), x)
            return old if node.get("Post") else new
        v = self.eval(x)
        if op == "!":
            return int(not v)
        if op == "~":
            return wrap(~v)
        if op == "-":
            return wrap(-v)
        return v

    def binary(self, node: dict) -> int:
        op = node["Op"]
        if op in ("=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^=", "**="):
            name = self._lvalue(node["X"])
            value = self.eval(node["Y"])
            if op != "=":
                value = self._apply(op[:-1], self.variable(name, node["X"]), value)
            self.ev.assign_scalar_str(name, str(value), node)
            return value
        if op == "&&":
            return int(bool(self.eval(node["X"])) and bool(self.eval(node["Y"])))
        if op == "||":
            return int(bool(self.eval(node["X"])) or bool(self.eval(node["Y"])))
        if op == "?":
            cond = self.eval(node["X"])
            branches = node["Y"]
            if branches.get("Type") != "BinaryArithm" or branches.get("Op") != ":":
                raise ArithError("`:' expected for conditional expression")
            return self.eval(branches["X"] if cond else branches["Y"])
        if op == ",":
            self.eval(node["X"])
            return self.eval(node["Y"])
        return self._apply(op, self.eval(node["X"]), self.eval(node["Y"]))

    @staticmethod
    def _apply(op: str, a: int, b: int) -> int:
        if op in ("/", "%"):
            if b == 0:
                raise ArithError("division by 0")
            q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
            return wrap(q if op == "/" else a - b * q)
        if op == "**":
            if b < 0:
                raise ArithError("exponent less than 0")
            return wrap(pow(a, b, 1 << 64))
        table = {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
            "<<": lambda: a << (b & 63), ">>": lambda: a >> (b & 63),
            "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
            "==": lambda: int(a == b), "!=": lambda: int(a != b), "<": lambda: int(a < b),
            "<=": lambda: int(a <= b), ">": lambda: int(a > b), ">=": lambda: int(a >= b),
        }
        if op not in table:
            raise ArithError(f"unsupported arithmetic operator {op}")
        return wrap(table[op]())

    @staticmethod
    def _lvalue(node: dict) -> str:
        parts = node.get("Parts") or [] if node.get("Type") == "Word" else []
        if len(parts) == 1 and parts[0].get("Type") == "Lit" and _NAME.fullmatch(parts[0].get("Value", "")):
            return parts[0]["Value"]
        if len(parts) == 1 and parts[0].get("Type") == "ParamExp" and not parts[0].get("Exp"):
            return parts[0]["Param"]["Value"]
        raise ArithError("attempted assignment to non-variable")
