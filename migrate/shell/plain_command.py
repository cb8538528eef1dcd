"""Syntax trees for one-line plain commands without starting shfmt.

`eval $run_cmd` and `bash -c "$CMD"` usually run text that is nothing but
plain words, perhaps piped into `tee` or redirected to a log. Starting shfmt for
such a string costs a process and a large JSON document; here we build the very
tree shfmt would print for it (same node types, fields and positions; the tests
compare the two). Anything outside that small grammar returns None and goes
to shfmt, which stays the one authority on bash syntax.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # `typing` is not imported at run time: the CLI's start-up path avoids it

if TYPE_CHECKING:
    from typing import Any

    Node = dict[str, Any]
else:
    Node = dict

# Characters that are literal in every position of a bash word (no quoting,
# expansion, globbing, brace, tilde, comment or history meaning).
_WORD_CHARS = "-A-Za-z0-9_./:=,+@%"  # the leading "-" is literal in a class
_WORD = rf"[{_WORD_CHARS}]+"
_TOKEN = re.compile(rf"(?P<space>[ \t]+)|(?P<word>{_WORD})|(?P<op>\|&|\||&>>|&>|>>|>&|<&|>|<)")
_ALLOWED = re.compile(rf"[{_WORD_CHARS} \t|&<>]*")  # one class: a quick, linear first check
_FD_OPS = frozenset({">", ">>", "<", ">&", "<&"})
_PIPES = frozenset({"|", "|&"})
# first words shfmt parses as something other than a simple command
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until",
                       "do", "done", "in", "function", "time", "coproc", "declare", "local", "export",
                       "readonly", "typeset", "nameref", "let"})


def _pos(offset: int) -> dict[str, int]:
    return {"Offset": offset, "Line": 1, "Col": offset + 1}


def _word(start: int, end: int, value: str) -> Node:
    return {"Pos": _pos(start), "End": _pos(end), "Parts": [
        {"Type": "Lit", "Pos": _pos(start), "End": _pos(end), "ValuePos": _pos(start), "ValueEnd": _pos(end),
         "Value": value}]}


def _stmt(args: list[tuple[int, int, str]], redirs: list[Node]) -> Node | None:
    if not args or "=" in args[0][2] or args[0][2] in _KEYWORDS:
        return None
    start, end = args[0][0], args[-1][1]
    stmt_end = max(end, redirs[-1]["End"]["Offset"]) if redirs else end
    stmt: Node = {"Pos": _pos(start), "End": _pos(stmt_end),
                  "Cmd": {"Type": "CallExpr", "Pos": _pos(start), "End": _pos(end),
                          "Args": [_word(*arg) for arg in args]},
                  "Position": _pos(start)}
    if redirs:
        stmt["Redirs"] = redirs
    return stmt


def _pipeline(stmts: list[Node], pipes: list[tuple[int, str]]) -> Node:
    """Pipes associate to the left, as shfmt nests them."""
    left = stmts[0]
    for (at, op), right in zip(pipes, stmts[1:]):
        start = left["Pos"]["Offset"]
        end = right["End"]["Offset"]
        left = {"Pos": _pos(start), "End": _pos(end),
                "Cmd": {"Type": "BinaryCmd", "Pos": _pos(start), "End": _pos(end), "OpPos": _pos(at), "Op": op,
                        "X": left, "Y": right},
                "Position": _pos(start)}
    return left


def parse_plain_command(text: str, name: str) -> Node | None:
    """shfmt's tree for `text` when it is a plain one-line command (pipeline), else None."""
    if not text or not name or not text.isascii() or text[0] in " \t" or text[-1] in " \t":
        return None
    if _ALLOWED.fullmatch(text) is None:
        return None
    tokens: list[tuple[str, int, int, str]] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            return None
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.start(), match.end(), match.group()))
        at = match.end()

    stmts: list[Node] = []
    pipes: list[tuple[int, str]] = []
    args: list[tuple[int, int, str]] = []
    redirs: list[Node] = []
    i = 0
    while i < len(tokens):
        kind, start, end, value = tokens[i]
        if kind == "word":
            args.append((start, end, value))
            i += 1
            continue
        if value in _PIPES:
            stmt = _stmt(args, redirs)
            if stmt is None:
                return None
            stmts.append(stmt)
            pipes.append((start, value))
            args, redirs = [], []
            i += 1
            continue
        # a redirection: an all-digit word written right before it is its fd
        fd = None
        if args and args[-1][1] == start and args[-1][2].isdigit():
            if value not in _FD_OPS:
                return None
            fd = args.pop()
        if not args:
            return None  # a redirection before the command word: leave it to shfmt
        if i + 1 >= len(tokens) or tokens[i + 1][0] != "word":
            return None
        _, w_start, w_end, w_value = tokens[i + 1]
        redir: Node = {"Pos": _pos(fd[0] if fd else start), "End": _pos(w_end), "OpPos": _pos(start), "Op": value}
        if fd:
            redir["N"] = {"Pos": _pos(fd[0]), "End": _pos(fd[1]), "ValuePos": _pos(fd[0]),
                          "ValueEnd": _pos(fd[1]), "Value": fd[2]}
        redir["Word"] = _word(w_start, w_end, w_value)
        redirs.append(redir)
        i += 2
    stmt = _stmt(args, redirs)
    if stmt is None:
        return None
    stmts.append(stmt)
    top = _pipeline(stmts, pipes)
    return {"Type": "File", "Pos": _pos(0), "End": _pos(len(text)), "Name": name, "Stmts": [top]}
