"""Shell arithmetic (`$(( ))`, `(( ))`, `let`, `declare -i`) the way bash evaluates it.

Bash first expands the words of an arithmetic expression (`$E * 2` becomes `* 2` when E is empty)
and then parses the resulting string, so shfmt's tree is only used to find the words: it is printed
back with each word expanded, and the text is evaluated by a parser that follows bash's `expr.c`
(precedence, short-circuit without side effects, 64-bit wrap-around, C division, `base#digits`,
variables evaluated recursively). Anything bash reports as an error raises `ArithError`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from migrate.shell.params import _SHELL_VARS
from migrate.shell.text import EMPTY, Text, is_unknown, plain, to_str
from migrate.shell.words import expand_string

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MASK = (1 << 64) - 1
MAX_DEPTH = 32  # nested variable evaluation (bash allows 1024; a cycle fails either way)
MAX_INDEX = 100_000  # bash's arrays are sparse, ours are lists: a larger index is refused


def check_index(ev: Evaluator, index: int, node: dict | None) -> None:
    if index > MAX_INDEX:
        from migrate.diagnostics import MigrateError

        raise MigrateError(f"array index {index} is too large to evaluate (the limit is {MAX_INDEX})",
                           origin=ev.origin(node))


class ArithError(Exception):
    """Bash would print an arithmetic error here; `unknown` marks an unknowable operand."""

    def __init__(self, message: str, unknown: bool = False) -> None:
        super().__init__(message)
        self.unknown = unknown


def wrap(n: int) -> int:
    n &= _MASK
    return n - (1 << 64) if n >> 63 else n


def _strlong(s: str) -> int:
    """A number as bash's arithmetic reads it: `0x1F`, `017`, `base#digits`, wrapping at 2^64."""
    base, i, found_base = 10, 0, False
    if s.startswith("0"):
        if len(s) == 1:
            return 0
        base, i = (16, 2) if s[1] in "xX" else (8, 1)
        found_base = True
    value = 0
    while i < len(s):
        c = s[i]
        i += 1
        if c == "#":
            if found_base:
                raise ArithError(f"{s}: invalid number")
            if value < 2 or value > 64:
                raise ArithError(f"{s}: invalid arithmetic base")
            base, value, found_base = value, 0, True
            continue
        if c.isdigit():
            digit = ord(c) - 48
        elif "a" <= c <= "z":
            digit = ord(c) - 87
        elif "A" <= c <= "Z":
            digit = ord(c) - 65 + (10 if base <= 36 else 36)
        elif c == "@":
            digit = 62
        elif c == "_":
            digit = 63
        else:
            raise ArithError(f"{s}: invalid number")
        if digit >= base:
            raise ArithError(f"{s}: value too great for base")
        value = (value * base + digit) & _MASK
    return wrap(value)


def divide(op: str, a: int, b: int) -> int:
    if b == 0:
        raise ArithError("division by 0")
    q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
    return wrap(q if op == "/" else a - b * q)


_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "<<": lambda a, b: a << (b & 63), ">>": lambda a, b: a >> (b & 63),
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
}


def apply(op: str, a: int, b: int) -> int:
    if op in ("/", "%"):
        return divide(op, a, b)
    if op == "**":
        if b < 0:
            raise ArithError("exponent less than 0")
        return wrap(pow(a, b, 1 << 64))
    return wrap(_BINARY[op](a, b))


# -- the lexer: bash's readtok
_OPS3 = ("<<=", ">>=")
_OPS2 = ("==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "**", "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=")
_OPS1 = set("=<>!~+-*/%&^|()?:,")
_ASSIGN = {"=", "*=", "/=", "%=", "+=", "-=", "<<=", ">>=", "&=", "^=", "|="}


class _Tok:
    """NUM (`num`), ID (`name`, `sub`: the subscript of `a[i]` or None), OP (`op`) or END."""

    __slots__ = ("kind", "num", "op", "name", "sub")

    def __init__(self, kind: str, num: int = 0, op: str = "", name: str = "", sub: str | None = None) -> None:
        self.kind, self.num, self.op, self.name, self.sub = kind, num, op, name, sub

    def __str__(self) -> str:
        return {"NUM": str(self.num), "OP": self.op, "ID": self.name}.get(self.kind, "")


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\n":
            i += 1
        if i >= n:
            out.append(_Tok("END"))
            return out
        c = text[i]
        if c.isalpha() or c == "_":
            m = _NAME.match(text, i)
            assert m is not None
            name, i = m.group(0), m.end()
            sub = None
            if i < n and text[i] == "[":
                depth, j = 0, i
                while j < n:
                    depth += {"[": 1, "]": -1}.get(text[j], 0)
                    if depth == 0:
                        break
                    j += 1
                if j >= n:
                    raise ArithError(f"{text}: bad array subscript")
                sub, i = text[i + 1 : j], j + 1
            out.append(_Tok("ID", name=name, sub=sub))
            continue
        if c.isdigit():
            j = i
            while j < n and (text[j].isalnum() or text[j] in "#@_"):
                j += 1
            out.append(_Tok("NUM", num=_strlong(text[i:j])))
            i = j
            continue
        op = next((o for o in _OPS3 + _OPS2 if text.startswith(o, i)), None) or (c if c in _OPS1 else None)
        if op is None:
            raise ArithError(f"{text}: syntax error: operand expected (error token is \"{text[i:]}\")")
        if c in "+-" and text.startswith(c + c, i):
            if out and out[-1].kind == "ID":
                out.append(_Tok("OP", op="post" + c + c))
                i += 2
                continue
            j = i + 2
            while j < n and text[j] in " \t\n":
                j += 1
            if j < n and (text[j].isalpha() or text[j] == "_"):
                out.append(_Tok("OP", op="pre" + c + c))
                i += 2
                continue
            op = c  # `--3` is two minus signs
        out.append(_Tok("OP", op=op))
        i += len(op)


class _Parser:
    """Recursive descent over bash's precedence levels, evaluating as it goes (`noeval` > 0: only
    parsing, as in the branch of `&&`, `||` or `?:` that is not taken)."""

    def __init__(self, arith: Arith, text: str) -> None:
        self.arith, self.text = arith, text
        self.toks = _tokens(text)
        self.i = 0
        self.noeval = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def is_op(self, *ops: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "OP" and tok.op in ops

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str) -> ArithError:
        rest = " ".join(str(tok) for tok in self.toks[self.i:] if tok.kind != "END")
        return ArithError(f"{self.text.strip()}: {message}" + (f" (error token is \"{rest}\")" if rest else ""))

    def run(self) -> int:
        if self.peek().kind == "END":
            return 0
        value = self.comma()
        if self.peek().kind != "END":
            raise self.error("syntax error in expression")
        return value

    def comma(self) -> int:
        value = self.assign()
        while self.is_op(","):
            self.take()
            value = self.assign()
        return value

    def assign(self) -> int:
        start = self.i
        value = self.cond()
        if self.peek().kind == "OP" and self.peek().op in _ASSIGN:
            if self.i != start + 1 or self.toks[start].kind != "ID":
                raise self.error("attempted assignment to non-variable")
            name, sub = self.toks[start].name, self.toks[start].sub
            op = self.take().op
            rhs = self.assign()
            if op != "=":
                rhs = apply(op[:-1], self.arith.lvalue_get(name, sub), rhs) if not self.noeval else 0
            if not self.noeval:
                self.arith.lvalue_set(name, sub, rhs)
            return rhs
        return value

    def cond(self) -> int:
        value = self.logical_or()
        if not self.is_op("?"):
            return value
        self.take()
        if self.peek().kind == "END" or self.is_op(":"):
            raise self.error("expression expected")
        self.noeval += not value
        yes = self.comma()
        self.noeval -= not value
        if not self.is_op(":"):
            raise self.error("`:' expected for conditional expression")
        self.take()
        if self.peek().kind == "END":
            raise self.error("expression expected")
        self.noeval += bool(value)
        no = self.cond()
        self.noeval -= bool(value)
        return yes if value else no

    def logical_or(self) -> int:
        value = self.logical_and()
        while self.is_op("||"):
            self.take()
            self.noeval += bool(value)
            right = self.logical_and()
            self.noeval -= bool(value)
            value = int(bool(value) or bool(right))
        return value

    def logical_and(self) -> int:
        value = self.binary(0)
        while self.is_op("&&"):
            self.take()
            self.noeval += not value
            right = self.binary(0)
            self.noeval -= not value
            value = int(bool(value) and bool(right))
        return value

    _LEVELS = (("|",), ("^",), ("&",), ("==", "!="), ("<=", ">=", "<", ">"), ("<<", ">>"), ("+", "-"),
               ("*", "/", "%"))
    _PRECEDENCE = {op: level for level, ops in enumerate(_LEVELS) for op in ops}

    def binary(self, level: int) -> int:
        """Left-associative binary operators at `level` and tighter, by precedence climbing (few
        Python frames: variables holding expressions nest this whole parser)."""
        value = self.power()
        while True:
            tok = self.peek()
            prec = self._PRECEDENCE.get(tok.op) if tok.kind == "OP" else None
            if prec is None or prec < level:
                return value
            self.take()
            right = self.binary(prec + 1) if prec + 1 < len(self._LEVELS) else self.power()
            value = self.compute(tok.op, value, right)

    def compute(self, op: str, a: int, b: int) -> int:
        if op in ("==", "!=", "<=", ">=", "<", ">"):
            return int({"==": a == b, "!=": a != b, "<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b}[op])
        if self.noeval:
            return 0
        return apply(op, a, b)

    def power(self) -> int:
        value = self.unary()
        if self.is_op("**"):
            self.take()
            right = self.power()
            if right < 0:  # checked even where nothing is evaluated (`1 || 2 ** -1`), as in bash
                raise self.error("exponent less than 0")
            return 0 if self.noeval else apply("**", value, right)
        return value

    def unary(self) -> int:
        if self.is_op("!", "~", "-", "+"):
            op = self.take().op
            value = self.unary()
            return {"!": int(not value), "~": wrap(~value), "-": wrap(-value), "+": value}[op]
        if self.is_op("pre++", "pre--"):
            op = self.take().op
            target = self.take()
            if target.kind != "ID":
                raise self.error("syntax error: operand expected")
            if self.noeval:
                return 0
            value = wrap(self.arith.lvalue_get(target.name, target.sub) + (1 if op == "pre++" else -1))
            self.arith.lvalue_set(target.name, target.sub, value)
            return value
        return self.primary()

    def primary(self) -> int:
        tok = self.take()
        if tok.kind == "NUM":
            return tok.num
        if tok.kind == "ID":
            name, sub = tok.name, tok.sub
            if self.is_op("post++", "post--"):
                op = self.take().op
                if self.noeval:
                    return 0
                old = self.arith.lvalue_get(name, sub)
                self.arith.lvalue_set(name, sub, wrap(old + (1 if op == "post++" else -1)))
                return old
            if self.noeval or (self.peek().kind == "OP" and self.peek().op in _ASSIGN):
                return 0  # an assignment's target is not read (nor is a branch not taken)
            return self.arith.lvalue_get(name, sub)
        if tok.kind == "OP" and tok.op == "(":
            inner = self.comma()
            if not self.is_op(")"):
                raise self.error("missing `)'")
            self.take()
            return inner
        self.i -= 1
        raise self.error("syntax error: operand expected")


class Arith:
    def __init__(self, ev: Evaluator, depth: int = 0, node: dict | None = None) -> None:
        self.ev = ev
        self.depth = depth
        self.node = node  # where the expression is written (knob reads are located there)

    def eval(self, node: dict, words_expanded: bool = False) -> int:
        """An expression from shfmt's tree: its words are expanded, then the text is evaluated.

        `words_expanded`: `let`'s arguments are ordinary words (quotes removed, '...' included);
        inside `$(( ))` and `(( ))` single quotes stay literal, as in bash.
        """
        self.node = self.node or node
        return self.text(render(self.ev, node, let_word=words_expanded))

    def text(self, text: str) -> int:
        """Evaluate a string as an arithmetic expression, as bash does with a variable's value."""
        t = text.strip()
        if not t:
            return 0
        if t.isdigit() and (t == "0" or t[0] != "0"):
            return wrap(int(t))
        if self.depth > MAX_DEPTH:
            raise ArithError(f"{t}: expression recursion level exceeded")
        return _Parser(self, text).run()

    # -- variables
    def lvalue_get(self, name: str, sub: str | None) -> int:
        node = self.node or {}
        var = self.ev.read_var(name, node)
        if var is None:
            if name in _SHELL_VARS and sub is None:
                value = _SHELL_VARS[name](self.ev, node)
            else:
                if "nounset" in self.ev.state.options:
                    self.ev.fail(node, f"{name}: unbound variable (set -u)")
                return 0
        elif sub is None:
            value = var.scalar()
        else:
            value = self._element(var, sub)
        if is_unknown(value):
            raise ArithError(f"{name} is unknown", unknown=True)
        return Arith(self.ev, self.depth + 1, self.node).text(to_str(value))

    def _element(self, var, sub: str):
        if isinstance(var.value, dict):
            return var.value.get(sub, EMPTY)
        index = Arith(self.ev, self.depth + 1, self.node).text(sub)
        elems = var.value if isinstance(var.value, list) else [var.value]
        if index < 0:
            index += len(elems)
            if index < 0:
                raise ArithError(f"{var}: bad array subscript")
        got = elems[index] if index < len(elems) else None
        return got if got is not None else EMPTY

    def lvalue_set(self, name: str, sub: str | None, value: int) -> None:
        node = self.node or {}
        if sub is None:
            self.ev.assign_scalar_str(name, str(value), node)
            return
        var = self.ev.state.lookup(name)
        text = plain(str(value), self.ev.origin(node))
        if var is not None and isinstance(var.value, dict):
            table = dict(var.value)
            table[sub] = text
            self.ev.state.assign(name, table, self.ev.origin(node))
            return
        index = Arith(self.ev, self.depth + 1, self.node).text(sub)
        values: list[Text | None] = []
        if var is not None:
            values = list(var.value) if isinstance(var.value, list) else [var.scalar()]
        if index < 0:
            index += len(values)
            if index < 0:
                raise ArithError(f"{name}[{sub}]: bad array subscript")
        check_index(self.ev, index, node)
        while len(values) <= index:
            values.append(None)
        values[index] = text
        self.ev.state.assign(name, values, self.ev.origin(node))


# -- printing shfmt's arithmetic tree back as text, words expanded
def render(ev: Evaluator, node: dict | None, let_word: bool = False) -> str:
    if not node:
        return ""
    kind = node.get("Type")
    if kind == "BinaryArithm":
        return f"{render(ev, node['X'])} {node['Op']} {render(ev, node['Y'])}"
    if kind == "UnaryArithm":
        op, inner = node["Op"], render(ev, node["X"])
        if node.get("Post"):
            return inner + op
        return op + inner if op in ("++", "--") else f"{op} {inner}"
    if kind == "ParenArithm":
        return f"( {render(ev, node['X'])} )"
    if kind == "Word" or kind is None:
        return _word_text(ev, node, let_word)
    raise ArithError(f"unsupported arithmetic node {kind}")


def _word_text(ev: Evaluator, node: dict, let_word: bool) -> str:
    parts = node.get("Parts") or []
    out: list[str] = []
    for part in parts:
        kind = part.get("Type")
        if kind == "ParamExp" and not part.get("Dollar") and part.get("Index") is not None:
            out.append(f"{part['Param']['Value']}[{render(ev, part['Index'])}]")  # bare `a[i]`
            continue
        if kind == "SglQuoted" and not let_word:
            out.append(("$'" if part.get("Dollar") else "'") + part.get("Value", "") + "'")  # literal in bash
            continue
        value = expand_string(ev, {"Type": "Word", "Parts": [part]})
        if is_unknown(value):
            raise ArithError("operand is unknown", unknown=True)
        out.append(to_str(value))
    return "".join(out)
