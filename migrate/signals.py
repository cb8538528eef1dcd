"""SIGINT and SIGTERM as exceptions the CLI turns into a quiet exit (130, 143), with clean-up on the way.

`install()` (the CLI does it) makes both signals raise `Interrupted` in the main thread, so every
`finally:` between the signal and the CLI's handler runs (temporary folders removed, locks released).
`deferred()` holds a signal back while a few file-system steps must happen together (publishing an
output tree): it is raised when the block ends. Library users who do not call `install()` keep
Python's own behaviour.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


_depth = 0
_pending: int | None = None
_installed = False


def _handler(signum: int, frame: object) -> None:
    global _pending
    if _depth:
        _pending = signum
        return
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to `Interrupted` (main thread only; elsewhere a no-op)."""
    global _installed
    try:
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)
        _installed = True
    except ValueError:  # not the main thread
        pass


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run the block whole: a SIGINT/SIGTERM arriving inside it is raised when it ends."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)
