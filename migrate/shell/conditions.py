"""`[[ ... ]]`, `[ ... ]` and `test`: statuses computed the way bash does.

Every test returns (status, unknown). File tests assume a path does not exist
unless it is one of the scripts we evaluate, a folder holding them, something the
script created, or the training entry script the launch needs (`pretrain_gpt.py`);
the file system beside the scripts is never consulted (migrate/shell/inputs.py).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from migrate.shell import regex as rx
from migrate.shell.arith import Arith, ArithError
from migrate.shell.inputs import known_path
from migrate.shell.launch import is_entry
from migrate.shell.text import is_unknown, plain, to_str
from migrate.shell.words import expand_pattern, expand_string

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator

Result = tuple[int, bool]  # (exit status, depends on an unknown value)

_INT_OPS = {"-eq": "==", "-ne": "!=", "-lt": "<", "-le": "<=", "-gt": ">", "-ge": ">="}
_FILE_OPS = set("-e -f -d -r -w -x -s -L -h -a -b -c -p -S -g -u -k -O -G -N".split())


def _cmp(op: str, a: int, b: int) -> bool:
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def file_test(ev: "Evaluator", op: str, path: str, node: dict | None) -> bool:
    """Only the scripts, their folders and what the script created exist (migrate/shell/inputs.py);
    a training entry script is assumed to exist. Both assumptions are warned."""
    full = os.path.normpath(os.path.join(ev.state.cwd, path)) if path else ""
    kind = known_path(ev, full) if path else None
    if kind is None and op in ("-f", "-e", "-r", "-s", "-a") and path.endswith(".py") and is_entry(path):
        ev.warn(node, f"assumed the training entry `{path}` exists (test {op})")
        return True
    if kind is None:
        ev.warn(node, f"assumed `{path}` does not exist (test {op}); file tests are not run, only the "
                      "scripts and what they create are known to exist")
        return False
    if op == "-d":
        return kind in ("dir", "created")
    if op in ("-f", "-r", "-s"):
        return kind in ("file", "created")
    if op in ("-e", "-a"):
        return True
    if op == "-x":
        return kind == "dir" or (kind == "file" and os.access(full, os.X_OK))
    return False


# -- [[ ... ]]
def test_clause(ev: "Evaluator", node: dict) -> Result:
    kind = node.get("Type")
    if kind == "ParenTest":
        return test_clause(ev, node["X"])
    if kind == "UnaryTest":
        op = node["Op"]
        if op == "!":
            status, unknown = test_clause(ev, node["X"])
            return (0 if status else 1), unknown
        value = expand_string(ev, node["X"])
        return unary(ev, op, to_str(value), node), is_unknown(value)
    if kind == "BinaryTest":
        op = node["Op"]
        if op in ("&&", "||"):
            status, unknown = test_clause(ev, node["X"])
            if (op == "&&" and status != 0) or (op == "||" and status == 0):
                return status, unknown
            status2, unknown2 = test_clause(ev, node["Y"])
            return status2, unknown or unknown2
        left = expand_string(ev, node["X"])
        if op in ("==", "=", "!="):
            regex, right_unknown = expand_pattern(ev, node["Y"])
            try:
                matched = rx.fullmatch(regex, to_str(left), dotall=True, budget=ev.budget)
            except rx.Unsupported as exc:
                ev.warn(node, f"[[ {op} ]]: pattern not evaluated ({exc}); result unknown", code="shell-unknown")
                return 1, True
            ok = matched if op != "!=" else not matched
            return (0 if ok else 1), is_unknown(left) or right_unknown
        right = expand_string(ev, node["Y"])
        unknown = is_unknown(left) or is_unknown(right)
        if op == "=~":
            try:
                match = rx.search(_ere(to_str(right)), to_str(left), budget=ev.budget)
            except re.error:
                return 2, unknown
            except rx.Unsupported as exc:
                ev.warn(node, f"[[ =~ ]]: regular expression not evaluated ({exc}); result unknown",
                        code="shell-unknown")
                return 1, True
            groups = [match.group(0), *[(g or "") for g in match.groups()]] if match else []
            ev.state.assign("BASH_REMATCH", [plain(g, ev.origin(node)) for g in groups], ev.origin(node))
            return (0 if match else 1), unknown
        if op in _INT_OPS:
            try:
                a = Arith(ev).text(to_str(left))
                b = Arith(ev).text(to_str(right))
            except ArithError as exc:
                if not (exc.unknown or unknown):
                    ev.warn(node, f"[[ {op} ]]: {exc}")
                return 1, True if exc.unknown else unknown
            return (0 if _cmp(_INT_OPS[op], a, b) else 1), unknown
        return binary_string(op, to_str(left), to_str(right)), unknown
    # a bare word: [[ $x ]]
    value = expand_string(ev, node)
    return (0 if to_str(value) else 1), is_unknown(value)


def _ere(pattern: str) -> str:
    return pattern.replace("[[:digit:]]", r"\d").replace("[[:space:]]", r"\s").replace("[[:alpha:]]", "[A-Za-z]")


def unary(ev: "Evaluator", op: str, value: str, node: dict | None) -> int:
    if op == "-z":
        return 0 if value == "" else 1
    if op == "-n":
        return 0 if value != "" else 1
    if op == "-v":
        return 0 if ev.state.lookup(value) is not None else 1
    if op == "-o":
        return 0 if value in ev.state.options else 1
    if op == "-t":
        return 1
    if op in _FILE_OPS:
        return 0 if file_test(ev, op, value, node) else 1
    return 2


def binary_string(op: str, a: str, b: str) -> int:
    if op == "<":
        return 0 if a < b else 1
    if op == ">":
        return 0 if a > b else 1
    if op in ("-nt", "-ot", "-ef"):
        return 1
    return 2


# -- [ ... ] / test
class _TestArgs:
    def __init__(self, ev: "Evaluator", words: list[str], node: dict | None) -> None:
        self.ev, self.words, self.node, self.i = ev, words, node, 0

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.words[j] if j < len(self.words) else None

    def expr_or(self) -> bool:
        value = self.expr_and()
        while self.peek() == "-o":
            self.i += 1
            right = self.expr_and()
            value = value or right
        return value

    def expr_and(self) -> bool:
        value = self.expr_not()
        while self.peek() == "-a":
            self.i += 1
            right = self.expr_not()
            value = value and right
        return value

    def expr_not(self) -> bool:
        if self.peek() == "!" and self.peek(1) is not None:
            self.i += 1
            return not self.expr_not()
        return self.primary()

    def primary(self) -> bool:
        word = self.peek()
        if word is None:
            raise ValueError("argument expected")
        if word == "(" and self.peek(2) is not None and self.peek(1) not in _BINARY:
            self.i += 1
            value = self.expr_or()
            if self.peek() != ")":
                raise ValueError("`)' expected")
            self.i += 1
            return value
        op = self.peek(1)
        if op in _BINARY and self.peek(2) is not None:
            self.i += 3
            return self.binary(word, op, self.words[self.i - 1])
        if word.startswith("-") and len(word) == 2 and self.peek(1) is not None and word not in ("-a", "-o"):
            self.i += 2
            status = unary(self.ev, word, self.words[self.i - 1], self.node)
            if status == 2:
                raise ValueError(f"{word}: unary operator expected")
            return status == 0
        self.i += 1
        return word != ""

    def binary(self, a: str, op: str, b: str) -> bool:
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        if op in _INT_OPS:
            try:
                return _cmp(_INT_OPS[op], _strict_int(a), _strict_int(b))
            except ValueError:
                bad = a if not _is_int(a) or not -(1 << 63) <= int(a.strip()) < (1 << 63) else b
                raise ValueError(f"{bad}: integer expression expected") from None
        return binary_string(op, a, b) == 0


_BINARY = {"=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef"}


def _is_int(text: str) -> bool:
    return re.fullmatch(r"\s*[+-]?[0-9]+\s*", text) is not None


def _strict_int(text: str) -> int:
    """`[ a -gt b ]` operands: decimal integers that fit 64 bits (bash rejects larger ones)."""
    if not _is_int(text):
        raise ValueError(text)
    value = int(text.strip())
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(text)
    return value


def test_command(ev: "Evaluator", words: list[str], unknown: bool, node: dict | None) -> Result:
    """`test ARGS` / `[ ARGS ]` (the closing `]` already removed)."""
    if not words:
        return 1, unknown
    parser = _TestArgs(ev, words, node)
    try:
        value = parser.expr_or()
        if parser.i != len(words):
            raise ValueError("too many arguments")
    except ValueError as exc:
        if not unknown:
            ev.warn(node, f"test: {exc} (bash prints an error; the test is false)")
        return 2, unknown
    return (0 if value else 1), unknown
