"""Where a config reference may lead: the same rule for `config:`, `model:`, `extends:`, `bases:`,
`includes:`.

A reference names a file relative to a folder (the preset folder, the experiment's folder, the
referring file's folder); subfolders and `..` are fine while the file stays inside the trees of
this resolution: the target's preset tree and the experiment's own folder. An absolute path, or a
path that leaves those trees (`../../etc/passwd`, or a symbolic link pointing out), is refused
before the file is read: a config must not make the tool read (and print) unrelated files.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from migrate.diagnostics import MigrateError, Origin

# The trees of the resolution in progress (set by resolve_experiment); None: presets read on their
# own, where only absolute references are refused.
ROOTS: ContextVar[tuple[Path, ...] | None] = ContextVar("primus_reference_roots", default=None)


def check_reference(ref: Any, candidate: Path, origin: Origin | None, kind: str = "file") -> None:
    """Refuse `ref` (as written) when it is absolute or `candidate` (where it leads) leaves the roots."""
    if isinstance(ref, str) and os.path.isabs(ref):
        raise MigrateError(f"{kind} '{ref}' is an absolute path; references are names relative to the preset "
                           "folder or the experiment's folder", origin=origin, hint=_HINT)
    roots = ROOTS.get()
    if roots is None:
        return
    where = os.path.realpath(candidate)
    if not any(_inside(where, os.path.realpath(root)) for root in roots):
        raise MigrateError(f"{kind} '{ref}' points outside the preset folder and the experiment's folder",
                           origin=origin, hint=_HINT)


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


_HINT = "copy the file beside the experiment (or into models/megatron/ there) and name it by its file name"
