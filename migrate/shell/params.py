"""Parameter expansion: `${v:-d}`, `${#v}`, `${v:o:l}`, `${v#p}`, `${v/a/b}`, arrays, `$@`.

Each operator is one small function over `Text` so origins survive slicing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from migrate.shell import regex as rx
from migrate.shell.state import Var
from migrate.shell.text import EMPTY, Text, concat, is_unknown, plain, slice_text, to_str
from migrate.shell.words import BREAK, Item, Piece, assumed_home, expand_parts, expand_pattern, expand_string

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator

# Never unbound under `set -u` (bash: `$@`, `$*` with no arguments, `$#`, `$?`, ...); a positional
# parameter beyond those given is unbound like any unset variable (`set -u; A=$1` stops the script)
_ALWAYS_BOUND = set("@*#?$!-0")
MISSING_ARGUMENT = "shell-missing-argument"  # diagnostic code: a positional parameter read but not given


def _values(ev: Evaluator, node: dict) -> tuple[list[Text] | None, bool, str]:
    """(values or None when unset, is_multi, join mode '@' | '*' | '')."""
    name = node["Param"]["Value"]
    index = node.get("Index")
    if name in ("@", "*"):
        return list(ev.state.positional), True, name
    if name.isdigit():
        n = int(name)
        if n == 0:
            return [ev.state.arg0], False, ""
        pos = ev.state.positional
        return ([pos[n - 1]] if n <= len(pos) else None), False, ""
    if name == "#":
        return [plain(str(len(ev.state.positional)), ev.origin(node))], False, ""
    if name == "?":
        return [plain(str(ev.state.status), ev.origin(node))], False, ""
    if name == "$":
        return [ev.runtime_var(ASSUMED_PID, "$$", node)], False, ""
    if name == "!":
        return [ev.unknown_text("", node, "the last background process id")], False, ""
    if name == "-":
        return [plain("hB", ev.origin(node))], False, ""
    var: Var | None
    if name == "BASH_SOURCE":
        var = Var(list(ev.source_stack))
    elif name in _SHELL_VARS and ev.state.lookup(name) is None:
        return [_SHELL_VARS[name](ev, node)], False, ""
    else:
        var = ev.read_var(name, node)
    if index is not None:
        sub = _index_text(ev, index)
        if sub in ("@", "*"):
            if var is None:
                return [], True, sub
            return var.elements(), True, sub
        if var is None:
            return None, False, ""
        if isinstance(var.value, dict):
            got = var.value.get(sub)
            return ([got] if got is not None else None), False, ""
        i = ev.arith_expansion(index, node)  # an invalid index is an error that ends the command
        if i is None:
            ev.warn(node, f"index of `{name}` is unknown; element 0 assumed", code="shell-unknown")
            i = 0
        elems = var.value if isinstance(var.value, list) else [var.value]
        if i < 0:
            i += len(elems)
        got = elems[i] if 0 <= i < len(elems) else None
        return ([got] if got is not None else None), False, ""
    if var is None:
        return None, False, ""
    if var.external:  # a value from outside enters the script here: this line is its origin
        value = var.scalar()
        return [plain(to_str(value), ev.origin(node), is_unknown(value))], False, ""
    return [var.scalar()], False, ""


def _hostname(ev: Evaluator, node: dict) -> Text:
    ev.note(node, "$HOSTNAME assumed to be localhost")
    return ev.runtime_text("localhost", "$HOSTNAME", node)


# Run-time values bash computes itself, and the values assumed for them (see Evaluator.runtime_var)
ASSUMED_PID = "12345"

_SHELL_VARS = {  # variables bash sets by itself
    "RANDOM": lambda ev, node: ev.runtime_var("16384", "$RANDOM", node),
    "SRANDOM": lambda ev, node: ev.runtime_var("2147483648", "$SRANDOM", node),
    "BASHPID": lambda ev, node: ev.runtime_var(ASSUMED_PID, "$BASHPID", node),
    "HOSTNAME": _hostname,
    "LINENO": lambda ev, node: plain(str(ev.origin(node).line), ev.origin(node)),
    "SECONDS": lambda ev, node: plain("0", ev.origin(node)),
    "HOME": assumed_home,
}


def _index_text(ev: Evaluator, index: dict) -> str:
    if index.get("Type") == "Word":
        return to_str(expand_string(ev, index))
    return ""


def expand_param(ev: Evaluator, node: dict, quoted: bool) -> list[Item]:
    name = node["Param"]["Value"]
    if node.get("Excl") and not node.get("Names"):
        index = node.get("Index")
        if index is not None and _index_text(ev, index) in ("@", "*"):
            return _emit(ev, _keys(ev, node), True, _index_text(ev, index), quoted)
        return _indirect(ev, node, quoted)
    if node.get("Names"):
        names = sorted(n for n in ev.state.globals if n.startswith(name))
        return _emit(ev, [plain(n, ev.origin(node)) for n in names], True, "@", quoted)
    values, multi, mode = _values(ev, node)
    if node.get("Length"):
        if "nounset" in ev.state.options and name not in _ALWAYS_BOUND:
            if values is None:
                ev.fail(node, f"{name}: unbound variable (set -u)")
            if multi and ev.state.lookup(name) is None:  # bash only abandons the command here
                ev.abort(node, f"{name}: unbound variable (set -u)")
        if multi:
            count = len(values or [])
        else:
            count = len(to_str(values[0])) if values else 0
        return [Piece(plain(str(count), ev.origin(node)), quoted)]
    exp = node.get("Exp")
    if exp:
        result = _apply_exp(ev, node, exp, values, multi, quoted)
        if result is not None:
            return result
    if values is None:
        if "nounset" in ev.state.options and name not in _ALWAYS_BOUND:
            ev.fail(node, f"{name}: unbound variable (set -u)")
        if name.isdigit() and name != "0" and not multi:
            # bash expands it to nothing; a launch built from it is usually missing a value
            ev.note(node, f"${name} expands to nothing: the script was given {len(ev.state.positional)} "
                          f"argument(s)", code=MISSING_ARGUMENT)
        values = [] if multi else [EMPTY]
    if node.get("Slice"):
        values = _slice(ev, node["Slice"], values, multi, mode)
    if node.get("Repl"):
        values = [_replace(ev, node["Repl"], v) for v in values]
    if exp and exp.get("Op") in ("#", "##", "%", "%%"):
        values = [_remove(ev, exp, v) for v in values]
    if exp and exp.get("Op") in ("^", "^^", ",", ",,"):
        values = [_case(exp["Op"], v) for v in values]
    return _emit(ev, values, multi, mode, quoted)


def _emit(ev: Evaluator, values: list[Text], multi: bool, mode: str, quoted: bool) -> list[Item]:
    if not multi:
        return [Piece(values[0] if values else EMPTY, quoted)]
    if quoted and mode == "*":
        sep = (ev.ifs() or "")[:1]
        items: list[Item] = []
        for i, v in enumerate(values):
            if i and sep:
                items.append(Piece(plain(sep, v[0].origin if v else ev.origin(None)), True))
            items.append(Piece(v, True))
        return items or [Piece(EMPTY, True)]
    out: list[Item] = []
    for i, v in enumerate(values):
        if i:
            out.append(BREAK)
        out.append(Piece(v, quoted))
    return out


def _keys(ev: Evaluator, node: dict) -> list[Text]:
    """`${!arr[@]}`: the indices (or associative keys) that are set."""
    var = ev.read_var(node["Param"]["Value"], node)
    origin = ev.origin(node)
    if var is None:
        return []
    if isinstance(var.value, dict):
        return [plain(k, origin) for k in var.value]
    if isinstance(var.value, list):
        return [plain(str(i), origin) for i, v in enumerate(var.value) if v is not None]
    return [plain("0", origin)]


def _indirect(ev: Evaluator, node: dict, quoted: bool) -> list[Item]:
    values, _, _ = _values(ev, node)
    target = to_str(values[0]) if values else ""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
        return [Piece(EMPTY, quoted)]
    var = ev.read_var(target, node)
    return [Piece(var.scalar() if var else EMPTY, quoted)]


def _apply_exp(ev: Evaluator, node: dict, exp: dict, values: list[Text] | None, multi: bool,
               quoted: bool) -> list[Item] | None:
    """Defaulting operators; None means 'not applicable, continue with the value'."""
    op = exp.get("Op", "")
    if op not in (":-", "-", ":=", "=", ":+", "+", ":?", "?"):
        return None
    colon = op.startswith(":")
    if multi:
        is_set = bool(values)
        empty = not values or all(not to_str(v) for v in values)
    else:
        is_set = values is not None
        empty = not is_set or not to_str(values[0])  # type: ignore[index]
    use_word = (not is_set) or (colon and empty)
    name = node["Param"]["Value"]
    if op in (":-", "-", ":=", "="):
        ev.note_default(name, exp.get("Word"), node)
    if op.endswith("+"):
        if use_word:
            return [Piece(EMPTY, quoted)] if not multi else []
        return expand_parts(ev, (exp.get("Word") or {}).get("Parts") or [], quoted) or [Piece(EMPTY, quoted)]
    if not use_word:
        return None
    if op.endswith("?"):
        message = to_str(expand_string(ev, exp.get("Word"))) or "parameter null or not set"
        ev.fail(node, f"{name}: {message}")
    if op.endswith("="):
        value = expand_string(ev, exp.get("Word"))
        ev.assign_scalar(name, value, node)
        return [Piece(value, quoted)]
    # an empty default is still a word: "${X:-}" is one empty argument, not none
    return expand_parts(ev, (exp.get("Word") or {}).get("Parts") or [], quoted) or [Piece(EMPTY, quoted)]


def _slice(ev: Evaluator, sl: dict, values: list[Text], multi: bool, mode: str) -> list[Text]:
    offset = ev.arith_expansion(sl.get("Offset"), sl) if sl.get("Offset") else 0
    length = ev.arith_expansion(sl.get("Length"), sl) if sl.get("Length") else None
    if offset is None or (sl.get("Length") and length is None):
        ev.warn(sl, "substring bounds are unknown; the whole value assumed", code="shell-unknown")
        offset, length = 0, None
    if multi:
        n = len(values)
        start = offset + n if offset < 0 else offset
        if start < 0:
            return []
        end = n if length is None else (start + length if length >= 0 else n + length)
        return values[start:end]
    value = values[0]
    total = len(to_str(value))
    start = offset + total if offset < 0 else offset
    if start < 0 or start > total:
        return [EMPTY]
    if length is None:
        end = total
    elif length < 0:
        end = total + length
        if end < start:
            ev.abort(sl, f"{length}: substring expression < 0")
    else:
        end = start + length
    return [slice_text(value, start, end)]


def _remove(ev: Evaluator, exp: dict, value: Text) -> Text:
    try:
        return _remove_matching(ev, exp, value)
    except rx.Unsupported as exc:
        return ev.unknown_text("", exp, f"a pattern removal whose pattern cannot be evaluated ({exc})")


def _remove_matching(ev: Evaluator, exp: dict, value: Text) -> Text:
    op = exp["Op"]
    regex, _ = expand_pattern(ev, exp.get("Word"))
    text = to_str(value)
    if op in ("#", "##"):
        ends = range(0, len(text) + 1) if op == "#" else range(len(text), -1, -1)
        for end in ends:
            if rx.fullmatch(regex, text[:end], dotall=True, budget=ev.budget):
                return slice_text(value, end)
        return value
    starts = range(len(text), -1, -1) if op == "%" else range(0, len(text) + 1)
    for start in starts:
        if rx.fullmatch(regex, text[start:], dotall=True, budget=ev.budget):
            return slice_text(value, 0, start)
    return value


def _replace(ev: Evaluator, repl: dict, value: Text) -> Text:
    try:
        return _replace_matching(ev, repl, value)
    except rx.Unsupported as exc:
        return ev.unknown_text("", repl, f"a pattern substitution whose pattern cannot be evaluated ({exc})")


def _replace_matching(ev: Evaluator, repl: dict, value: Text) -> Text:
    orig = repl.get("Orig")
    regex, _ = expand_pattern(ev, orig)
    with_text = expand_string(ev, repl.get("With")) if repl.get("With") else EMPTY
    text = to_str(value)
    anchor = ""
    parts_raw = (orig or {}).get("Parts") or []
    first_lit = parts_raw[0].get("Value", "") if parts_raw and parts_raw[0].get("Type") == "Lit" else ""
    if first_lit.startswith("#") or first_lit.startswith("%"):
        anchor = first_lit[0]
        regex = regex[2:] if regex.startswith("\\" + anchor) else regex[1:]
    if not regex:
        return value
    out: list[Text] = []
    pos = 0
    i = 0
    replaced = False
    while i <= len(text):
        if anchor == "#" and i > 0:
            break
        match = None
        for end in range(len(text), i - 1, -1):  # longest match, as bash does
            if anchor == "%" and end != len(text):
                continue
            if rx.fullmatch(regex, text[i:end], dotall=True, budget=ev.budget):
                match = end
                break
        if match is not None and (match > i or regex == ""):
            out.append(slice_text(value, pos, i))
            out.append(with_text)
            ev.budget.check_chars(i + len(out) // 2 * len(to_str(with_text)), "a pattern substitution's result", None)
            pos = i = match
            replaced = True
            if not repl.get("All"):
                break
            continue
        i += 1
    if not replaced:
        return value
    out.append(slice_text(value, pos))
    return concat(*out)


def _case(op: str, value: Text) -> Text:
    text = to_str(value)
    if op == "^^":
        new = text.upper()
    elif op == ",,":
        new = text.lower()
    elif op == "^":
        new = text[:1].upper() + text[1:]
    else:
        new = text[:1].lower() + text[1:]
    return plain(new, value[0].origin, is_unknown(value)) if value else EMPTY
