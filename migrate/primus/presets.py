"""Where our snapshot of each Primus release's presets lives.

From a source checkout (the README's editable install) the snapshot is the
repository's `configs/` folder; a wheel installs the same files as data files
under `<prefix>/share/primus-migrate/configs/`. Everything that needs a preset
directory asks `presets_root()`, so there is one answer.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from migrate.diagnostics import MigrateError

_SOURCE_ROOT = Path(__file__).resolve().parents[2] / "configs"


def _candidates() -> list[Path]:
    found = [_SOURCE_ROOT]
    for prefix in (sys.prefix, sysconfig.get_path("data")):
        if prefix:
            found.append(Path(prefix) / "share" / "primus-migrate" / "configs")
    return found


def presets_root() -> Path:
    """The folder holding one `<target>/` folder per target (each with its `target.json`)."""
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate
    raise MigrateError(
        "the bundled Primus preset snapshot (configs/) was not found",
        hint="reinstall primus-migrate (`pip install -e .` from the repository)",
    )
