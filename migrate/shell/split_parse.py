"""Parse a long script with two shfmt processes at once.

shfmt's parser is fast; its typed-JSON encoder is not (60-100 ms for 400 lines)
and runs on one core. A long script is cut at a line that starts a new top-level
command; shfmt parses the first part, and, at the same time, the whole file with
that first part blanked out (every byte but newlines turned into a space), so the
second tree's offsets, lines and columns are those of the whole file. The
statements of the two trees, concatenated, are the whole file's tree.

A cut inside a construct (an open `if`, quote, heredoc, `$(`, `|`, `&&`, array
...) makes shfmt reject the first part; that, a cut after a line-continuation
backslash (shfmt accepts one at the end of input), or trailing comments in the
first part (they would belong to the next statement) all mean: no merge, parse
the whole file as one. tests/test_shell_split_parse.py checks the merge against
whole-file parses at every line boundary of every fixture and of a script built
to put each construct across a cut.

Imports only interpreter built-ins: `migrate.shell.early` uses it before the
CLI's own imports.
"""

from __future__ import annotations

MIN_BYTES = 3000  # non-blank bytes left for shfmt; fewer parse in a few ms: one process
_BLANK = bytes(10 if b == 10 else 32 for b in range(256))  # every byte but newline -> space
_BLOCK_WORDS = (b"fi", b"done", b"esac", b"else", b"elif", b"then", b"do", b"in")
_FILE_KEYS = ("Type", "Pos", "End", "Name", "Stmts", "Last")  # shfmt's order of a File node's keys


def cut_point(data: bytes, masked: bytes | None = None) -> int | None:
    """Byte offset of a line where a new top-level command plausibly starts, near the point that
    gives both shfmt processes the same work, else None. `masked` is what shfmt will be given (the
    file with the statements `assignment_lines` builds blanked out): the work is counted there."""
    if masked is None:
        masked = data
    if len(masked) - masked.count(b" ") < MIN_BYTES:
        return None
    starts = [0]
    find = data.find
    at = find(b"\n")
    while at != -1:
        starts.append(at + 1)
        at = find(b"\n", at + 1)
    n = len(starts)
    middle = _balance_line(masked, starts)
    for distance in range(n // 4):  # look no further than a quarter of the file away from there
        for i in (middle - distance, middle + distance):
            if 1 <= i < n - 1 and _starts_command(data, starts, i):
                return starts[i]
    return None


def _balance_line(data: bytes, starts: list[int]) -> int:
    """The line splitting the script's syntax into halves: shfmt's time follows its node count, which
    words, `$` and quotes track (comment lines count nothing; measured on the benchmark script)."""
    weights = []
    for i in range(len(starts)):
        line = _line(data, starts, i)
        if line.lstrip().startswith(b"#"):
            weights.append(0)
        else:
            weights.append(len(line.split()) + line.count(b"$") + line.count(b'"'))
    half, total = sum(weights) / 2, 0
    for i, weight in enumerate(weights):
        total += weight
        if total >= half:
            return i + 1
    return len(starts) // 2


def _line(data: bytes, starts: list[int], i: int) -> bytes:
    end = starts[i + 1] - 1 if i + 1 < len(starts) else len(data)
    return data[starts[i]:end].rstrip(b"\r")


def _starts_command(data: bytes, starts: list[int], i: int) -> bool:
    """Line i looks like the first line of a top-level command: it begins at column 0 with a name
    (or `[`), the last non-blank line before closes a top-level block (`fi`, `done`, `esac`, `}`) or
    is a complete one-line assignment, and the double quotes before it are balanced (no multi-line
    string open). Only a guess: shfmt and `merge` decide."""
    line = _line(data, starts, i)
    if not line or not (line[:1].isalpha() or line[:1] in b"_["):
        return False
    j = i - 1
    while j > 0 and not _line(data, starts, j).strip():
        j -= 1  # blank lines between two commands
    before = _line(data, starts, j).rstrip()
    first = line.split(None, 1)[0].rstrip(b";")
    if first in _BLOCK_WORDS:
        return False
    if before not in (b"fi", b"done", b"esac", b"}") and not _one_line_assignment(before):
        return False
    at = starts[i]
    return (data.count(b'"', 0, at) - data.count(b'\\"', 0, at)) % 2 == 0


def _one_line_assignment(line: bytes) -> bool:
    """`NAME=value` complete on its line: no continuation, operator, open bracket or odd quotes."""
    name, eq, value = line.partition(b"=")
    if not eq or not name or not (name[:1].isalpha() or name[:1] == b"_") or not name.replace(b"_", b"").isalnum():
        return False
    if value.endswith((b"\\", b"|", b"&&", b"(", b"{")) or value.count(b'"') % 2 or value.count(b"'") % 2:
        return False
    return b"$(" not in value and b"`" not in value and b"<<" not in value


def blank_before(data: bytes, at: int) -> bytes:
    """The file with its first `at` bytes blanked, newlines kept: positions after `at` are unchanged."""
    return data[:at].translate(_BLANK) + data[at:]


def usable_head(data: bytes, at: int, head: dict) -> bool:
    """Whether the head's statements are the whole file's first statements, provided shfmt accepts
    the tail: a File with statements, no trailing comments, no line continuation at the cut."""
    if head.get("Type") != "File" or not head.get("Stmts") or head.get("Last"):
        return False
    last_line = data[:at].rstrip(b"\n").rstrip(b"\r")
    return (len(last_line) - len(last_line.rstrip(b"\\"))) % 2 == 0


def merge(data: bytes, at: int, head: dict, tail: dict) -> dict | None:
    """The whole file's tree from the trees shfmt gave for `data[:at]` (head) and for
    `blank_before(data, at)` (tail); None when the cut is not shown to fall between two top-level
    statements (then parse the whole file)."""
    if not usable_head(data, at, head) or tail.get("Type") != "File":
        return None  # a continuation joins the lines; comments ending the head belong to the next statement
    head_stmts, tail_stmts = head["Stmts"], tail.get("Stmts") or []
    if not tail_stmts:
        return None
    merged: dict = {}
    for key in _FILE_KEYS:
        if key == "Pos":
            value = head.get("Pos")
        elif key == "Stmts":
            value = head_stmts + tail_stmts
        else:
            value = tail.get(key)
        if value is not None:
            merged[key] = value
    return merged
