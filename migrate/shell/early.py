"""Start shfmt on the script named on the command line before the CLI's own imports.

shfmt's JSON dump of a long script costs about as much CPU as importing the
evaluator, so the two should overlap from the first moment. This module
imports only interpreter built-ins (`os`, `sys`, and through `parse_cache` and
`assignment_lines` `marshal`, `zlib` and `bisect`), guesses the script from
argv, builds the trees of its plain statements itself (`assignment_lines`),
and spawns shfmt on the rest with its input and output in anonymous in-memory
files: one process, or two for a long script (`split_parse`). A parse is only ever used for the same file (resolved
path, mtime and size) under the same display name, so a wrong guess costs some
CPU and is otherwise ignored. A script parsed before is not parsed again:
`parse_cache` hands back its stored tree.
"""

from __future__ import annotations

import os
import sys

from migrate import limits
from migrate.shell import assignment_lines, parse_cache, split_parse

# (resolved path, mtime ns, size, display) -> (bytes of the file, cached tree or None,
#   [(pid, stdout fd, stderr fd)], offset of the cut or None, the statements built here (`assignment_lines`))
_STARTED: dict = {}
_SCRIPT_COMMANDS = ("inspect", "convert")  # the subcommands whose first file is a script


def find_shfmt():
    """shfmt from the `shfmt-py` wheel (next to the interpreter), else the first on PATH; None if absent."""
    dirs = [os.path.dirname(sys.executable)]
    names = ("shfmt", "shfmt.exe")
    for name in names:
        candidate = os.path.join(dirs[0], name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or os.curdir, "shfmt")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def shfmt_env() -> dict:
    """shfmt's environment: Go's collector off up to a memory cap (a one-shot parse frees
    nothing worth collecting; this cuts its time by about a third)."""
    env = dict(os.environ)
    env.setdefault("GOGC", "off")
    env.setdefault("GOMEMLIMIT", "512MiB")
    return env


def guess_script(argv: list) -> str | None:
    """The first word after `inspect`/`convert` that names an existing file, or the first word
    itself when it is one (the implicit convert); None otherwise."""
    if "--" in argv:
        argv = argv[: argv.index("--")]  # the script's own arguments follow
    words = [w for w in argv if not w.startswith("-") and "=" not in w]
    if words and words[0] in _SCRIPT_COMMANDS:
        words = words[1:]
    elif words:
        words = words[:1]
    for word in words:
        if os.path.isfile(word):
            return word
    return None


def start(argv: list) -> None:
    """Spawn shfmt on the script `argv` most likely names; never raises."""
    try:
        path = guess_script(argv)
        if path is not None and not started(path, path):
            _spawn(path)
    except Exception:  # noqa: BLE001 - a hint for speed only; the real parse reports any problem
        return


def started(path: str, display: str) -> bool:
    """Whether shfmt already runs on `path` under that display name."""
    resolved = os.path.realpath(path)
    return any(key[0] == resolved and key[3] == display for key in _STARTED)


def _spawn(path: str) -> None:
    binary = find_shfmt()
    if binary is None or not hasattr(os, "memfd_create") or not hasattr(os, "posix_spawn"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        stat = os.fstat(fd)
        if stat.st_size > limits.current().script_bytes:
            return  # refused by parse_file (limit script_bytes): start no parse of it
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size, path)
    tree = parse_cache.load(data, path, binary)
    if tree is not None:
        _STARTED[key] = (data, tree, [], None, [])
        return
    found = assignment_lines.scan(data)
    masked = assignment_lines.mask(data, found)
    at = split_parse.cut_point(data, masked)
    inputs = [masked] if at is None else [masked[:at], split_parse.blank_before(masked, at)]
    jobs = []
    for text in inputs:
        job = _spawn_one(binary, text, path)
        if job is None:
            for pid, out_fd, err_fd in jobs:  # all or nothing: the caller parses again itself
                os.waitpid(pid, 0)
                os.close(out_fd)
                os.close(err_fd)
            return
        jobs.append(job)
    _STARTED[key] = (data, None, jobs, at, found)


def _spawn_one(binary: str, data: bytes, path: str):
    """(pid, stdout fd, stderr fd) of shfmt parsing `data`, its output going to files in memory."""
    fds = [os.memfd_create("primus-migrate-shfmt", os.MFD_CLOEXEC) for _ in range(3)]
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fds[0], view):]
        os.lseek(fds[0], 0, os.SEEK_SET)
        pid = os.posix_spawn(binary, [binary, "--to-json", "-ln", "bash", "--filename", path], shfmt_env(),
                             file_actions=[(os.POSIX_SPAWN_DUP2, fds[i], i) for i in range(3)])
    except OSError:
        for f in fds:
            os.close(f)
        return None
    os.close(fds[0])
    return pid, fds[1], fds[2]


def take(resolved: str, mtime_ns: int, size: int, display: str):
    """An early parse of exactly this file, else None: (its bytes, the cached tree or None, the
    shfmt jobs, the cut, the statements built here). The jobs parse the file with those statements
    masked (`assignment_lines`): one job the whole of it; two the parts `split_parse` cut it into
    at that offset. `finish` each job for its (exit code, stdout, stderr)."""
    return _STARTED.pop((resolved, mtime_ns, size, display), None)


def finish(job) -> tuple:
    """Wait for one shfmt job: (exit code, stdout bytes, stderr bytes)."""
    pid, out_fd, err_fd = job
    _, status = os.waitpid(pid, 0)
    output = []
    for fd in (out_fd, err_fd):
        with os.fdopen(fd, "rb") as file:
            file.seek(0)
            output.append(file.read())
    return os.waitstatus_to_exitcode(status), output[0], output[1]
