"""Redirections to and from files, and the paths a script creates itself.

Bash opens a redirection's file before the command runs: `cat > nodir/x.json` fails when `nodir`
does not exist, `cmd < PATH` fails when PATH does not (a `<PATH TO DATA>` template placeholder
re-parsed by `sh -c` is such a redirection). The command then does not run and its status is 1.
The evaluator knows what the script created (`mkdir`, `touch`, files written by `>`) and what exists
next to the evaluated scripts; any other path is unknown: assumed to exist, with a warning at the
line, as `[ -f ]` tests are.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from migrate.shell.inputs import known_path
from migrate.shell.text import is_unknown, to_str
from migrate.shell.words import expand_string

if TYPE_CHECKING:  # evaluate.py imports this module: the interpreter is reached through `ev`
    from migrate.shell.evaluate import Evaluator

_WRITES = {">", ">>", ">|", "&>", "&>>", "<>", ">&"}
_READS = {"<", "<>"}
_ALWAYS_DIRS = {"/", "/tmp", "/var/tmp", "/dev", "/dev/shm"}


def record_created(ev: Evaluator, words: list[str]) -> None:
    """`mkdir [-p] DIR...` and `touch FILE...`: the paths now exist (as far as the script goes)."""
    created = ev.created_paths
    operands = [w for w in words[1:] if not w.startswith("-")]
    if words[0] == "mkdir" and "-m" in words[1:]:
        operands = operands[1:]  # the mode
    for word in operands:
        created.add(os.path.normpath(os.path.join(ev.state.cwd, word)))


def _created(ev: Evaluator) -> set[str]:
    return ev.created_paths


def _dir_exists(ev: Evaluator, path: str) -> bool | None:
    """True / False when known, None when the script did not create it and we cannot see it."""
    prefix = path.rstrip("/") + "/"
    if path in _ALWAYS_DIRS or any(c == path or c.startswith(prefix) for c in _created(ev)):
        return True
    cwd = ev.state.cwd
    if cwd == path or cwd.startswith(prefix):
        return True
    home = ev.state.lookup("HOME")
    if path == (to_str(home.scalar()) if home is not None else "/root"):
        return True
    if ev.is_visible_path(path):
        return known_path(ev, path) in ("dir", "created")  # the scripts' folders, never what sits beside them
    return None


def _file_exists(ev: Evaluator, path: str) -> bool | None:
    if path in _created(ev) or path.startswith("/dev/") or path.startswith("/proc/"):
        return True
    if ev.is_visible_path(path):
        return known_path(ev, path) in ("file", "created")
    return None


def open_redirects(ev: Evaluator, redirs: list[dict], stmt: dict) -> bool:
    """Check a statement's file redirections as bash opens them; False when bash could not open
    one (the command does not run), warning whenever the outcome is not known."""
    for redir in redirs:
        op = redir.get("Op")
        if op not in _WRITES and op not in _READS:
            continue
        target = expand_string(ev, redir.get("Word"))
        path = to_str(target)
        if is_unknown(target) or not path or (op == ">&" and (path.isdigit() or path == "-")):
            continue
        full = os.path.normpath(os.path.join(ev.state.cwd, path))
        if op in _READS and op != "<>":
            exists = _file_exists(ev, full)
            if exists is False:
                ev.warn(redir, f"bash cannot read `{path}` (no such file): the command does not run (status 1)",
                        code="shell-error")
                return False
            if exists is None:
                ev.warn(redir, f"reads `{path}`, which the script did not create: assumed to exist "
                               "(bash fails the command if it does not)")
            continue
        exists = _dir_exists(ev, os.path.dirname(full))
        if exists is False:
            ev.warn(redir, f"bash cannot write `{path}`: its directory does not exist (the script did not "
                           "create it); the command does not run (status 1)", code="shell-error")
            return False
        if exists is None:
            ev.warn(redir, f"writes `{path}` into `{os.path.dirname(path) or '.'}`, which the script did not "
                           "create: assumed to exist (bash fails the command if it does not)")
        _created(ev).add(full)
    return True
