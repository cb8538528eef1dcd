"""Syntax trees for plain statement lines, built here so that shfmt encodes less.

shfmt parses a script in a few milliseconds; printing the tree as typed JSON
costs it 50-100 ms for 400 lines, and decoding that JSON costs us another 15-25,
in proportion to the nodes. Most lines of a launch script are plain statements
(`TP=${TP:-1}`, `ARGS="$ARGS --flag $X"`, `export NCCL_X=1`, `local v=$1`,
`mkdir -p $DIR`, `[ "$FSDP" -eq 1 ]`), and their trees are regular. For each
statement in a small grammar that starts a line (or follows `if`/`while`...),
we build the very tree shfmt would print (same node types, fields, key order
and positions) and hand shfmt a copy of the file in which the statement, or a
block of them on consecutive lines, is replaced by the command `:` and blanks of
the same bytes (a line continuation ends each line but the last). shfmt then
parses the placeholder as a statement wherever bash would parse the original
as one (top level, an `if` body or condition, a function, a case item, after
`&&` on the line before), and `restore` swaps our trees in.

Safety does not rest on guessing the context. A placeholder spans exactly the
statements' bytes and keeps the quoting balanced, so every enclosing node keeps
its positions. When the text was not a statement (inside a heredoc, a
multi-line string or array, after a line continuation, a block where a pipeline
needs one statement), shfmt does not return a placeholder statement there,
`restore` reports failure and the caller parses the original file instead.
Comments before a placeholder and what follows it on its line stay in the text;
shfmt parses them around the placeholder and `restore` keeps them.
tests/test_shell_assignment_lines.py compares the result with shfmt's own tree
for every fixture and for generated scripts.

Imports only interpreter built-ins: `migrate.shell.early` uses it before the
CLI's own imports.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

TYPE_CHECKING = False  # `typing` is not imported at run time: the CLI's start-up path avoids it

if TYPE_CHECKING:
    from typing import Any

    Node = dict[str, Any]
else:
    Node = dict

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NAME_START = frozenset(_LETTERS + "_")
_NAME = frozenset(_LETTERS + "_0123456789")
_DIGITS = frozenset("0123456789")
_PRINTABLE = frozenset(chr(c) for c in range(32, 127)) | {"\t"}
# literal wherever they appear in an unquoted word (no quoting, expansion, glob, brace, tilde or comment)
_UNQUOTED = frozenset(_LETTERS + "0123456789-_./:,+@%=")
# literal inside double quotes (newlines too); `\\` is handled on its own
_DOUBLE = (_PRINTABLE | {"\n"}) - frozenset('"$`\\')
_SINGLE = (_PRINTABLE | {"\n"}) - frozenset("'")
# the word of `${NAME<op>word}`: one line, no backslash, brace or tilde; quotes only as nodes of their own
_BRACE_UNQUOTED = _UNQUOTED
_BRACE_DOUBLE = _PRINTABLE - frozenset('"$`\\{}~\'')
_CONDITIONS = frozenset({"if", "elif", "while", "until"})  # a statement may follow them on their line
_OPS = (":-", ":=", ":+", ":?", "-", "=", "+", "?")
_VARIANTS = frozenset({"export", "local", "readonly", "declare", "typeset"})
_BLANKS = " \t"
_PLAIN_STMT_KEYS = frozenset({"Pos", "End", "Comments", "Cmd", "Position"})
_FIRST = _NAME_START | {"[", "."}  # how a statement of the grammar starts (`[ ... ]`, `. file`)
_WORD_ENDS = frozenset(" \t\n;|&")  # where a word of the grammar may end (bash ends words at more)
_STATEMENT_ENDS = frozenset("\n;|&")  # may follow the last word at once or after blanks
_AFTER_BLANK = frozenset("#<>")  # may follow the last word after a blank: a comment, a redirection
# first words that are not plain commands for shfmt (reserved words, declarations, `let`, `[[`)
_NOT_COMMANDS = frozenset({"if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until",
                           "do", "done", "in", "function", "time", "coproc", "declare", "local", "export",
                           "readonly", "typeset", "nameref", "let", "[[", "]]", "]", "!", "{", "}"})


class Found:
    """Statements whose trees are built here, masked as one: their byte span in the file and the
    trees (one statement, or consecutive lines of them in one statement list)."""

    __slots__ = ("start", "end", "stmts")

    def __init__(self, start: int, end: int, stmts: list) -> None:
        self.start, self.end, self.stmts = start, end, stmts


def scan(data: bytes) -> list[Found]:
    """The statements of `data` that the grammar here covers, each starting a line (or following
    `if`, `elif`, `while`, `until` there), in order. Heredoc bodies and continued lines are skipped
    (only to spare a wasted parse: `restore` would catch a statement that is not one)."""
    text = data.decode("latin-1")  # one char per byte: offsets are byte offsets; values are ASCII only
    starts = [0]
    find = text.find
    at = find("\n")
    while at != -1:
        starts.append(at + 1)
        at = find("\n", at + 1)
    lexer = _Lexer(text, starts)
    found: list[Found] = []
    first, size, count = _FIRST, len(text), len(starts)
    heredocs: list[tuple[str, bool]] = []  # delimiters whose bodies come next
    continued = False  # the line before ended in a backslash
    line = 0
    while line < count:
        at = starts[line]
        stop = starts[line + 1] - 1 if line + 1 < count else size
        if heredocs:
            body = text[at:stop]
            delimiter, dash = heredocs[0]
            if (body.lstrip("\t") if dash else body) == delimiter:
                heredocs.pop(0)
            line += 1
            continue
        hit = None
        if not continued:
            while at < stop and text[at] in _BLANKS:
                at += 1
            if at < stop and text[at] in first:
                hit = lexer.statement(at)
                if hit is None:
                    head = lexer.name_end(at)
                    if text[at:head] in _CONDITIONS and head < stop and text[head] in _BLANKS:
                        while head < stop and text[head] in _BLANKS:
                            head += 1
                        if head < stop:
                            hit = lexer.statement(head)
        if hit is not None:
            found.append(hit)
            line = bisect_right(starts, hit.end) - 1  # a statement's last line
            at = hit.end
            stop = starts[line + 1] - 1 if line + 1 < count else size
        rest = text[at:stop]
        if "<<" in rest:
            heredocs = _heredoc_delimiters(rest)
        continued = rest.endswith("\\")
        line += 1
    return _grouped(text, found)


def _grouped(text: str, found: list[Found]) -> list[Found]:
    """Consecutive statements, one line after the other (nothing between them but the newline and
    indentation, nothing after the first on its line), masked as one placeholder: shfmt then sees
    one statement for a block of assignments."""
    out: list[Found] = []
    for hit in found:
        last = out[-1] if out else None
        if last is not None and _only_a_newline_between(text, last.end, hit.start) and _ends_its_line(text, hit.end):
            last.end = hit.end
            last.stmts.extend(hit.stmts)
        else:
            out.append(hit)
    return out


def _ends_its_line(text: str, at: int) -> bool:
    """Nothing but blanks after `at` on its line (no `|`, `&&`, `;`, comment: they would attach to
    the placeholder of the whole block)."""
    stop = text.find("\n", at)
    return not text[at:stop if stop != -1 else len(text)].strip(" \t")


def _only_a_newline_between(text: str, a: int, b: int) -> bool:
    gap = text[a:b]
    return gap.count("\n") == 1 and not gap.strip(" \t\n")


def _heredoc_delimiters(text: str) -> list[tuple[str, bool]]:
    """The delimiters of the heredocs a line opens (`<<EOF`, `<<-'EOF'`, ...), a guess in order."""
    out = []
    at = text.find("<<")
    while at != -1:
        i = at + 2
        if text.startswith("<", i):  # a here-string
            at = text.find("<<", i + 1)
            continue
        dash = text.startswith("-", i)
        i += dash
        while i < len(text) and text[i] in _BLANKS:
            i += 1
        j = i
        while j < len(text) and text[j] not in " \t;&|<>()":
            j += 1
        word = text[i:j].replace("'", "").replace('"', "").replace("\\", "")
        if word and (word[0] in _NAME_START):
            out.append((word, dash))
        at = text.find("<<", j)
    return out


def mask(data: bytes, found: list[Found]) -> bytes:
    """`data` with each found statement replaced by the command `:` and blanks, byte for byte;
    a statement over several lines ends each but its last with a line continuation."""
    if not found:
        return data
    out = bytearray(data)
    for hit in found:
        span = data[hit.start:hit.end]
        if b"\n" not in span:
            out[hit.start:hit.end] = b":" + b" " * (len(span) - 1)
            continue
        lines = span.split(b"\n")
        masked = [b": " + b" " * (len(lines[0]) - 3) + b"\\"]
        masked += [b" " * (len(line) - 1) + b"\\" for line in lines[1:-1]]
        masked.append(b" " * len(lines[-1]))
        out[hit.start:hit.end] = b"\n".join(masked)
    return bytes(out)


def restore(tree: Node, found: list[Found]) -> bool:
    """Swap the built trees in for their placeholders in shfmt's tree of the masked file; False
    (the tree is then unusable) unless every placeholder came back as a statement.

    The placeholder statement keeps what shfmt parsed around it: the comments before it go to the
    first statement it stands for; `;`, redirections, `&` after it to the last. A node that ended
    with the `:` (the statement, a pipeline or list it ends, the file) ends where the last
    statement does."""
    if not found:
        return True
    starts = [hit.start for hit in found]
    by_start = {hit.start: hit for hit in found}
    short_ends = {hit.start + 1: hit for hit in found}
    swapped = 0

    def placeholder(node: Node) -> Found | None:
        position = node.get("Position")
        if position is None:
            return None
        hit = by_start.get(position["Offset"])
        if hit is None:
            return None
        cmd = node.get("Cmd")
        if (cmd is None or cmd.get("Type") != "CallExpr" or "Assigns" in cmd or len(cmd.get("Args") or ()) != 1
                or cmd["End"]["Offset"] != hit.start + 1):
            return None
        return hit

    def replace(node: Node, hit: Found) -> list[Node]:
        nonlocal swapped
        swapped += 1
        stmts = list(hit.stmts)
        if "Comments" in node:
            first = stmts[0]
            stmts[0] = {"Pos": first["Pos"], "End": first["End"], "Comments": node["Comments"], "Cmd": first["Cmd"],
                        "Position": first["Position"]}
        extra = [key for key in node if key not in _PLAIN_STMT_KEYS]
        if extra:
            ours = stmts[-1]
            last = {}
            for key, value in node.items():
                if key in ("Pos", "Cmd", "Position"):
                    value = ours[key]
                elif key == "End" and value["Offset"] == hit.start + 1:
                    value = ours["End"]
                elif key == "Comments":
                    if len(stmts) > 1:
                        continue
                    value = ours.get("Comments", value)
                last[key] = value
            stmts[-1] = last
        return stmts

    def holds_target(node: Node) -> bool:
        pos, end = node.get("Pos"), node.get("End")
        if pos is None or end is None:
            return True
        i = bisect_left(starts, pos["Offset"])
        return i < len(starts) and starts[i] < end["Offset"]

    stack = [tree]
    while stack:
        item = stack.pop()
        if type(item) is list:
            spliced = None
            for i, child in enumerate(item):
                if type(child) is dict and holds_target(child):
                    hit = placeholder(child)
                    if hit is not None:
                        if spliced is None:
                            spliced = item[:i]
                        spliced.extend(replace(child, hit))
                        continue
                    stack.append(child)
                if spliced is not None:
                    spliced.append(child)
            if spliced is not None:
                item[:] = spliced
            continue
        end = item.get("End")
        if end is not None and end.get("Offset") in short_ends:
            item["End"] = dict(short_ends[end["Offset"]].stmts[-1]["End"])
        for key, child in item.items():
            kind = type(child)
            if kind is list:
                stack.append(child)
            elif kind is dict and "Offset" not in child and holds_target(child):
                hit = placeholder(child)
                if hit is not None:
                    if len(hit.stmts) != 1:
                        return False  # one statement's place (a pipeline's side) for several
                    item[key] = replace(child, hit)[0]
                else:
                    stack.append(child)
    return swapped == len(found)


# ---------------------------------------------------------------------------- the grammar


class _Lexer:
    """Reads one statement of the grammar at a time from the whole text, building shfmt's nodes."""

    def __init__(self, text: str, starts: list[int]) -> None:
        self.s, self.n, self.starts = text, len(text), starts
        self.lo = self.hi = -1  # the line that `pos` saw last: [lo, hi) and its number
        self.line = 0

    def pos(self, at: int) -> dict:
        if self.lo <= at < self.hi:
            return {"Offset": at, "Line": self.line, "Col": at - self.lo + 1}
        starts = self.starts
        line = bisect_right(starts, at)
        self.lo, self.line = starts[line - 1], line
        self.hi = starts[line] if line < len(starts) else self.n + 1
        return {"Offset": at, "Line": line, "Col": at - self.lo + 1}

    def lit(self, a: int, b: int, typed: bool, continued: bool = False) -> Node:
        """A literal; one that a backslash-newline ends inside double quotes ends, for shfmt, one byte
        further on (the backslash) at the backslash's own column."""
        if not self.lo <= a < self.hi:
            self.pos(a)
        lo, line = self.lo, self.line
        if b < self.hi:
            end_line, end_col = line, b - lo + 1
        else:
            end = self.pos(b)
            end_line, end_col = end["Line"], end["Col"]
        start_col = a - lo + 1
        node = {"Type": "Lit"} if typed else {}
        end_offset = b + 1 if continued else b
        node["Pos"] = {"Offset": a, "Line": line, "Col": start_col}
        node["End"] = {"Offset": end_offset, "Line": end_line, "Col": end_col}
        node["ValuePos"] = {"Offset": a, "Line": line, "Col": start_col}
        node["ValueEnd"] = {"Offset": end_offset, "Line": end_line, "Col": end_col}
        node["Value"] = self.s[a:b]
        return node

    def name_end(self, at: int) -> int:
        s, n = self.s, self.n
        while at < n and s[at] in _NAME:
            at += 1
        return at

    def statement(self, i: int) -> Found | None:
        """A simple command of the grammar starting at `i`: `[export|local|...] NAME=value...`, or
        assignments, then a command name and its arguments, all made of plain words. After it: a
        newline, a comment, or (on the same line) `;`, `|`, `&`, or a redirection after a blank,
        which shfmt parses around the placeholder."""
        s, n = self.s, self.n
        start = i
        head = self.name_end(i)
        if head < n and s[head] in _BLANKS and s[i:head] in _VARIANTS:
            return self.declaration(start, head)
        assigns: list[Node] = []
        args: list[Node] = []
        while True:
            if not args and s[i] in _NAME_START:
                got = self.assign(i, False)
                if got is not None:
                    assigns.append(got[0])
                    end = i = got[1]
                elif "=" in s[i:self.name_end(i) + 2]:
                    return None  # NAME=, NAME+= with a value outside the grammar
                else:
                    got = None
            else:
                got = None
            if got is None:
                word = self.word(i)
                if word is None:
                    return None
                if not args:
                    first = s[i:word[1]]
                    if first in _NOT_COMMANDS or "=" in first or len(word[0]["Parts"]) != 1 \
                            or word[0]["Parts"][0].get("Type") != "Lit":
                        return None
                args.append(word[0])
                end = i = word[1]
            i = self.after_word(end)
            if i is None:
                return None
            if i < 0:
                break
        if end - start < 3 or not self.maskable(start, end):
            return None
        pos = self.pos
        cmd = {"Type": "CallExpr", "Pos": pos(start), "End": pos(end)}
        if assigns:
            cmd["Assigns"] = assigns
        if args:
            cmd["Args"] = args
        return Found(start, end, [{"Pos": pos(start), "End": pos(end), "Cmd": cmd, "Position": pos(start)}])

    def declaration(self, start: int, head: int) -> Found | None:
        """`export|local|readonly|declare|typeset NAME[=value]...` (no options)."""
        s, n = self.s, self.n
        variant = self.lit(start, head, False)
        i = head
        while i < n and s[i] in _BLANKS:
            i += 1
        assigns: list[Node] = []
        while True:
            got = self.assign(i, True)
            if got is None:
                return None
            assigns.append(got[0])
            end = got[1]
            i = self.after_word(end)
            if i is None:
                return None
            if i < 0:
                break
        if not self.maskable(start, end):
            return None
        pos = self.pos
        cmd = {"Type": "DeclClause", "Pos": pos(start), "End": pos(end), "Variant": variant, "Args": assigns}
        return Found(start, end, [{"Pos": pos(start), "End": pos(end), "Cmd": cmd, "Position": pos(start)}])

    def after_word(self, end: int) -> int | None:
        """Where the next word starts after a word ending at `end`; -1 when the statement ends there
        (see `statement`), None when the word does not end at a blank."""
        s, n = self.s, self.n
        i = end
        while i < n and s[i] in _BLANKS:
            i += 1
        if i == n or s[i] in _STATEMENT_ENDS or (i > end and self.after_blank(i)):
            return -1
        return None if i == end else i

    def maskable(self, start: int, end: int) -> bool:
        """A statement over several lines is masked with a line continuation on each but its last:
        none of them may be empty, and no comment may follow it (shfmt attaches a comment by the
        line its statement ends on)."""
        s = self.s
        if s.find("\n", start, end) == -1:
            return True
        stop = s.find("\n", end)
        return s.find("\n\n", start, end) == -1 and s.find("#", end, stop if stop != -1 else self.n) == -1

    def after_blank(self, i: int) -> bool:
        """What ends a statement after a blank: a comment, or a redirection (`>f`, `2>&1`, `<<EOF`)."""
        s, n = self.s, self.n
        if s[i] in _AFTER_BLANK:
            return True
        while i < n and s[i] in _DIGITS:
            i += 1
        return i < n and s[i] in "<>"

    def word(self, at: int) -> tuple[Node, int] | None:
        """A command word: literal runs, expansions and quoted strings (or a lone `[` or `]`)."""
        s, n = self.s, self.n
        if s[at] in "[]" and (at + 1 == n or s[at + 1] in _WORD_ENDS):
            return {"Pos": self.pos(at), "End": self.pos(at + 1), "Parts": [self.lit(at, at + 1, True)]}, at + 1
        parts, end = self.value(at)
        if not parts:
            return None
        return {"Pos": self.pos(at), "End": self.pos(end), "Parts": parts}, end

    def assign(self, at: int, naked_ok: bool) -> tuple[Node, int] | None:
        s, n = self.s, self.n
        stop = self.name_end(at)
        if stop == at or s[at] not in _NAME_START:
            return None
        append = s.startswith("+=", stop)
        if append or s.startswith("=", stop):
            value_at = stop + (2 if append else 1)
            parts, end = self.value(value_at)
            if parts is None or (append and not parts):
                return None  # (shfmt ends an empty `NAME+=` one byte early)
            node: Node = {"Pos": self.pos(at), "End": self.pos(end)}
            if append:
                node["Append"] = True
            node["Name"] = self.lit(at, stop, False)
            if parts:
                node["Value"] = {"Pos": self.pos(value_at), "End": self.pos(end), "Parts": parts}
            return node, end
        if naked_ok and (stop == n or s[stop] in _WORD_ENDS):
            return {"Pos": self.pos(at), "End": self.pos(stop), "Naked": True, "Name": self.lit(at, stop, False)}, stop
        return None

    def value(self, at: int) -> tuple[list | None, int]:
        """An unquoted word: literal runs, expansions and quoted strings, up to a blank or newline."""
        s, n = self.s, self.n
        parts: list = []
        while at < n and s[at] not in _WORD_ENDS:
            c = s[at]
            if c in _UNQUOTED:
                stop = at + 1
                while stop < n and s[stop] in _UNQUOTED:
                    stop += 1
                parts.append(self.lit(at, stop, True))
                at = stop
                continue
            got = self.quoted_or_param(at, False)
            if got is None:
                return None, at
            parts.append(got[0])
            at = got[1]
        return parts, at

    def quoted_or_param(self, at: int, in_double: bool) -> tuple[Node, int] | None:
        c = self.s[at]
        if c == "$":
            return self.param(at, in_double)
        if c == '"':
            return self.double(at)
        if c == "'" and not in_double:
            return self.single(at)
        return None

    def single(self, at: int) -> tuple[Node, int] | None:
        s, n = self.s, self.n
        close = at + 1
        while close < n and s[close] in _SINGLE:
            close += 1
        if close >= n or s[close] != "'":
            return None
        node = {"Type": "SglQuoted", "Pos": self.pos(at), "End": self.pos(close + 1), "Left": self.pos(at),
                "Right": self.pos(close)}
        if close > at + 1:
            node["Value"] = s[at + 1:close]
        return node, close + 1

    def double(self, at: int) -> tuple[Node, int] | None:
        """`"..."`: literal runs (backslash escapes kept as written; a backslash-newline ends a run and
        is dropped) and parameter expansions."""
        s, n = self.s, self.n
        parts: list = []
        i = at + 1
        while i < n:
            c = s[i]
            if c == '"':
                node = {"Type": "DblQuoted", "Pos": self.pos(at), "End": self.pos(i + 1), "Left": self.pos(at),
                        "Right": self.pos(i)}
                if parts:
                    node["Parts"] = parts
                return node, i + 1
            if c == "$":
                got = self.param(i, True)
                if got is None:
                    return None
                parts.append(got[0])
                i = got[1]
                continue
            run = i
            while i < n:
                c = s[i]
                if c in _DOUBLE:
                    i += 1
                elif c == "\\" and i + 1 < n:
                    if s[i + 1] == "\n":
                        if i == run and parts and parts[-1].get("Short"):
                            return None  # bash joins `$A\<newline>B` into `$AB`
                        if i > run:
                            parts.append(self.lit(run, i, True, continued=True))
                        i += 2
                        run = i
                    elif s[i + 1] in _PRINTABLE:
                        i += 2
                    else:
                        return None
                else:
                    break
            if i > run:
                parts.append(self.lit(run, i, True))
            if i < n and s[i] not in '"$':
                return None  # a backquote, or a byte outside printable ASCII
        return None

    def param(self, at: int, in_double: bool) -> tuple[Node, int] | None:
        """`$NAME`, `$1`, `${NAME}` or `${NAME<op>word}` starting at the `$`."""
        s, n, pos = self.s, self.n, self.pos
        nxt = s[at + 1] if at + 1 < n else ""
        if nxt and nxt in _NAME_START:
            stop = self.name_end(at + 1)
            return {"Type": "ParamExp", "Pos": pos(at), "End": pos(stop), "Dollar": pos(at), "Short": True,
                    "Param": self.lit(at + 1, stop, False)}, stop
        if nxt and nxt in _DIGITS:
            return {"Type": "ParamExp", "Pos": pos(at), "End": pos(at + 2), "Dollar": pos(at), "Short": True,
                    "Param": self.lit(at + 1, at + 2, False)}, at + 2
        if nxt != "{" or at + 2 >= n:
            return None
        first = at + 2
        if s[first] in _NAME_START:
            stop = self.name_end(first)
        elif s[first] in _DIGITS:
            stop = first
            while stop < n and s[stop] in _DIGITS:
                stop += 1
        else:
            return None
        if stop >= n:
            return None
        if s[stop] == "}":
            return {"Type": "ParamExp", "Pos": pos(at), "End": pos(stop + 1), "Dollar": pos(at),
                    "Rbrace": pos(stop), "Param": self.lit(first, stop, False)}, stop + 1
        op = next((o for o in _OPS if s.startswith(o, stop)), None)
        if op is None:
            return None
        word_at = stop + len(op)
        chars = _BRACE_DOUBLE if in_double else _BRACE_UNQUOTED
        parts: list = []
        i = word_at
        while i < n and s[i] != "}":
            if s[i] in chars:
                run = i
                while i < n and s[i] in chars:
                    i += 1
                parts.append(self.lit(run, i, True))
                continue
            got = self.quoted_or_param(i, in_double)
            if got is None:
                return None
            parts.append(got[0])
            i = got[1]
        if i >= n:
            return None
        exp: Node = {"Op": op}
        if parts:
            exp["Word"] = {"Pos": parts[0]["Pos"], "End": pos(i), "Parts": parts}
        return {"Type": "ParamExp", "Pos": pos(at), "End": pos(i + 1), "Dollar": pos(at), "Rbrace": pos(i),
                "Param": self.lit(first, stop, False), "Exp": exp}, i + 1
