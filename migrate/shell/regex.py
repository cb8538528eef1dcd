"""Regular expressions of the modelled commands, matched in time linear in the input.

`grep -E '(a+)+$'`, `[[ $x =~ ... ]]`, `sed`, `case` globs and `${x#pattern}`
come from the script, and Python's backtracking `re` takes exponential time on
some of them (the example above on 30 characters: minutes; bash: milliseconds).
So they run on RE2 (`google-re2`), whose matching time is linear in the input
and which has a memory cap for compiling. What RE2 cannot express (back-
references, look-around) raises `Unsupported`, and the caller reports the value
as unknown with a warning, as for any command it cannot model.

A pattern without groups, alternation or more than one repetition matched
against the whole text (most `case` labels: `8`, `llama*`, `*`) cannot
backtrack more than once over the text, so it stays on `re`, which costs less
to start. Every call checks the evaluation's deadline, so loops of matches
(`${x//pattern/...}`) stop at the time limit too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from migrate.shell.budget import EvalBudget


class Unsupported(Exception):
    """The pattern needs a backtracking matcher (back-reference, look-around) or is too large."""


_QUANTIFIER = re.compile(r"\\.|[*+?{]|[(|]")


def _backtrack_free(pattern: str) -> bool:
    """No group, no alternation, at most one repetition: safe for `re` in a full match."""
    tokens = [t for t in _QUANTIFIER.findall(pattern) if not t.startswith("\\")]
    return not any(t in "(|" for t in tokens) and len(tokens) <= 1


@lru_cache(maxsize=512)
def _python(pattern: str, flags: int) -> re.Pattern:
    return re.compile(pattern, flags)


@lru_cache(maxsize=512)
def _re2(pattern: str, ignorecase: bool, dotall: bool) -> Any:
    try:
        _python(pattern, 0)  # invalid for the shell's model as well: the caller's usual re.error path
    except re.error:
        raise
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print its complaint on our stderr
    options.case_sensitive = not ignorecase
    options.dot_nl = dotall
    options.max_mem = 64 << 20
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise Unsupported(exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes)
                          else str(exc)) from None


def _compiled(pattern: str, ignorecase: bool, dotall: bool, budget: EvalBudget | None) -> Any:
    if budget is not None:
        budget.check_time()
    return _re2(pattern, ignorecase, dotall)


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unsupported("the text is not valid UTF-8") from None
    return text


def fullmatch(pattern: str, text: str, dotall: bool = False, ignorecase: bool = False,
              budget: EvalBudget | None = None) -> bool:
    """Whether `pattern` matches all of `text` (the shell's glob and `case` matching)."""
    if _backtrack_free(pattern):
        if budget is not None:
            budget.check_time()
        return _python(pattern, (re.S if dotall else 0) | (re.I if ignorecase else 0)).fullmatch(text) is not None
    return _compiled(pattern, ignorecase, dotall, budget).fullmatch(_encodable(text)) is not None


def search(pattern: str, text: str, ignorecase: bool = False, budget: EvalBudget | None = None) -> Any:
    """The first match (`.group(n)`, `.groups()`), or None."""
    return _compiled(pattern, ignorecase, False, budget).search(_encodable(text))


def finditer(pattern: str, text: str, ignorecase: bool = False, budget: EvalBudget | None = None) -> Iterator[Any]:
    """Matches left to right, as `re.finditer` gives them (RE2's wrapper repeats an empty match
    at the very end: `$` on "abc" twice; that repeat is dropped)."""
    last = None
    for match in _compiled(pattern, ignorecase, False, budget).finditer(_encodable(text)):
        span = match.span()
        if span == last and span[0] == span[1]:
            continue
        last = span
        yield match


def sub(pattern: str, repl: str, text: str, count: int = 0, ignorecase: bool = False,
        budget: EvalBudget | None = None) -> str:
    """`re.sub(pattern, repl, text, count)`, `repl` in Python's template syntax (`\\g<1>`, `\\n`)."""
    pieces = _template(repl)
    out: list[str] = []
    pos = done = 0
    for match in finditer(pattern, text, ignorecase, budget):
        if count and done >= count:
            break
        out.append(text[pos:match.start()])
        out.append("".join(p if isinstance(p, str) else (match.group(p) or "") for p in pieces))
        pos, done = match.end(), done + 1
    out.append(text[pos:])
    return "".join(out)


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_REFERENCE = re.compile(r"\\(?:g<(\d+)>|(\d\d?)|(.))|\\$", re.S)


def _template(repl: str) -> list[str | int]:
    """A replacement template as literal strings and group numbers, read as `re.sub` reads it
    (an unknown escape of an ASCII letter, a named group or a lone final backslash: re.error)."""
    pieces: list[str | int] = []
    pos = 0
    for ref in _REFERENCE.finditer(repl):
        pieces.append(repl[pos:ref.start()])
        number, digits, char = ref.groups()
        if number or digits:
            pieces.append(int(number or digits))
        elif char in _ESCAPES:
            pieces.append(_ESCAPES[char])
        elif char is None or (char.isascii() and char.isalpha()):
            raise re.error(f"bad escape in replacement {ref.group(0)!r}")
        else:
            pieces.append("\\" + char)
        pos = ref.end()
    pieces.append(repl[pos:])
    return pieces
