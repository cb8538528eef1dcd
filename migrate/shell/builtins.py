"""Bash builtins that change the evaluation: assignment, export/declare/local,
set, shift, source, eval, exit/return, cd, read, echo/printf (into captures).

Each builtin takes the evaluator, the expanded words and the command node and
returns an exit status.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import TYPE_CHECKING, Callable

from migrate.shell.arith import Arith, ArithError, check_index
from migrate.shell.conditions import test_command
from migrate.shell.control import ExitScript, LoopControl, ReturnFn
from migrate.shell.inputs import known_path
from migrate.shell.plan import Token
from migrate.shell.state import Var
from migrate.shell.substitutions import printf as printf_model
from migrate.shell.text import EMPTY, Text, concat, is_unknown, plain, slice_text, to_str
from migrate.shell.words import assumed_home, decode_c_string, expand_fields, expand_string, split_fields, Piece

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Builtin = Callable[["Evaluator", list[Text], dict], int]
BUILTINS: dict[str, Builtin] = {}


def builtin(*names: str) -> Callable[[Builtin], Builtin]:
    def register(fn: Builtin) -> Builtin:
        for name in names:
            BUILTINS[name] = fn
        return fn

    return register


# ---------------------------------------------------------------- assignment
def assign(ev: "Evaluator", node: dict, mode: str, flags: set[str] | None = None) -> None:
    """One `NAME=value`, `NAME+=value`, `NAME=(a b)`, `NAME[i]=v` (mode: plain | local | export | declare)."""
    flags = flags or set()
    name = node["Name"]["Value"]
    origin = ev.origin(node)
    if mode == "local" or (mode == "declare" and "g" not in flags and ev.state.scopes):
        ev.state.declare_local(name)
    old = ev.state.lookup(name)
    local = mode == "local" or (mode == "declare" and "g" not in flags and bool(ev.state.scopes))
    depth = len(ev.state.scopes) if local else 0
    if "i" in flags:  # the attribute holds even when the value below fails to evaluate
        ev.pending_integers.add((name, depth))
    integer = "i" in flags or (old is not None and old.integer) or ev.declared_integer(name)
    if node.get("Array") is not None:
        elems = _array_elems(ev, node.get("Array") or {})
        if "A" in flags or (old is not None and isinstance(old.value, dict)):
            table = dict(old.value) if node.get("Append") and old is not None and isinstance(old.value, dict) else {}
            for key, value in elems:
                table[key if key is not None else str(len(table))] = value
            _store(ev, name, table, origin, flags)
            return
        values = _slots(old) if node.get("Append") and old is not None else []
        for key, value in elems:
            if key is not None:
                try:
                    k = int(key)
                except ValueError:
                    k = len(values)
                check_index(ev, k, node)
                while len(values) <= k:
                    values.append(None)
                values[k] = value
            else:
                values.append(value)
        _store(ev, name, values, origin, flags)
        return
    if node.get("Naked") and node.get("Value") is None:
        if old is None:
            if "a" in flags:
                _store(ev, name, [], origin, flags)
            elif "A" in flags:
                _store(ev, name, {}, origin, flags)
            elif "x" in flags:
                ev.pending_exports.add(name)
        else:
            _store(ev, name, old.value, old.origin, flags, keep_external=True)
        return
    value = expand_string(ev, node.get("Value")) if node.get("Value") else EMPTY
    if integer:
        base = ev.arith_of_text(old.scalar(), node) if node.get("Append") and old is not None else 0
        value = plain(str(base + ev.arith_of_text(value, node)), origin)
    elif node.get("Append") and old is not None:
        value = concat(old.scalar(), value)
    index = node.get("Index")
    if index is not None:
        key = to_str(expand_string(ev, index)) if index.get("Type") == "Word" else \
            str(ev.arith_expansion(index, node) or 0)
        if old is not None and isinstance(old.value, dict):
            table = dict(old.value)
            table[key] = value
            _store(ev, name, table, origin, flags)
            return
        values = _slots(old) if old is not None else []
        got = ev.arith_expansion(index, node)  # an invalid index is an error that ends the command
        if got is None:
            ev.warn(node, f"index of `{name}` is unknown; element 0 assumed", code="shell-unknown")
        k = got or 0
        if k < 0:
            k += len(values)
            if k < 0:
                ev.abort(node, f"{name}[{k - len(values)}]: bad array subscript")
        check_index(ev, k, node)
        while len(values) <= k:
            values.append(None)
        values[k] = value
        _store(ev, name, values, origin, flags)
        return
    _store(ev, name, value, origin, flags, integer=integer)


def _slots(var: Var) -> list:
    """An indexed array's slots (holes kept) for in-place updates; a scalar is slot 0."""
    if isinstance(var.value, list):
        return list(var.value)
    if isinstance(var.value, dict):
        return list(var.value.values())
    return [var.value]


def _store(ev: "Evaluator", name: str, value, origin, flags: set[str], integer: bool = False,
           keep_external: bool = False) -> None:
    old = ev.state.lookup(name)
    attrs: dict[str, bool] = {}
    if "x" in flags or name in ev.pending_exports:
        attrs["exported"] = True
        attrs["script_export"] = True
    if "i" in flags or integer:
        attrs["integer"] = True
    if keep_external and old is not None:
        ev.state.set(name, dataclasses.replace(old, **attrs))  # type: ignore[arg-type]  # bool fields only
        return
    ev.state.assign(name, value, origin, **attrs)


def _array_elems(ev: "Evaluator", array: dict) -> list[tuple[str | None, Text]]:
    out: list[tuple[str | None, Text]] = []
    for elem in array.get("Elems") or []:
        index = elem.get("Index")
        if index is not None:
            key = to_str(expand_string(ev, index)) if index.get("Type") == "Word" else \
                str(ev.arith_expansion(index, elem) or 0)
            out.append((key, expand_string(ev, elem.get("Value"))))
        else:
            for field in expand_fields(ev, elem.get("Value") or {}):
                out.append((None, field))
    return out


def declare(ev: "Evaluator", node: dict) -> int:
    variant = node["Variant"]["Value"]
    mode = {"export": "export", "local": "local"}.get(variant, "declare")
    flags: set[str] = {"x"} if variant == "export" else set()
    if variant == "local" and not ev.state.scopes:
        ev.warn(node, "local: can only be used in a function", code="shell-error")
        return 1
    status = 0
    for arg in node.get("Args") or []:
        if arg.get("Naked") and arg.get("Name") is None:
            for field in expand_fields(ev, arg.get("Value") or {}):
                text = to_str(field)
                if re.fullmatch(r"[-+][aAixrgfnpltu]+", text):  # attribute flags: -x, -ai, +x
                    if text[0] == "-":
                        flags |= set(text[1:])
                    else:
                        flags -= set(text[1:])
                    continue
                status |= _dynamic_assign(ev, field, mode, flags, node)
            continue
        if "f" in flags:
            continue
        assign(ev, arg, mode, flags)
    return status


def _dynamic_assign(ev: "Evaluator", field: Text, mode: str, flags: set[str], node: dict) -> int:
    """`export "$KEY"="$VALUE"`: the name is only known after expansion."""
    text = to_str(field)
    name, eq, _ = text.partition("=")
    if not _NAME.fullmatch(name):
        ev.warn(node, f"{mode}: `{text}': not a valid identifier (bash prints an error and goes on)",
                code="shell-error")
        return 1
    if mode == "local" or (mode == "declare" and "g" not in flags and ev.state.scopes):
        ev.state.declare_local(name)
    old = ev.state.lookup(name)
    if not eq:
        if old is not None:
            _store(ev, name, old.value, old.origin, flags, keep_external=True)
        elif "x" in flags:
            ev.pending_exports.add(name)
        return 0
    value = slice_text(field, len(name) + 1)
    external = name in ev.arg_keys and is_unknown(field) is False and _from_arguments(field, name)
    exported = "x" in flags or (old is not None and old.exported) or name in ev.pending_exports
    script_export = (exported and not external) or (old is not None and old.script_export)
    var = Var(value, exported=exported, integer="i" in flags, origin=ev.origin(node), external=external,
              source="arg" if external else "default", script_export=script_export)
    ev.state.set(name, var)
    return 0


def _from_arguments(field: Text, name: str) -> bool:
    return any(seg.origin.file == "<arguments>" for seg in field)


# ---------------------------------------------------------------- output
@builtin("echo")
def echo(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    if not ev.frames:  # to the terminal: kept only as what an `exit` right after it said (gates.py)
        words = [to_str(f) for f in fields[1:]]
        while words and re.fullmatch(r"-[neE]+", words[0]):
            words = words[1:]
        ev.said = (ev.origin(node), " ".join(words).strip()[:300])
        return 0
    args = fields[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", to_str(args[0])):
        flag = to_str(args[0])
        newline = newline and "n" not in flag
        escapes = "e" in flag
        args = args[1:]
    out: list[Text] = []
    for i, arg in enumerate(args):
        if i:
            out.append(plain(" ", arg[0].origin if arg else ev.origin(node)))
        if escapes:
            arg = plain(decode_c_string(to_str(arg)), arg[0].origin if arg else ev.origin(node), is_unknown(arg))
        out.append(arg)
    if newline:
        out.append(plain("\n", ev.origin(node)))
    ev.write(concat(*out))
    return 0


@builtin("printf")
def printf(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    words = [to_str(f) for f in fields]
    if len(words) > 3 and words[1] == "-v":
        result = printf_model(ev, [words[0]] + words[3:], None)
        if result is None:
            ev.assign_scalar(words[2], ev.unknown_text("", node, "printf -v"), node)
        else:
            ev.assign_scalar(words[2], plain(result.text, ev.origin(node)), node)
        return 0
    result = printf_model(ev, words, None)
    if result is None:
        ev.output_unknown("printf")
        return 0
    ev.write(plain(result.text, ev.origin(node), any(is_unknown(f) for f in fields)))
    return result.status


# ---------------------------------------------------------------- tests and no-ops
@builtin("[", "test")
def test(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    words = [to_str(f) for f in fields[1:]]
    if to_str(fields[0]) == "[":
        if not words or words[-1] != "]":
            ev.warn(node, "[: missing `]'", code="shell-error")
            return 2
        words = words[:-1]
    unknown = any(is_unknown(f) for f in fields)
    status, unknown = test_command(ev, words, unknown, node)
    if unknown:
        ev.status_unknown = True
    return status


@builtin(":", "true", "trap", "wait", "ulimit", "shopt", "umask", "alias", "unalias", "hash", "set+x",
         "disown", "enable", "complete", "history", "sleep", "times", "caller")
def noop(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    return 0


@builtin("false")
def false(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    return 1


# ---------------------------------------------------------------- shell state
@builtin("set")
def set_(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    args = fields[1:]
    names = {"e": "errexit", "u": "nounset", "x": "xtrace", "f": "noglob"}
    i = 0
    while i < len(args):
        word = to_str(args[i])
        if word == "--":
            ev.state.positional = list(args[i + 1 :])
            return 0
        if word in ("-o", "+o") and i + 1 < len(args):
            option = to_str(args[i + 1])
            (ev.state.options.add if word == "-o" else ev.state.options.discard)(option)
            i += 2
            continue
        if word[:1] in "-+" and len(word) > 1:
            change = ev.state.options.add if word[0] == "-" else ev.state.options.discard
            for letter in word[1:]:
                if letter == "o" and i + 1 < len(args):  # `set -euo pipefail`: -o takes the next word
                    i += 1
                    change(to_str(args[i]))
                else:
                    change(names.get(letter, letter))
            i += 1
            continue
        ev.state.positional = list(args[i:])
        return 0
    return 0


@builtin("shift")
def shift(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    n = int(to_str(fields[1])) if len(fields) > 1 and to_str(fields[1]).isdigit() else 1
    if n > len(ev.state.positional):
        return 1
    ev.state.positional = ev.state.positional[n:]
    return 0


@builtin("unset")
def unset(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    functions = False
    for field in fields[1:]:
        word = to_str(field)
        if word == "-f":
            functions = True
        elif word == "-v":
            functions = False
        elif functions:
            ev.state.functions.pop(word, None)
        else:
            ev.state.unset(word)
    return 0


@builtin("readonly", "typeset", "declare", "export", "local")
def declare_words(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    """Reached only when the command name came from an expansion; shfmt parses the literal forms."""
    mode = to_str(fields[0])
    flags = {"x"} if mode == "export" else set()
    for field in fields[1:]:
        text = to_str(field)
        if re.fullmatch(r"[-+][aAixrgfnpltu]+", text):
            flags |= set(text[1:]) if text[0] == "-" else set()
            continue
        _dynamic_assign(ev, field, mode if mode in ("export", "local") else "declare", flags, node)
    return 0


@builtin("let")
def let(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    value = 0
    for field in fields[1:]:
        try:
            value = Arith(ev, node=node).text(to_str(field))
        except ArithError as exc:
            if exc.unknown:
                ev.status_unknown = True
            else:
                ev.warn(node, f"bash error: let: {exc}; status 1", code="shell-error")
            return 1
    return 0 if value else 1


@builtin("cd", "pushd")
def cd(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    args = [to_str(f) for f in fields[1:] if not to_str(f).startswith("-")]
    if not args:
        home = ev.state.lookup("HOME")
        args = [to_str(home.scalar() if home is not None else assumed_home(ev, node))]
    target = os.path.normpath(os.path.join(ev.state.cwd, args[0]))
    if any(is_unknown(f) for f in fields):
        ev.warn(node, "cd to an unknown directory; the working directory is no longer known", code="shell-unknown")
    if known_path(ev, target) not in ("dir", "created"):  # the machine's folders are not looked at
        ev.warn(node, f"cd {args[0]}: directory assumed to exist", code="shell-assumption")
    ev.state.cwd = target
    ev.assign_scalar_str("PWD", target, node)
    return 0


@builtin("popd")
def popd(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    ev.warn(node, "popd: directory stack is not modelled; working directory unchanged")
    return 0


@builtin("getopts")
def getopts(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    """POSIX getopts over the positional (or given) arguments, tracking OPTIND like bash."""
    if len(fields) < 3:
        ev.warn(node, "getopts: usage: getopts optstring name [arg ...]", code="shell-error")
        return 2
    spec, name = to_str(fields[1]), to_str(fields[2])
    args = [to_str(f) for f in fields[3:]] if len(fields) > 3 else [to_str(a) for a in ev.state.positional]
    silent = spec.startswith(":")
    optind_var = ev.state.lookup("OPTIND")
    try:
        optind = int(to_str(optind_var.scalar())) if optind_var is not None else 1
    except ValueError:
        optind = 1
    if optind != ev.getopts_state[0]:
        ev.getopts_state = (optind, 1)
    sub = ev.getopts_state[1]
    origin_node = node
    if optind > len(args):
        ev.assign_scalar_str(name, "?", origin_node)
        return 1
    arg = args[optind - 1]
    if arg == "--":
        ev.assign_scalar_str("OPTIND", str(optind + 1), origin_node)
        ev.getopts_state = (optind + 1, 1)
        ev.assign_scalar_str(name, "?", origin_node)
        return 1
    if not arg.startswith("-") or arg == "-":
        ev.assign_scalar_str(name, "?", origin_node)
        return 1
    letter = arg[sub]
    at = spec.find(letter) if letter != ":" else -1
    next_sub = sub + 1
    next_ind = optind
    if next_sub >= len(arg):
        next_ind, next_sub = optind + 1, 1
    if at < 0:
        ev.assign_scalar_str(name, "?", origin_node)
        if silent:
            ev.assign_scalar_str("OPTARG", letter, origin_node)
        else:
            ev.state.unset("OPTARG")
        ev.assign_scalar_str("OPTIND", str(next_ind), origin_node)
        ev.getopts_state = (next_ind, next_sub)
        return 0
    ev.assign_scalar_str(name, letter, origin_node)
    if at + 1 < len(spec) and spec[at + 1] == ":":
        if sub + 1 < len(arg):
            ev.assign_scalar_str("OPTARG", arg[sub + 1 :], origin_node)
            next_ind = optind + 1
        elif optind < len(args):
            ev.assign_scalar_str("OPTARG", args[optind], origin_node)
            next_ind = optind + 2
        else:
            ev.assign_scalar_str(name, ":" if silent else "?", origin_node)
            if silent:
                ev.assign_scalar_str("OPTARG", letter, origin_node)
            else:
                ev.state.unset("OPTARG")
            next_ind = optind + 1
        next_sub = 1
    else:
        ev.state.unset("OPTARG")
    ev.assign_scalar_str("OPTIND", str(next_ind), origin_node)
    ev.getopts_state = (next_ind, next_sub)
    return 0


@builtin("read", "mapfile", "readarray")
def read(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    name = to_str(fields[0])
    words = [to_str(f) for f in fields[1:]]
    stdin = ev.stdin
    letters = set("".join(w[1:] for w in words if w.startswith("-")))
    array = name in ("mapfile", "readarray") or "a" in letters
    raw = "r" in letters
    targets = [w for i, w in enumerate(words)
               if not w.startswith("-") and not (i and words[i - 1] in ("-p", "-d", "-t", "-n", "-u"))]
    if stdin is None or is_unknown(stdin):
        for target in targets or ["REPLY"]:
            ev.assign_scalar(target, ev.unknown_text("", node, f"{name} from an unknown input"), node)
        ev.status_unknown = True
        return 1
    text = to_str(stdin)
    if name in ("mapfile", "readarray"):
        lines = text.splitlines()
        ev.state.assign(targets[-1] if targets else "MAPFILE", [plain(line, ev.origin(node)) for line in lines],
                        ev.origin(node))
        return 0
    line, newline, rest = text.partition("\n")
    ev.stdin = ev.text_consumed(stdin, len(line) + len(newline))
    if not text:
        return 1
    if not raw:
        line = line.replace("\\", "")
    field_texts = split_fields([Piece(plain(line, stdin[0].origin if stdin else ev.origin(node)), False)], ev.ifs())
    if array:
        slots: list[Text | None] = list(field_texts)
        ev.state.assign(targets[-1] if targets else "REPLY", slots, ev.origin(node))
        return 0 if "\n" in text else 1
    targets = targets or ["REPLY"]
    for i, target in enumerate(targets):
        if i == len(targets) - 1:
            remaining = field_texts[i:]
            value = EMPTY
            if remaining:
                value = concat(*[concat(f, plain(" ", ev.origin(node))) if j < len(remaining) - 1 else f
                                 for j, f in enumerate(remaining)])
            ev.assign_scalar(target, value, node)
        else:
            ev.assign_scalar(target, field_texts[i] if i < len(field_texts) else EMPTY, node)
    return 0 if "\n" in text else 1


# ---------------------------------------------------------------- control flow
EXIT_MESSAGE_LINES = 3  # an `echo` at most this many lines above an `exit` is that exit's message


@builtin("exit")
def exit_(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    status = _status_arg(ev, fields)
    if not ev.frames:
        here, said = ev.origin(node), ev.said
        printed = (f" after printing: {said[1]}" if said and said[1] and said[0].file == here.file
                   and 0 <= here.line - said[0].line <= EXIT_MESSAGE_LINES else "")
        ev.diags.note("shell-exit", f"the script exits here with status {status}{printed}", here)
    raise ExitScript(status)


@builtin("return")
def return_(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    raise ReturnFn(_status_arg(ev, fields))


def _status_arg(ev: "Evaluator", fields: list[Text]) -> int:
    if len(fields) > 1:
        try:
            return int(to_str(fields[1])) & 255
        except ValueError:
            return 2
    return ev.state.status


@builtin("break", "continue")
def loop_control(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    levels = int(to_str(fields[1])) if len(fields) > 1 and to_str(fields[1]).isdigit() else 1
    raise LoopControl(to_str(fields[0]), max(levels, 1))


@builtin("eval")
def eval_(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    parts: list[Text] = []
    for i, field in enumerate(fields[1:]):
        if i:
            parts.append(plain(" ", field[0].origin if field else ev.origin(node)))
        parts.append(field)
    text = concat(*parts)
    if not to_str(text).strip():
        return 0
    return ev.run_text(text, f"{ev.origin(node)} (eval)", node)


@builtin("source", ".")
def source(ev: "Evaluator", fields: list[Text], node: dict) -> int:
    if len(fields) < 2:
        ev.warn(node, "source: filename argument required", code="shell-error")
        return 2
    if is_unknown(fields[1]):
        ev.warn(node, "source of an unknown path; skipped", code="shell-unknown")
        return 1
    name = to_str(fields[1])
    full = os.path.normpath(os.path.join(ev.state.cwd, name))
    root = ev.options.inputs_root
    if root and os.path.commonpath([os.path.realpath(full), os.path.realpath(root)]) != os.path.realpath(root):
        ev.warn(node, f"source: `{name}` not found (outside the folder converted, never read); skipped",
                code="shell-error")
        return 1
    if not os.path.isfile(full):
        ev.warn(node, f"source: `{name}` not found (relative to {ev.state.cwd}); skipped", code="shell-error")
        return 1
    ev.visible_dirs.add(os.path.dirname(full))
    saved_positional = ev.state.positional
    if len(fields) > 2:
        ev.state.positional = list(fields[2:])
    ev.note(node, f"sourced {name}", code="shell-source")
    try:
        ev.run_file(full, _display_for(ev, name, full), fields[1])
        return ev.state.status
    except ReturnFn as ret:
        return ret.status
    finally:
        if len(fields) > 2:
            ev.state.positional = saved_positional


def _display_for(ev: "Evaluator", name: str, full: str) -> str:
    base = os.path.dirname(ev.display) or "."
    script_dir = os.path.dirname(os.path.abspath(os.path.join(ev.options.cwd or os.getcwd(), ev.display)))
    rel = os.path.relpath(full, script_dir)
    return rel if base == "." else os.path.join(base, rel)


def run_child_shell(ev: "Evaluator", fields: list[Text], tokens: list[Token], node: dict) -> bool:
    """`srun bash -c "torchrun ..."` and `srun bash other.sh`: follow into the child shell."""
    words = [t.value for t in tokens]
    at = next((i for i, w in enumerate(words) if os.path.basename(w) in ("bash", "sh")), None)
    if at is None or at + 1 >= len(words):
        return False
    wrappers = tokens[:at]
    saved_state, saved_wrappers = ev.state, ev.wrappers
    child = saved_state.copy()
    child.globals = {k: v for k, v in saved_state.exported().items()}
    child.scopes = []
    child.functions = {}
    try:
        if words[at + 1] == "-c" and at + 2 < len(words):
            ev.state, ev.wrappers = child, ev.wrappers + wrappers
            child.arg0 = fields[at + 3] if at + 3 < len(fields) else fields[at]
            child.positional = list(fields[at + 4 :])
            status = ev.run_text(fields[at + 2], f"{ev.origin(node)} (bash -c)", node)
        else:
            script = words[at + 1]
            full = os.path.normpath(os.path.join(saved_state.cwd, script))
            if script.startswith("-") or not os.path.isfile(full) or not ev.is_visible_path(full):
                return False
            ev.visible_dirs.add(os.path.dirname(full))
            ev.state, ev.wrappers = child, ev.wrappers + wrappers
            child.arg0 = fields[at + 1]
            child.positional = list(fields[at + 2 :])
            ev.run_file(full, _display_for(ev, script, full), fields[at + 1])
            status = child.status
    except (ExitScript, ReturnFn) as exc:
        status = exc.status
    finally:
        ev.state, ev.wrappers = saved_state, saved_wrappers
    ev.state.status = status
    return True
