"""All-or-nothing writes of an output tree.

Commands stage every file in memory (`add`), then `commit()` publishes them:

- under a lock on the output folder's parent (an advisory `flock`), so two runs into the same
  folder never interleave: the second one waits, then finds the first one's files and refuses
  (exit 2) unless `--force`;
- a folder that does not exist yet is written whole into a temporary sibling and renamed into
  place: one step, so it is there complete or not at all;
- into an existing folder each file is written beside its target first; then, with SIGINT and
  SIGTERM held back, every existing target is moved aside and the new file renamed in; a failure
  puts the old files back. Files of the folder that the tree does not name are left alone;
- everything is checked before anything is written: `--force` replaces files, never a directory
  where a file goes (nor a file or link where a directory goes);
- temporary folders are removed on every way out (errors, SIGINT, SIGTERM).

Every file-system failure is a `MigrateError` (exit 2) naming the user's path, never a temporary one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from migrate.diagnostics import MigrateError
from migrate.signals import deferred

LOCK_WAIT_S = 60.0  # how long a run waits for another one writing into the same folder
_TEMP_PREFIX = ".primus-migrate-"


class scratch_folder:  # noqa: N801 - used like a function: `with scratch_folder(...) as path:`
    """A temporary folder removed on every way out: made and removed with SIGINT/SIGTERM held back,
    so a signal can never fall between creating it and the `try` that removes it."""

    def __init__(self, prefix: str = _TEMP_PREFIX, dir: str | os.PathLike[str] | None = None) -> None:
        self.prefix, self.dir = prefix, dir
        self.path: Path | None = None

    def __enter__(self) -> Path:
        with deferred():
            path = self.path = Path(tempfile.mkdtemp(prefix=self.prefix, dir=self.dir))
        return path

    def __exit__(self, *exc: object) -> None:
        with deferred():
            if self.path is not None:
                shutil.rmtree(self.path, ignore_errors=True)


class OutputTree:
    """Files to write below `root`, keyed by their path relative to it."""

    def __init__(self, root: str | os.PathLike[str], force: bool = False) -> None:
        if not os.fspath(root).strip():
            raise MigrateError("the output folder is an empty name",
                               hint="name a folder, e.g. -o configs/ (use -o . for the current folder)")
        self.root = Path(root)
        self.force = force
        self.files: dict[str, bytes] = {}

    def add(self, relpath: str, content: str | bytes) -> None:
        rel = Path(relpath)
        if not rel.parts or rel.parts[-1] in (".", ".."):
            raise MigrateError(f"the output file name is empty ({os.path.join(self.root, relpath)!r} names a "
                               "folder)", hint="name a file, e.g. --plot out/loss.png")
        if rel.is_absolute() or ".." in rel.parts or "\0" in relpath:
            raise ValueError(f"output path must stay inside the output directory: {relpath!r}")
        # surrogateescape: bytes of the input that are not UTF-8 (a file name, a value) come back as they were
        data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        key = rel.as_posix()
        if key in self.files and self.files[key] != data:
            raise ValueError(f"two different contents staged for {key}")
        self.files[key] = data

    # ---- checks ----------------------------------------------------------------------------

    def _check_root(self) -> None:
        root = self.root
        if root.is_symlink() and not root.exists():
            raise MigrateError(f"output path {root} is a symbolic link to {os.readlink(root)}, which does not exist",
                               hint="create the folder it points to, or choose another -o folder")
        if root.exists() and not root.is_dir():
            raise MigrateError(f"output path {root} exists and is not a directory",
                               hint="choose another -o directory")

    def blockers(self) -> list[str]:
        """Staged paths that cannot be written even with --force (a directory or link in the way)."""
        found = []
        for rel in sorted(self.files):
            parts = rel.split("/")
            for i in range(1, len(parts)):
                above = self.root.joinpath(*parts[:i])
                if above.is_symlink() or (above.exists() and not above.is_dir()):
                    found.append(f"{'/'.join(parts[:i])} (not a directory, needed for {rel})")
                    break
            else:
                target = self.root / rel
                if target.is_dir() and not target.is_symlink():
                    found.append(f"{rel} (a directory)")
        return found

    def conflicts(self) -> list[str]:
        """Staged paths that already exist on disk with other content."""
        clashes = []
        for rel, data in sorted(self.files.items()):
            target = self.root / rel
            if target.is_symlink() or (target.exists() and (not target.is_file() or target.read_bytes() != data)):
                clashes.append(rel)
        return clashes

    def check(self) -> None:
        """Refuse, before anything is written, what cannot or must not be replaced."""
        try:
            self._check_root()
            blocked = self.blockers()
            if blocked:
                raise MigrateError(f"cannot write into {self.root}: {_shown(blocked)} is in the way",
                                   hint="move it away or choose another -o directory (--force replaces files only)")
            if self.force:
                return
            clashes = self.conflicts()
        except OSError as exc:
            raise _os_error(exc, self.root) from None
        if clashes:
            raise MigrateError(
                f"{len(clashes)} file(s) in {self.root} would be overwritten: {_shown(clashes)}",
                hint="pass --force to replace them, or choose another -o directory",
            )

    # ---- publishing ------------------------------------------------------------------------

    def commit(self) -> list[Path]:
        """Write every staged file, all or none; returns the paths written."""
        try:
            self._check_root()
            final = self.root.resolve() if self.root.exists() else _absolute(self.root)
            final.parent.mkdir(parents=True, exist_ok=True)
            with _Lock(final.parent, self.root):
                self.check()
                if self.root.exists():
                    self._into_existing(final)
                else:
                    self._as_new_folder(final)
        except OSError as exc:
            raise _os_error(exc, self.root) from None
        return [self.root / rel for rel in self.files]

    def _stage(self, staging: Path) -> None:
        for rel, data in self.files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def _as_new_folder(self, final: Path) -> None:
        with scratch_folder(dir=final.parent) as staging:
            self._stage(staging)
            os.chmod(staging, 0o777 & ~_umask())  # mkdtemp made it 0700; a folder made by mkdir would not be
            with deferred():
                os.rename(staging, final)

    def _into_existing(self, root: Path) -> None:
        with scratch_folder(dir=root) as staging:
            self._stage(staging / "new")
            with deferred():
                _swap_in(root, staging, list(self.files))


def write_or_print(output: str | None, text: str, force: bool = False) -> Path | None:
    """`schema`-style commands: the text to standard output, or to one file (all-or-nothing, no
    overwrite without `force`). Returns the file written, None when printed."""
    if not output:
        sys.stdout.write(text)
        return None
    out = Path(output)
    tree = OutputTree(out.parent if str(out.parent) else ".", force=force)
    tree.add(out.name, text)
    tree.commit()
    return out


def _swap_in(root: Path, staging: Path, rels: list[str]) -> None:
    """Move each staged file over its target; on any failure put every old file back."""
    (staging / "old").mkdir()
    done: list[tuple[str, bool]] = []  # (rel, had an old file)
    made: list[Path] = []
    try:
        for rel in rels:
            target = root / rel
            for folder in reversed(target.parents):
                if len(folder.parts) > len(root.parts) and not folder.exists():
                    folder.mkdir()
                    made.append(folder)
            had_old = target.is_symlink() or target.exists()
            if had_old:
                backup = staging / "old" / rel
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.rename(target, backup)
            done.append((rel, had_old))
            os.rename(staging / "new" / rel, target)
    except BaseException:
        for rel, had_old in reversed(done):
            target = root / rel
            try:
                if had_old:
                    os.replace(staging / "old" / rel, target)
                elif target.exists():
                    target.unlink()
            except OSError:
                pass
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


class _Lock:
    """An exclusive `flock` on the output's parent folder, waited for up to LOCK_WAIT_S."""

    def __init__(self, folder: Path, shown: Path) -> None:
        self.folder, self.shown, self.fd = folder, shown, -1

    def __enter__(self) -> "_Lock":
        try:
            self.fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except PermissionError:  # a parent we may not list (mode 0311): writing below it may still work
            return self
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    self.fd = -1
                    raise MigrateError(f"another primus-migrate has been writing into {self.shown} for "
                                       f"{LOCK_WAIT_S:.0f} s", hint="wait for it to finish, then run again") from None
                time.sleep(0.05)
            except OSError:  # a file system without locks: go on without one
                return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)


def _absolute(path: Path) -> Path:
    """Where a folder that does not exist yet will be: its parent resolved the way the kernel does
    (symbolic links followed before `..`), its own name kept."""
    absolute = Path.cwd() / path
    return absolute.parent.resolve() / absolute.name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _shown(items: list[str]) -> str:
    return ", ".join(items[:5]) + (" ..." if len(items) > 5 else "")


_WHY = {errno.ENAMETOOLONG: "a name is longer than the file system allows", errno.EACCES: "permission denied",
        errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
        errno.ENOTDIR: "a part of the path is not a directory", errno.ELOOP: "too many symbolic links"}


def _os_error(exc: OSError, shown: Path) -> MigrateError:
    """A file-system failure as a clean error that names the user's path, not a temporary one."""
    why = _WHY.get(exc.errno or 0, exc.strerror or str(exc))
    return MigrateError(f"cannot write the output into {shown}: {why}", hint="choose another -o directory")
