"""Run shfmt once per file and hand back its typed JSON syntax tree.

We never execute the user's script; shfmt's parser gives us bash's own
grammar (quoting, heredocs, arithmetic) as data, and this module is the only
place that knows how to find and call it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from migrate.diagnostics import MigrateError, Origin

Node = dict[str, Any]

_ERROR_RE = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")


@lru_cache(maxsize=1)
def shfmt_binary() -> str:
    """shfmt from the `shfmt-py` wheel (next to the interpreter), else PATH."""
    here = Path(sys.executable).parent
    for name in ("shfmt", "shfmt.exe"):
        candidate = here / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("shfmt")
    if found:
        return found
    raise MigrateError(
        "shfmt was not found next to the Python interpreter or on PATH",
        hint="install the `shfmt-py` package into the same environment",
    )


def _start(data: bytes, filename: str) -> subprocess.Popen:
    try:
        proc = subprocess.Popen(
            [shfmt_binary(), "--to-json", "-ln", "bash", "--filename", filename],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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
    data = text.encode("utf-8", "surrogateescape")
    return _finish(_start(data, filename), data, filename)


_PENDING: dict[tuple[str, str], "threading.Thread"] = {}
_RESULTS: dict[tuple[str, str], tuple[subprocess.Popen, bytes, bytes]] = {}


def prefetch(path: str | Path, display: str | None = None) -> None:
    """Start parsing a script in the background (the CLI does this before its heavy imports)."""
    path = Path(path)
    display = display or str(path)
    try:
        data = path.read_bytes()
    except OSError:
        return  # parse_file reports it
    import threading

    try:
        proc = _start(data, display)
    except MigrateError:
        return
    key = (str(path.resolve()), display)

    def collect() -> None:
        stdout, stderr = proc.communicate(data)
        _RESULTS[key] = (proc, stdout, stderr)

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    _PENDING[key] = thread


_FILE_CACHE: dict[tuple[str, int, int], tuple[str, Node]] = {}


def parse_file(path: Path, display: str) -> tuple[str, Node]:
    """(source text, tree) for a file, cached by path, mtime and size."""
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise MigrateError(f"cannot read script: {exc.strerror}", origin=Origin(display)) from None
    cached = _FILE_CACHE.get(key)
    if cached is None or cached[1].get("_display") != display:
        try:
            text = path.read_bytes().decode("utf-8", "surrogateescape")
        except OSError as exc:
            raise MigrateError(f"cannot read script: {exc.strerror}", origin=Origin(display)) from None
        job = (str(path.resolve()), display)
        pending = _PENDING.pop(job, None)
        if pending is not None:
            pending.join()
        if job in _RESULTS:
            proc, stdout, stderr = _RESULTS.pop(job)
            tree = _finish(proc, None, display, (stdout, stderr))
        else:
            tree = parse_text(text, display)
        tree["_display"] = display
        cached = (text, tree)
        _FILE_CACHE[key] = cached
    return cached


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
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            children = [v for k, v in item.items()
                        if (type(v) is list or (type(v) is dict and k not in _POSITION_KEYS)) and v]
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed(item))
