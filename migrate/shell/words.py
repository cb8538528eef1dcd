"""Word expansion: quoting, splitting and empty-field removal, as bash does them.

Expansion first produces `Piece`s (text plus whether it was quoted) and
`BREAK` markers (element boundaries of "$@" and "${arr[@]}"); `split_fields`
then applies IFS splitting to the unquoted pieces only. The `$` expansions inside a word
(`${...}`, `$( )`, `$(( ))`) go back through the interpreter (`ev.param_expansion`,
`ev.command_subst`, `ev.arith_text`): this module imports none of the modules that call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate.shell.text import EMPTY, Seg, Text, concat, plain, to_str

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator


@dataclass(frozen=True, slots=True)
class Piece:
    """Expanded text and whether it was quoted (quoted text is not field-split or globbed)."""

    text: Text
    quoted: bool


class _Break:
    def __repr__(self) -> str:
        return "BREAK"


BREAK = _Break()
Item = Piece | _Break

_DQ_ESCAPABLE = '$`"\\\n'
_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b",
              "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


ASSUMED_HOME = "/root"  # the home directory assumed when the run's environment does not give HOME


def assumed_home(ev: Evaluator, node: dict | None) -> Text:
    """$HOME (and `~`) when no HOME was given: an assumed value, stated like the GPU count."""
    ev.note(node, f"$HOME is not given; assumed to be {ASSUMED_HOME} (pass HOME=... to set it)")
    return plain(ASSUMED_HOME, ev.origin(node))


def lit_pieces(ev: Evaluator, node: dict, quoted: bool, first: bool) -> list[Item]:
    """A literal's characters with escapes removed and their lines kept."""
    raw: str = node.get("Value", "")
    offset, line, _ = _pos(node)
    out: list[Item] = []
    plain_chars: list[str] = []
    cur_line = line

    def flush(escaped: str | None = None, at: int = 0) -> None:
        if plain_chars:
            text = "".join(plain_chars)
            out.append(Piece(ev.text_at(text, offset, cur_line), quoted))
            plain_chars.clear()
        if escaped is not None:
            out.append(Piece(ev.text_at(escaped, offset + at, cur_line), True))

    if not quoted and first and raw.startswith("~") and (len(raw) == 1 or raw[1] == "/"):
        home = ev.state.lookup("HOME")
        if home is not None:
            out.append(Piece(home.scalar(), True))
        else:
            out.append(Piece(assumed_home(ev, node), True))
        raw = raw[1:]
    if "\\" not in raw and "\n" not in raw:  # the common case: one piece, as the loop below would give
        if raw:
            out.append(Piece(ev.text_at(raw, offset, line), quoted))
        return out
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if quoted:
                if nxt in _DQ_ESCAPABLE:
                    plain_chars.append(nxt)
                else:
                    plain_chars.append("\\" + nxt)
            else:
                flush(nxt, i)
            i += 2
            continue
        if ch == "\n":
            plain_chars.append(ch)
            flush()
            cur_line += 1
            i += 1
            continue
        plain_chars.append(ch)
        i += 1
    flush()
    return out


def _pos(node: dict) -> tuple[int, int, int]:
    p = node.get("Pos") or {}
    return p.get("Offset", 0), p.get("Line", 0), p.get("Col", 0)


def decode_c_string(raw: str) -> str:
    """$'...' escapes."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in _C_ESCAPES:
                out.append(_C_ESCAPES[nxt])
                i += 2
                continue
            m = re.match(r"x([0-9a-fA-F]{1,2})|([0-7]{1,3})", raw[i + 1 :])
            if m:
                out.append(chr(int(m.group(1), 16)) if m.group(1) else chr(int(m.group(2), 8)))
                i += 1 + len(m.group(0))
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def expand_parts(ev: Evaluator, parts: list[dict], quoted: bool = False) -> list[Item]:
    items: list[Item] = []
    for index, part in enumerate(parts):
        kind = part.get("Type")
        if kind == "Lit":
            items.extend(lit_pieces(ev, part, quoted, first=index == 0))
        elif kind == "SglQuoted":
            value = part.get("Value", "")
            if part.get("Dollar"):
                value = decode_c_string(value)
            offset, line, _ = _pos(part)
            items.append(Piece(ev.text_at(value, offset + 1, line), True))
        elif kind == "DblQuoted":
            inner_parts = part.get("Parts") or []
            inner = expand_parts(ev, inner_parts, quoted=True)
            if inner or not inner_parts:  # "" keeps an empty field; "$@" with no elements is no word
                items.append(Piece(EMPTY, True))
            items.extend(inner)
        elif kind == "ParamExp":
            items.extend(ev.param_expansion(part, quoted))
        elif kind == "CmdSubst":
            items.append(Piece(ev.command_subst(part), quoted))
        elif kind == "ArithmExp":
            items.append(Piece(ev.arith_text(part.get("X"), part), quoted))
        elif kind == "ProcSubst":
            items.append(Piece(ev.unknown_text("/dev/fd/63", part, "process substitution"), quoted))
        elif kind == "ExtGlob":
            items.append(Piece(ev.text_at(part.get("Op", "") + part.get("Pattern", {}).get("Value", "") + ")",
                                          *_pos(part)[:2]), quoted))
        else:
            items.append(Piece(ev.unknown_text("", part, f"unsupported word part {kind}"), quoted))
    return items


def split_fields(items: list[Item], ifs: str = " \t\n") -> list[Text]:
    """IFS splitting of unquoted pieces and removal of empty unquoted fields."""
    fields: list[Text] = []
    cur: list[Text] = []
    alive = False
    ifs_white = "".join(c for c in ifs if c in " \t\n")
    for item in items:
        if isinstance(item, _Break):
            if alive:
                fields.append(concat(*cur))
            cur, alive = [], False
            continue
        if item.quoted or not ifs:
            cur.append(item.text)
            alive = True
            continue
        for seg in item.text:
            start = 0
            text = seg.text
            for i, ch in enumerate(text):
                if ch in ifs:
                    if i > start:
                        cur.append((Seg(text[start:i], seg.origin, seg.unknown),))
                        alive = True
                    if alive or ch not in ifs_white:
                        fields.append(concat(*cur))
                    cur, alive = [], False
                    start = i + 1
            if start < len(text):
                cur.append((Seg(text[start:], seg.origin, seg.unknown),))
                alive = True
    if alive:
        fields.append(concat(*cur))
    return fields


def join_items(items: list[Item], sep: str = " ") -> Text:
    """Assignment context: no splitting; element boundaries become a space."""
    out: list[Text] = []
    for item in items:
        if isinstance(item, _Break):
            if out:
                last = out[-1]
                origin = last[-1].origin if last else None
                if origin is not None:
                    out.append(plain(sep, origin))
            continue
        out.append(item.text)
    return concat(*out)


def glob_to_regex(items: list[Item]) -> str:
    """A bash pattern (quoted parts literal) as a Python regex body."""
    out: list[str] = []
    for item in items:
        if isinstance(item, _Break):
            out.append(" ")
            continue
        text = to_str(item.text)
        if item.quoted:
            out.append(re.escape(text))
        else:
            out.append(_glob_chars(text))
    return "".join(out)


def _glob_chars(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = text.find("]", i + 2 if i + 1 < len(text) and text[i + 1] in "!^" else i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = text[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                body = body.replace("\\", "\\\\")
                out.append(f"[{body}]")
                i = end
        elif ch == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]))
            i += 1
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def expand_fields(ev: Evaluator, word: dict) -> list[Text]:
    fields = split_fields(expand_parts(ev, word.get("Parts") or []), ev.ifs())
    ev.budget.count_fields(len(fields))  # "${A[@]}" of a growing array in a loop is work too
    return fields


def expand_string(ev: Evaluator, word: dict | None) -> Text:
    if not word:
        return EMPTY
    return join_items(expand_parts(ev, word.get("Parts") or []))


def expand_pattern(ev: Evaluator, word: dict | None) -> tuple[str, bool]:
    """(regex body, whether any part of the pattern is unknown)."""
    if not word:
        return "", False
    items = expand_parts(ev, word.get("Parts") or [])
    unknown = any(isinstance(i, Piece) and any(s.unknown for s in i.text) for i in items)
    return glob_to_regex(items), unknown
