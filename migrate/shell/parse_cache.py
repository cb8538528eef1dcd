"""Remember shfmt's syntax tree of a script whose bytes we have parsed before.

shfmt's typed JSON costs 60-100 ms for a 400-line script (its encoder, not its
parser), more than bash needs to run the whole script. Users inspect and convert
the same script over and over with different knobs, so the decoded tree is kept
on disk, compressed (about 60 kB for 400 lines), and reused when the exact same
bytes are parsed under the same file name by the same shfmt binary.

An entry stores the script bytes themselves and is used only when they compare
equal, so a hash collision can cost a parse, never a wrong tree. Anything odd
(unreadable folder, corrupt entry, full disk) is a miss; the cache never fails a
run. Set PRIMUS_MIGRATE_NO_CACHE=1 to switch it off, PRIMUS_MIGRATE_CACHE_DIR to
move it (default: $XDG_CACHE_HOME/primus-migrate or ~/.cache/primus-migrate).

A new entry is written when the parse finishes, to a temporary file renamed over
the entry: a reader sees the old entry or the new one, never half of one.
"""

from __future__ import annotations

import marshal
import os
import zlib

FORMAT = 1  # bump when the stored layout or the tree's meaning changes
MAX_ENTRIES = 2000  # pruned to 3/4 of this, oldest first, when a write finds more
_SUFFIX = ".tree"


def cache_dir() -> str | None:
    """The folder for parse entries, or None when caching is switched off."""
    if os.environ.get("PRIMUS_MIGRATE_NO_CACHE", "") not in ("", "0"):
        return None
    root = os.environ.get("PRIMUS_MIGRATE_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "primus-migrate")
    return os.path.join(root, "shfmt")


def _parser_id(binary: str) -> str:
    """Which shfmt made a tree: its path, size and modification time (an upgrade changes them)."""
    stat = os.stat(binary)
    return f"{binary}|{stat.st_size}|{stat.st_mtime_ns}"


def _entry_path(folder: str, data: bytes, filename: str) -> str:
    checksum = zlib.crc32(data, zlib.crc32(filename.encode("utf-8", "surrogateescape") + b"\0"))
    return os.path.join(folder, f"{checksum:08x}-{len(data):x}{_SUFFIX}")


def load(data: bytes, filename: str, binary: str) -> dict | None:
    """The tree shfmt gave for exactly these bytes under this file name, else None."""
    try:
        folder = cache_dir()
        if folder is None:
            return None
        with open(_entry_path(folder, data, filename), "rb") as file:
            stored = marshal.loads(zlib.decompress(file.read()))
        fmt, parser, stored_name, stored_data, tree = stored
        if fmt == FORMAT and parser == _parser_id(binary) and stored_name == filename and stored_data == data:
            return tree
    except Exception:  # noqa: BLE001 - a missing, stale or corrupt entry is a miss
        return None
    return None


def store(data: bytes, filename: str, binary: str, tree: dict) -> None:
    """Keep `tree` (shfmt's output for `data`, decoded, unmodified) for the next run; never raises."""
    _write(data, filename, binary, tree)


def _write(data: bytes, filename: str, binary: str, tree: dict) -> None:
    try:
        folder = cache_dir()
        if folder is None:
            return
        os.makedirs(folder, exist_ok=True)
        blob = zlib.compress(marshal.dumps((FORMAT, _parser_id(binary), filename, data, tree)), 1)
        path = _entry_path(folder, data, filename)
        scratch = f"{path}.{os.getpid()}.tmp"
        with open(scratch, "wb") as file:
            file.write(blob)
        os.replace(scratch, path)  # readers see the old entry or the new one, never half of one
        _prune(folder)
    except Exception:  # noqa: BLE001 - caching is an optimisation; the parse itself succeeded
        try:
            os.unlink(scratch)  # type: ignore[possibly-undefined]
        except Exception:  # noqa: BLE001
            pass


def _prune(folder: str) -> None:
    """Drop the oldest entries once there are more than MAX_ENTRIES."""
    with os.scandir(folder) as found:
        entries = [e for e in found if e.name.endswith(_SUFFIX)]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for entry in entries[: len(entries) - MAX_ENTRIES * 3 // 4]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass
