"""The linear-time matcher of the script's regexes (RE2) answers as Python's `re` did.

Python's `re` was the evaluator's engine before (and stays the reference for what the
evaluator's translations of grep/sed/case patterns mean); on small patterns and texts, where
backtracking is harmless, both must agree on what matches where and on every replacement.
One known difference is left out: where a pattern can match the empty string, the engines
resume differently after an empty match (`a*|b` on "b": re finds "", "b", ""; RE2 "", "");
GNU grep and sed, leftmost-longest, differ from both ("b"), before and after this change.
"""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st

from migrate.shell import regex as rx

ATOMS = st.sampled_from(["a", "b", ".", "[ab]", "[^a]", "\\.", "x"])


def _pattern(depth: int = 2, may_be_empty: bool = True) -> st.SearchStrategy[str]:
    """Patterns of the shapes grep/sed/case produce. A group never matches the empty string:
    repeating a group that can (`(a*|b)*`) is where backtracking engines and RE2 part ways on
    which iteration wins, and where Python's `re` is exponential anyway."""
    group = _pattern(depth - 1, may_be_empty=False).map(lambda p: f"({p})") if depth else ATOMS
    atom = st.one_of(ATOMS, group)
    repeats = ["", "", "*", "+", "?", "{1,2}"] if may_be_empty else ["", "", "+", "{1,2}"]
    piece = st.tuples(atom, st.sampled_from(repeats)).map("".join)
    branch = st.lists(piece, min_size=1, max_size=3).map("".join)
    return st.lists(branch, min_size=1, max_size=2).map("|".join)


PATTERNS = st.one_of(_pattern(), _pattern().map(lambda p: f"^({p})"), _pattern().map(lambda p: f"({p})$"))
TEXTS = st.text(alphabet="ab.x", max_size=8)


@given(PATTERNS, TEXTS)
def test_matching_agrees_with_python_re(pattern, text):
    ours = rx.search(pattern, text)
    theirs = re.search(pattern, text)
    assert (ours is None) == (theirs is None)
    if theirs is not None:
        assert ours.span() == theirs.span()
    if not re.fullmatch(pattern, ""):
        assert [m.span() for m in rx.finditer(pattern, text)] == [m.span() for m in re.finditer(pattern, text)]
    assert rx.fullmatch(pattern, text, dotall=True) == (re.fullmatch(pattern, text, re.S) is not None)


@given(PATTERNS, TEXTS, st.sampled_from(["-", "[\\g<0>]", "<\\g<1>>", "\\t", ""]), st.integers(0, 2))
def test_substitution_agrees_with_python_re(pattern, text, repl, count):
    if "\\g<1>" in repl and re.compile(pattern).groups < 1:
        repl = "-"
    if count != 1 and re.fullmatch(pattern, ""):
        count = 1  # the first match is the same; after an empty one the engines resume differently
    assert rx.sub(pattern, repl, text, count) == re.sub(pattern, repl, text, count=count)


def test_a_backtracking_pattern_takes_linear_time():
    text = "a" * 100_000 + "!"
    start = time.monotonic()
    assert rx.search("(a+)+$", text) is None
    assert not rx.fullmatch("(a|aa)*b", text)
    assert not rx.fullmatch(".*a.*a.*a.*a.*a.*b", text, dotall=True)
    assert time.monotonic() - start < 2  # Python's re: exponential, or n**5 for the last one


def test_what_re2_cannot_express_is_unsupported_not_a_wrong_answer():
    try:
        rx.search(r"(a)\1", "aa")
    except rx.Unsupported:
        pass
    else:
        raise AssertionError("a back-reference must not be evaluated by RE2")
