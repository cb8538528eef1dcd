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

Hostile caches (a shared or planted folder): the folder is created 0700 and used only while it is a
real directory owned by the user (else caching is off for the run); one of the user's that others
could write is made private and emptied first. An
entry is named by a SHA-256 of the format, the shfmt binary's identity, the file name and the script
bytes, carries a SHA-256 of its contents that is checked before anything is decoded, is opened
without following links and must be a regular file of ours, and its tree must have the shape shfmt
gives; anything else is a miss. Temporary files get unpredictable names and are created with
O_EXCL|O_NOFOLLOW, so a planted link is never written through.

A new entry is written when the parse finishes, to a temporary file renamed over
the entry: a reader sees the old entry or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import zlib

FORMAT = 2  # bump when the stored layout or the tree's meaning changes
_MAGIC = b"PMshfmt2"
_MAX_STORED = 64 << 20  # bytes of an entry file read at most
_MAX_TREE = 512 << 20  # bytes an entry may decompress to
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


def _entry_path(folder: str, data: bytes, filename: str, parser: str) -> str:
    key = hashlib.sha256(f"{FORMAT}\0{parser}\0{filename}\0".encode("utf-8", "surrogateescape"))
    key.update(data)
    return os.path.join(folder, key.hexdigest()[:40] + _SUFFIX)


def _private_folder(folder: str, create: bool) -> bool:
    """Is `folder` (made 0700 when `create`) a real directory of this user that no one else can write?
    One of ours that others could write (a umask of 002 made it so) is made private and emptied:
    entries planted while it was open are gone. Anything else (a link, another user's) is not used."""
    try:
        if create:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return False
    import stat

    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False
    if info.st_mode & 0o077:
        try:
            os.chmod(folder, 0o700)
            if info.st_mode & 0o022:
                with os.scandir(folder) as found:
                    for entry in found:
                        if not entry.is_dir(follow_symlinks=False):
                            os.unlink(entry.path)
        except OSError:
            return False
    return True


def _encode(stored: tuple) -> bytes:
    payload = marshal.dumps(stored)
    return _MAGIC + hashlib.sha256(payload).digest() + zlib.compress(payload, 1)


def _decode(blob: bytes) -> object:
    """The stored tuple, or None when the bytes are not an intact entry (checked before decoding)."""
    if not blob.startswith(_MAGIC):
        return None
    digest, body = blob[len(_MAGIC):len(_MAGIC) + 32], blob[len(_MAGIC) + 32:]
    inflate = zlib.decompressobj()
    payload = inflate.decompress(body, _MAX_TREE)
    if inflate.unconsumed_tail or not inflate.eof or hashlib.sha256(payload).digest() != digest:
        return None
    return marshal.loads(payload)


def _read_entry(path: str) -> bytes | None:
    """An entry's bytes: a regular file of this user, opened without following a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        import stat

        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_size > _MAX_STORED:
            return None
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read(_MAX_STORED + 1)
    finally:
        os.close(fd)


def _well_formed(tree: object) -> bool:
    """The shape of shfmt's typed JSON root (what the evaluator reads first)."""
    return (isinstance(tree, dict) and tree.get("Type") == "File" and isinstance(tree.get("Stmts"), list)
            and all(isinstance(k, str) for k in tree))


def _open_scratch(path: str):
    """A new temporary file beside `path`: unpredictable name, created exclusively, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    scratch = f"{path}.{os.getpid()}.{os.urandom(8).hex()}.tmp"
    return scratch, os.fdopen(os.open(scratch, flags, 0o600), "wb")


def load(data: bytes, filename: str, binary: str) -> dict | None:
    """The tree shfmt gave for exactly these bytes under this file name, else None."""
    try:
        folder = cache_dir()
        if folder is None or not _private_folder(folder, create=False):
            return None
        parser = _parser_id(binary)
        blob = _read_entry(_entry_path(folder, data, filename, parser))
        stored = _decode(blob) if blob else None
        if not isinstance(stored, tuple) or len(stored) != 5:
            return None
        fmt, stored_parser, stored_name, stored_data, tree = stored
        if fmt == FORMAT and stored_parser == parser and stored_name == filename and stored_data == data \
                and _well_formed(tree):
            return tree
    except Exception:  # noqa: BLE001 - a missing, stale, planted or corrupt entry is a miss
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
        if not _private_folder(folder, create=True):
            return
        parser = _parser_id(binary)
        blob = _encode((FORMAT, parser, filename, data, tree))
        path = _entry_path(folder, data, filename, parser)
        scratch, file = _open_scratch(path)
        with file:
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
