"""The experiment's name: from the script and the knobs set from outside, or --name, checked."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.diagnostics import MigrateError

if TYPE_CHECKING:
    from migrate.shell.plan import LaunchPlan

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
_NAME_MAX = 200  # `<name>-pretrain.yaml` stays below the usual 255-byte file name limit


def default_name(script: str | Path, plan: LaunchPlan) -> str:
    """`train_llama3` plus the knobs set from outside: `train_llama3-MODEL_SIZE70-TP2`."""
    name = Path(script).stem
    for knob in plan.knobs:
        if knob.source in ("env", "arg") and knob.value is not None:
            name += f"-{knob.name}{knob.value}"
    name = _NAME_CHARS.sub("_", name).strip("._-") or "experiment"  # never a hidden file (`..sh`)
    if len(name) > _NAME_MAX:  # knob values can be long: keep file names well below the 255-byte limit
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[:_NAME_MAX - 11].rstrip('._-')}-{digest}"
    return name


def experiment_name(requested: str | None, script: Path, plan: LaunchPlan) -> str:
    """--name (refused when it is no usable file name) or the default name."""
    name = requested or default_name(script, plan)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", name) or len(name) > _NAME_MAX:
        raise MigrateError(f"--name {name!r} is not a usable file name",
                           hint=f"use letters, digits, '_', '.', '-', not first a '.' or '-', at most {_NAME_MAX}")
    return name
