"""Find the launch scripts of a repository, cheaply, before any evaluation.

The text pre-filter only rules scripts *out* when nothing in them could start a
training run (no launcher, no training entry point, no call of another
script): data preparation and download helpers. Everything else goes to the
shell evaluator, which has the last word ("no training launch found" means a
helper after all).
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from migrate import limits
from migrate.shell.inputs import is_shell_script


# Words that can start (or lead to) a training launch. Matched on whole words.
_LAUNCH_HINTS = re.compile(
    r"(?<![\w.-])(?:torchrun|torch\.distributed\.(?:run|launch)|deepspeed|accelerate\s+launch|srun|mpirun"
    r"|\S*pretrain_\w+\.py|\S*train\w*\.py"
    r"|(?:ba)?sh\s+\S+|source\s+\S+|\.\s+\S+)(?![\w-])"
)
_DIR_SKIP = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv"}


@dataclass(frozen=True)
class Candidate:
    """A file that looks like a shell script, with the pre-filter's verdict."""

    relpath: str            # posix, relative to the batch root
    skip_reason: str | None  # None: evaluate it


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def matches(relpath: str, patterns: Sequence[str]) -> bool:
    """Glob match on the path relative to the batch root (fnmatch: `*` crosses folders).

    A pattern with a "/" matches the whole path or a folder prefix of it (`llama/*`,
    `forks/team_a`); a pattern without one matches any single component, file or
    folder (`train_llama3.sh`, `forks`, `*debug*`). A trailing "/" is ignored.
    """
    parts = PurePosixPath(relpath).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        pattern = pattern.removeprefix("./").rstrip("/")
        if not pattern:
            continue
        candidates = prefixes if "/" in pattern else parts
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            return True
    return False


def prefilter(text: str) -> str | None:
    """Reason to skip a script without evaluating it, or None to evaluate it."""
    if _LAUNCH_HINTS.search(_code(text)):
        return None
    return ("helper: nothing in the text starts a training launch "
            "(no torchrun/python *.py launch, no call of another script)")


# A launch itself (not a call of another script): a launcher or a training entry point.
_LAUNCH_ITSELF = re.compile(
    r"(?<![\w.-])(?:torchrun|torch\.distributed\.(?:run|launch)|deepspeed|accelerate\s+launch"
    r"|\S*pretrain_\w+\.py|\S*train\w*\.py)(?![\w-])"
)


def launch_in_text(text: str) -> bool:
    """True when the script's own code (comments aside) names a training launch.

    A script that stops before its launch (`set -u`, a missing sourced file) is still a training
    script when this holds; one that only calls other scripts may be a wrapper or a helper.
    """
    return bool(_LAUNCH_ITSELF.search(_code(text)))


def _code(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] if not line.lstrip().startswith("#!") else "" for line in text.splitlines())


def discover(
    root: str | os.PathLike[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[Candidate]:
    """Scripts under `root` in sorted (deterministic) order; symlinks are not followed."""
    base = Path(root)
    found: list[Candidate] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in _DIR_SKIP and not d.startswith("."))
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if not _regular(path) or not is_shell_script(path):
                continue  # symlinks are not followed; a pipe or a device is never opened
            rel = path.relative_to(base).as_posix()
            if include and not matches(rel, include):
                continue
            if exclude and matches(rel, exclude):
                continue
            try:
                with path.open("rb") as file:
                    head = file.read(int(limits.current().script_bytes) + 1)
            except OSError as exc:
                found.append(Candidate(rel, f"unreadable: {exc.strerror}"))
                continue
            if len(head) > limits.current().script_bytes:
                found.append(Candidate(rel, None))  # its conversion refuses it, naming the limit
                continue
            found.append(Candidate(rel, prefilter(head.decode("utf-8", "replace"))))
    found.sort(key=lambda c: c.relpath)
    return found
