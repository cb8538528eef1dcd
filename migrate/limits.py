"""Resource limits: the one home of every bound on time, memory and input size.

Scripts and repositories can come from anywhere, so each piece of work the tool
does on them is bounded. Every limit has a name, a default, and one way to
raise it: the environment variable `PRIMUS_MIGRATE_LIMITS`, a comma-separated
list of `name=value` (`PRIMUS_MIGRATE_LIMITS=script_bytes=8M,eval_seconds=120`;
sizes take a K/M/G suffix, powers of 1024). Batch workers inherit it. Going
past a limit is bad input: a `MigrateError` (exit 2) naming the limit, the
value it reached and how to raise it.
"""

from __future__ import annotations

import os
import stat

from migrate.diagnostics import MigrateError, Origin

ENV_VAR = "PRIMUS_MIGRATE_LIMITS"

# name -> (default, what it bounds). Integers unless the name ends in `_seconds`.
DEFAULTS: dict[str, tuple[float, str]] = {
    "script_bytes": (1 << 20, "bytes of a script read by inspect/convert/batch (sourced files included)"),
    "eval_seconds": (60, "seconds of static evaluation of one script"),
    "eval_steps": (1_000_000, "statements evaluated for one script"),
    "loop_iterations": (10_000, "iterations of one loop (past it the loop stops, with a warning)"),
    "call_depth": (64, "nested shell function calls"),
    "string_chars": (1_000_000, "characters in one shell value (a variable, an element, a command's output)"),
    "array_elements": (100_000, "elements of one shell array"),
    "expansion_work": (2_000_000, "words built by expansions (`\"${A[@]}\"` counts each element) for one script"),
    "eval_memory": (2 << 30, "bytes of memory one script's evaluation may add to the process"),
    "config_bytes": (1 << 20, "bytes of one config file (a YAML experiment or preset, a torchtitan TOML)"),
    "yaml_nodes": (200_000, "values in one YAML file, each alias counted as the values it repeats"),
    "yaml_depth": (100, "nesting depth of one YAML file"),
    "extends_depth": (32, "files in one chain of extends:/bases:/includes:"),
    "batch_script_seconds": (300, "wall-clock seconds of one script (all its variants) in batch"),
    "batch_script_memory": (2 << 30, "bytes of memory one batch worker may add while converting a script"),
    "verify_seconds": (300, "wall-clock seconds of a Primus checkout's own code loading the experiments (verify)"),
    "verify_memory": (4 << 30, "bytes of data the verify subprocess (a Primus checkout's own code) may use"),
}

_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class Limits:
    """The limits in force: the defaults, overridden by `PRIMUS_MIGRATE_LIMITS`."""

    __slots__ = ("values",)

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self.values = {name: default for name, (default, _) in DEFAULTS.items()}
        self.values.update(overrides or {})

    def __getattr__(self, name: str) -> float:
        try:
            return self.values[name]  # type: ignore[index]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Limits":
        text = (os.environ if environ is None else environ).get(ENV_VAR, "")
        return cls(parse(text))


def parse(text: str) -> dict[str, float]:
    """`name=value,...` -> overrides; a wrong name or value is bad input (exit 2)."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULTS:
            raise MigrateError(f"{ENV_VAR}: unknown limit `{item}`",
                               hint="known limits: " + ", ".join(sorted(DEFAULTS)))
        try:
            out[name] = _number(raw.strip(), float if name.endswith("_seconds") else int)
        except ValueError:
            raise MigrateError(f"{ENV_VAR}: `{item}` is not a positive number", hint="e.g. script_bytes=8M") from None
    return out


def _number(raw: str, kind: type) -> float:
    scale = _SUFFIX.get(raw[-1:].lower(), 1)
    value = kind(raw[:-1] if scale != 1 else raw) * scale
    if value <= 0:
        raise ValueError(raw)
    return value


def current() -> Limits:
    """The limits of this process (read from the environment each time: tests change it)."""
    return Limits.from_env()


def exceeded(name: str, what: str, origin: Origin | None = None) -> MigrateError:
    """The error for going past limit `name`: says which limit, its value, and how to raise it."""
    value = current().values[name]
    return MigrateError(
        f"{what}: over the limit {name}={show(name, value)} ({DEFAULTS[name][1]})",
        origin=origin, category="limit-exceeded",
        hint=f"if this input is trusted, raise it: {ENV_VAR}={name}={show(name, value * 4)} (see README, Limits)",
    )


def show(name: str, value: float) -> str:
    """A limit's value as it would be written in PRIMUS_MIGRATE_LIMITS (sizes with K/M/G)."""
    if isinstance(value, float):
        return f"{value:g}"
    if name.endswith(("_bytes", "_memory")):
        for suffix, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
            if value >= scale and value % scale == 0:
                return f"{value // scale}{suffix}"
    return str(value)


def read_regular_file(path: str, limit_name: str, display: str, what: str = "file") -> bytes:
    """The bytes of a regular file, at most `limit_name` of them.

    A named pipe, a device (`/dev/zero`) or a socket is refused before any blocking read: the
    file is opened non-blocking and checked with fstat on that same descriptor. The read stops
    one byte past the limit, so an endless or growing file costs at most that much memory.
    """
    limit = int(current().values[limit_name])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise MigrateError(f"cannot read {what}: {exc.strerror}", origin=Origin(display)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe, device or socket)"
            raise MigrateError(f"cannot read {what}: {display} is {kind}", origin=Origin(display),
                               hint=f"pass a regular {what}; copy a generated one to a file first")
        if info.st_size > limit:
            raise exceeded(limit_name, f"{what} is {info.st_size} bytes", Origin(display))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise MigrateError(f"cannot read {what}: {exc.strerror}", origin=Origin(display)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise exceeded(limit_name, f"{what} grew past {limit} bytes while being read", Origin(display))
    return b"".join(chunks)


def cap_memory(extra: int) -> tuple[int, int] | None:
    """Let this process's data (heap, anonymous mappings) grow by at most `extra` bytes: a soft
    RLIMIT_DATA of (data now + extra). Returns the limits it replaced, or None where nothing was
    set (not Linux, or a stricter cap is already in force). RLIMIT_DATA rather than RLIMIT_AS:
    the Go runtime of a shfmt child reserves a gigabyte of address space it never uses."""
    try:
        import resource

        with open("/proc/self/statm", "rb") as file:  # pages: size resident shared text lib data dt
            data = int(file.read().split()[5]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        want = data + extra
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        if soft != resource.RLIM_INFINITY and soft <= want:
            return None
        resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
        return soft, hard
    except (ImportError, OSError, ValueError, IndexError):
        return None


class memory_cap:
    """`with memory_cap("eval_memory"):` the process's data may grow by at most that limit.

    An allocation past it raises MemoryError, which the caller reports as this limit. Only where
    it cannot hurt anyone else: one thread (the cap is process-wide), restored on exit.
    """

    def __init__(self, limit_name: str) -> None:
        self.limit_name = limit_name
        self.saved: tuple[int, int] | None = None
        self.applied = False  # whether this cap (not a stricter one already in force) bounds the block

    def __enter__(self) -> "memory_cap":
        import sys

        threading = sys.modules.get("threading")
        if threading is None or threading.active_count() == 1:
            self.saved = cap_memory(int(current().values[self.limit_name]))
        self.applied = self.saved is not None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_DATA, self.saved)
            self.saved = None
