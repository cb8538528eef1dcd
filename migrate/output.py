"""All-or-nothing writes of an output tree.

Commands that write files stage every file in memory first, then `commit()`
writes them into a temporary sibling directory and moves each into place. A
failure before `commit()` leaves the disk untouched; existing files are never
replaced unless `force` was given.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from migrate.diagnostics import MigrateError


class OutputTree:
    """Files to write below `root`, keyed by their path relative to it."""

    def __init__(self, root: str | os.PathLike[str], force: bool = False) -> None:
        self.root = Path(root)
        self.force = force
        self.files: dict[str, bytes] = {}

    def add(self, relpath: str, content: str | bytes) -> None:
        rel = Path(relpath)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"output path must stay inside the output directory: {relpath}")
        data = content.encode("utf-8") if isinstance(content, str) else content
        key = rel.as_posix()
        if key in self.files and self.files[key] != data:
            raise ValueError(f"two different contents staged for {key}")
        self.files[key] = data

    def conflicts(self) -> list[str]:
        """Staged paths that already exist on disk with other content."""
        clashes = []
        for rel, data in sorted(self.files.items()):
            target = self.root / rel
            if target.exists() and (not target.is_file() or target.read_bytes() != data):
                clashes.append(rel)
        return clashes

    def check(self) -> None:
        """Refuse, before anything is written, to replace files without --force."""
        if self.root.exists() and not self.root.is_dir():
            raise MigrateError(f"output path {self.root} exists and is not a directory",
                               hint="choose another -o directory")
        if self.force:
            return
        clashes = self.conflicts()
        if clashes:
            shown = ", ".join(clashes[:5]) + (" ..." if len(clashes) > 5 else "")
            raise MigrateError(
                f"{len(clashes)} file(s) in {self.root} would be overwritten: {shown}",
                hint="pass --force to replace them, or choose another -o directory",
            )

    def commit(self) -> list[Path]:
        """Write every staged file; returns the paths written."""
        self.check()
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".primus-migrate-", dir=self.root))
        written: list[Path] = []
        try:
            for rel, data in self.files.items():
                tmp = staging / rel
                tmp.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data)
            # Everything is on disk in the staging area: now move into place.
            for rel in self.files:
                target = self.root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / rel, target)
                written.append(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return written
