"""Run shfmt once per file and hand back its typed JSON syntax tree.

We never execute the user's script; shfmt's parser gives us bash's own
grammar (quoting, heredocs, arithmetic) as data, and this module is the only
place that knows how to find and call it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from functools import lru_cache

from migrate import limits
from migrate.diagnostics import MigrateError, Origin
from migrate.shell import assignment_lines, early, parse_cache, split_parse
from migrate.shell.plain_command import parse_plain_command

TYPE_CHECKING = False  # `typing` is not imported at run time: the CLI's start-up path avoids it

if TYPE_CHECKING:
    import subprocess  # imported where shfmt is started: a CLI run's early parse needs none of it
    from typing import Any, BinaryIO

    Node = dict[str, Any]
else:
    Node = dict

_ERROR_RE = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")


@lru_cache(maxsize=1)
def shfmt_binary() -> str:
    """shfmt from the `shfmt-py` wheel (next to the interpreter), else PATH."""
    found = early.find_shfmt()
    if found:
        return found
    raise MigrateError(
        "shfmt was not found next to the Python interpreter or on PATH",
        hint="install the `shfmt-py` package into the same environment",
    )


_shfmt_env = early.shfmt_env


def _start(data: bytes, filename: str) -> subprocess.Popen:
    import subprocess

    try:
        proc = subprocess.Popen(
            [shfmt_binary(), "--to-json", "-ln", "bash", "--filename", filename],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_shfmt_env(),
        )
    except OSError as exc:
        raise MigrateError(f"could not run shfmt: {exc}") from None
    return proc


def _finish(proc: subprocess.Popen, data: bytes | None, filename: str,
            output: tuple[bytes, bytes] | None = None) -> Node:
    stdout, stderr = output if output is not None else proc.communicate(data)
    if proc.returncode != 0:
        message = stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[0] if message else "shfmt failed"
        match = _ERROR_RE.match(first)
        if match:
            raise MigrateError(
                f"cannot parse script: {match['msg']}",
                origin=Origin(filename, int(match["line"]), int(match["col"])),
            )
        raise MigrateError(f"cannot parse script: {first}", origin=Origin(filename))
    return json.loads(stdout)


def parse_text(text: str, filename: str) -> Node:
    """Parse bash source text; a syntax error becomes a located MigrateError."""
    tree = parse_plain_command(text, filename)
    if tree is not None:
        return tree  # exactly shfmt's tree, without starting shfmt
    data = text.encode("utf-8", "surrogateescape")
    return _finish(_start(data, filename), data, filename)


def _from_early_jobs(data: bytes, filename: str, jobs: list, cut: int | None, found: list) -> Node:
    """The tree from shfmt run(s) `migrate.shell.early` started on the file with the statements
    `found` masked: one on the whole of it, or two on the parts `split_parse` cut it into (merged).
    Whatever does not fit (a failed cut, a placeholder that is not a statement, an error) is
    parsed again from the original bytes, which also reports shfmt's own error."""
    tree = None
    if len(jobs) == 1:
        code, out, err = early.finish(jobs[0])
        if code == 0 or not found:
            tree = _finish(_Exited(code), None, filename, (out, err))
    else:
        head_code, head_out, _ = early.finish(jobs[0])
        head = json.loads(head_out) if head_code == 0 else None  # decoded while the second part is encoded
        tail_code, tail_out, _ = early.finish(jobs[1])
        if head is not None and tail_code == 0:
            tree = split_parse.merge(assignment_lines.mask(data, found), cut, head, json.loads(tail_out))
    if tree is not None and assignment_lines.restore(tree, found):
        return tree
    return _finish(_start(data, filename), data, filename)  # errors are reported from the whole file


def _parse_masked(data: bytes, filename: str) -> Node:
    """shfmt's tree of `data`, shfmt parsing only what `assignment_lines` does not build."""
    found = assignment_lines.scan(data)
    if found:
        masked = assignment_lines.mask(data, found)
        proc = _start(masked, filename)
        stdout, _ = proc.communicate(masked)
        if proc.returncode == 0:
            tree = json.loads(stdout)
            if assignment_lines.restore(tree, found):
                return tree
    return _finish(_start(data, filename), data, filename)


def _parse_script(data: bytes, text: str, filename: str) -> Node:
    """A whole script's tree: from the parse cache when these bytes were parsed before."""
    tree = parse_plain_command(text, filename)
    if tree is not None:
        return tree
    binary = shfmt_binary()
    tree = parse_cache.load(data, filename, binary)
    if tree is None:
        tree = _parse_masked(data, filename)
        parse_cache.store(data, filename, binary, tree)
    return tree


# prefetched parses: (resolved path, display)
#   -> (shfmt process, the file's bytes, its stdout, its stderr, the statements it was given masked)
_PENDING: dict[tuple[str, str], tuple[subprocess.Popen, bytes, BinaryIO, BinaryIO, list]] = {}


def _scratch_file() -> BinaryIO:
    """An anonymous file in memory: shfmt writes its output there without a reader thread."""
    try:
        return os.fdopen(os.memfd_create("primus-migrate-shfmt", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):
        import tempfile

        return tempfile.TemporaryFile()


def prefetch(path: str | os.PathLike, display: str | None = None) -> None:
    """Start parsing a script in the background (the CLI does this before its heavy imports)."""
    path = os.fspath(path)
    display = display or path  # as parse_file is given it
    if early.started(path, display):
        return  # the CLI started it before its imports
    try:
        data = limits.read_regular_file(path, "script_bytes", display, "script")  # no pipe, device, or giant
        binary = shfmt_binary()
    except (OSError, MigrateError):
        return  # parse_file reports it
    tree = parse_cache.load(data, display, binary)
    if tree is not None:
        _PENDING[(os.path.realpath(path), display)] = (None, data, tree, None, [])
        return
    import subprocess

    found = assignment_lines.scan(data)
    stdin, stdout, stderr = _scratch_file(), _scratch_file(), _scratch_file()
    stdin.write(assignment_lines.mask(data, found))
    stdin.seek(0)
    try:
        proc = subprocess.Popen(
            [binary, "--to-json", "-ln", "bash", "--filename", display],
            stdin=stdin, stdout=stdout, stderr=stderr, env=_shfmt_env(),
        )
    except OSError:
        for file in (stdout, stderr):
            file.close()
        return  # parse_file starts shfmt again and reports the failure
    finally:
        stdin.close()
    _PENDING[(os.path.realpath(path), display)] = (proc, data, stdout, stderr, found)


def _collect(job: tuple[subprocess.Popen, bytes, BinaryIO, BinaryIO, list] | tuple[None, bytes, Node, None, list],
             display: str) -> tuple[str, Node]:
    if job[0] is None:  # the parse cache had it
        return job[1].decode("utf-8", "surrogateescape"), job[2]
    proc, data, stdout, stderr, found = job
    proc.wait()
    output = []
    for file in (stdout, stderr):
        file.seek(0)
        output.append(file.read())
        file.close()
    tree = None
    if proc.returncode == 0 or not found:
        tree = _finish(proc, None, display, (output[0], output[1]))
    if tree is None or not assignment_lines.restore(tree, found):
        tree = _finish(_start(data, display), data, display)  # the original reports its own error
    parse_cache.store(data, display, shfmt_binary(), tree)
    return data.decode("utf-8", "surrogateescape"), tree


class _Exited:
    """What `_finish` reads of a finished shfmt started by `migrate.shell.early`."""

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode


_FILE_CACHE: dict[tuple[str, int, int], tuple[str, Node]] = {}


def parse_file(path: str | os.PathLike, display: str) -> tuple[str, Node]:
    """(source text, tree) for a file, cached by path, mtime and size."""
    path = os.fspath(path)  # os.path, not pathlib: the CLI's start-up path does not import pathlib
    try:
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise MigrateError(f"cannot read script: {exc.strerror}", origin=Origin(display)) from None
    _check_script_file(stat, display)
    cached = _FILE_CACHE.get(key)
    if cached is None or cached[1].get("_display") != display:
        pending = _PENDING.pop((key[0], display), None)
        started = None if pending is not None else early.take(key[0], key[1], key[2], display)
        if pending is not None:
            text, tree = _collect(pending, display)
        elif started is not None:
            data, tree, jobs, cut, found = started
            text = data.decode("utf-8", "surrogateescape")
            if tree is None:
                tree = _from_early_jobs(data, display, jobs, cut, found)
                parse_cache.store(data, display, shfmt_binary(), tree)
        else:
            data = limits.read_regular_file(path, "script_bytes", display, "script")
            text = data.decode("utf-8", "surrogateescape")
            tree = _parse_script(data, text, display)
        tree["_display"] = display
        cached = (text, tree)
        _FILE_CACHE[key] = cached
    return cached


def _check_script_file(stat: os.stat_result, display: str) -> None:
    """Refuse a script that is not a regular file or is over the size limit, before any read
    (an early parse may already hold its bytes: the limit applies all the same)."""
    import stat as stat_module

    if not stat_module.S_ISREG(stat.st_mode):
        raise MigrateError(f"cannot read script: {display} is not a regular file (a pipe, device or folder)",
                           origin=Origin(display), hint="pass a regular file")
    if stat.st_size > limits.current().script_bytes:
        raise limits.exceeded("script_bytes", f"script is {stat.st_size} bytes", Origin(display))


def pos(node: Node) -> tuple[int, int, int]:
    """(offset, line, col) of a node's start; zeros when shfmt gave none."""
    p = node.get("Pos") or {}
    return p.get("Offset", 0), p.get("Line", 0), p.get("Col", 0)


def line_of(node: Node | None) -> int:
    if not node:
        return 0
    return (node.get("Pos") or {}).get("Line", 0)


def lit_word(word: Node | None) -> str | None:
    """The text of a word made of plain literals only, else None."""
    if not word:
        return None
    parts = word.get("Parts") or []
    if parts and all(p.get("Type") == "Lit" for p in parts):
        return "".join(p.get("Value", "") for p in parts)
    return None


_POSITION_KEYS = frozenset({"Pos", "End", "ValuePos", "ValueEnd", "OpPos", "Dollar", "Lparen", "Rparen",
                            "Left", "Right", "Semicolon", "Position", "Hash", "Lbrack", "Rbrack", "DoPos",
                            "DonePos", "ThenPos", "FiPos", "ElsePos", "InPos", "EsacPos", "CasePos", "Rbrace",
                            "Lbrace", "ForPos", "IfPos", "TokPos", "OpEnd", "WhilePos", "FuncPos", "Case",
                            "In", "Esac", "Then", "Fi", "Do", "Done"})


def iter_nodes(node: Any):
    """Every syntax node below `node` in source order, for static scans (positions skipped)."""
    stack = [node]
    pop, extend = stack.pop, stack.extend
    skip = _POSITION_KEYS
    while stack:
        item = pop()
        if type(item) is not dict:
            if type(item) is list:
                extend(reversed(item))
            continue
        yield item
        children: list[Any] = []
        for key, value in item.items():
            if value:
                kind = type(value)
                if kind is list:
                    children.extend(value)
                elif kind is dict and key not in skip:
                    children.append(value)
        if children:
            children.reverse()
            extend(children)
