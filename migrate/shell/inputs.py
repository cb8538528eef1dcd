"""What an evaluation may learn from the file system: the scripts, and nothing beside them.

A conversion is a function of the scripts and the options. The evaluator reads the script files
it evaluates (the script, what it sources or runs), and a file test or a redirection may see
those: a path exists when it is a shell script in the folders of the evaluated scripts, a folder
that holds one of them, or something the script created itself (`mkdir`, `touch`, `>`). Every
other path (data, checkpoints, tokenizer folders, logs of an earlier run, a folder someone made
beside the script) counts as absent whatever the machine holds, so the same scripts convert the
same way everywhere; the tests that relied on this are warned at their line.
"""

from __future__ import annotations

import os
import re
import stat

TYPE_CHECKING = False  # `typing` is not imported at run time: the CLI's start-up path avoids it

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator

SCRIPT_SUFFIXES = (".sh", ".bash", ".sbatch", ".slurm")
_SHEBANG = re.compile(rb"^#!\s*\S*(?:/|env\s+)(?:ba|z|k|da)?sh\b")


def is_shell_script(path: str | os.PathLike[str]) -> bool:
    """A shell script by its name (`.sh`, `.bash`, `.sbatch`, `.slurm`) or, without a suffix, its `#!` line."""
    suffix = os.path.splitext(os.fspath(path))[1]
    if suffix in SCRIPT_SUFFIXES:
        return True
    if suffix:
        return False
    try:
        with open(path, "rb") as fh:
            return bool(_SHEBANG.match(fh.readline(200)))
    except OSError:
        return False


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def known_path(ev: "Evaluator", full: str) -> str | None:
    """'dir', 'file', 'created' (by the script: a folder or a file), or None (absent as far as the
    conversion may know); see the module docstring."""
    full = os.path.normpath(full)
    inside = full.rstrip("/") + "/"
    created = ev.created_paths
    if any(c.startswith(inside) for c in created):
        return "dir"
    if full in created:
        return "created"
    if any(d == full or d.startswith(inside) for d in ev.visible_dirs):
        return "dir"  # a folder of the evaluated scripts (or one above it)
    if ev.is_visible_path(full) and _regular(full) and is_shell_script(full):
        return "file"
    return None
