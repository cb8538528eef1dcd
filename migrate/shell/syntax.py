"""Run shfmt once per file and hand back its typed JSON syntax tree.

We never execute the user's script; shfmt's parser gives us bash's own
grammar (quoting, heredocs, arithmetic) as data, and this module is the only
place that knows how to find and call it. A tree comes from one of two places:
the parse cache (`parse_cache`, the same bytes under the same name parsed
before by the same shfmt) or shfmt itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from typing import Any, Iterator

from migrate import limits
from migrate.diagnostics import MigrateError, Origin
from migrate.shell import parse_cache

Node = dict[str, Any]

_ERROR_RE = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")


@lru_cache(maxsize=1)
def shfmt_binary() -> str:
    """shfmt from the `shfmt-py` wheel (next to the interpreter), else the first on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "shfmt")
    found = here if os.path.isfile(here) and os.access(here, os.X_OK) else shutil.which("shfmt")
    if found:
        return found
    raise MigrateError(
        "shfmt was not found next to the Python interpreter or on PATH",
        hint="install the `shfmt-py` package into the same environment",
    )


def _shfmt_env() -> dict[str, str]:
    """shfmt's environment: Go's collector off up to a memory cap (a one-shot parse frees
    nothing worth collecting; this cuts its time by about a third)."""
    env = dict(os.environ)
    env.setdefault("GOGC", "off")
    env.setdefault("GOMEMLIMIT", "512MiB")
    return env


def _run_shfmt(data: bytes, filename: str) -> Node:
    """shfmt's tree of `data`; a syntax error becomes a MigrateError located in `filename`."""
    try:
        proc = subprocess.run(
            [shfmt_binary(), "--to-json", "-ln", "bash", "--filename", filename],
            input=data, capture_output=True, env=_shfmt_env(), check=False,
        )
    except OSError as exc:
        raise MigrateError(f"could not run shfmt: {exc}") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[0] if message else "shfmt failed"
        match = _ERROR_RE.match(first)
        if match:
            raise MigrateError(
                f"cannot parse script: {match['msg']}",
                origin=Origin(filename, int(match["line"]), int(match["col"])),
            )
        raise MigrateError(f"cannot parse script: {first}", origin=Origin(filename))
    return json.loads(proc.stdout)


def _parse_bytes(data: bytes, filename: str) -> Node:
    """The tree of `data`: from the parse cache when these bytes were parsed before, else shfmt's
    (then kept in the cache for the next run)."""
    binary = shfmt_binary()
    tree = parse_cache.load(data, filename, binary)
    if tree is None:
        tree = _run_shfmt(data, filename)
        parse_cache.store(data, filename, binary, tree)
    return tree


def parse_text(text: str, filename: str) -> Node:
    """Parse bash source text (an `eval` string, `bash -c` text); a syntax error becomes a located
    MigrateError."""
    return _parse_bytes(text.encode("utf-8", "surrogateescape"), filename)


_FILE_CACHE: dict[tuple[str, int, int], tuple[str, Node]] = {}
# A tree is ~0.3 MB of dicts: a batch worker that kept every script it converted grew without
# bound (190 MB at 1,000 scripts). The recent ones serve the variants of one script and the files
# many scripts source; the on-disk parse cache makes an evicted tree cheap to get back.
FILE_CACHE_SIZE = 32


def parse_file(path: str | os.PathLike[str], display: str) -> tuple[str, Node]:
    """(source text, tree) for a file, cached in this process by path, mtime and size."""
    path = os.fspath(path)
    try:
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise MigrateError(f"cannot read script: {exc.strerror}", origin=Origin(display)) from None
    _check_script_file(stat, display)
    cached = _FILE_CACHE.pop(key, None)  # re-inserted below: most recently used last
    if cached is None or cached[1].get("_display") != display:
        data = limits.read_regular_file(path, "script_bytes", display, "script")  # never a pipe, device, giant
        tree = _parse_bytes(data, display)
        tree["_display"] = display  # after `store`: the cached entry is shfmt's tree, unmodified
        cached = (data.decode("utf-8", "surrogateescape"), tree)
    while len(_FILE_CACHE) >= FILE_CACHE_SIZE:
        del _FILE_CACHE[next(iter(_FILE_CACHE))]  # the least recently used
    _FILE_CACHE[key] = cached
    return cached


def _check_script_file(stat: os.stat_result, display: str) -> None:
    """Refuse a script that is not a regular file or is over the size limit, before any read."""
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


def iter_nodes(node: Node | list[Node]) -> Iterator[Node]:
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
