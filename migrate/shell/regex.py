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

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any, Iterator

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
    return _compiled(pattern, ignorecase, False, budget).finditer(_encodable(text))


def sub(pattern: str, repl: str, text: str, count: int = 0, ignorecase: bool = False,
        budget: EvalBudget | None = None) -> str:
    """`re.sub` with `repl` in Python's template syntax (`\\g<1>`)."""
    return _compiled(pattern, ignorecase, False, budget).sub(repl, _encodable(text), count)
