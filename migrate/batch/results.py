"""What one batch run found, per script and per variant, in a JSON-ready form.

Workers return these (not `Conversion` objects) so that only small, plain
data crosses the process boundary, and so that the report writers never need
the conversion machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["converted", "converted_with_warnings", "rejected", "skipped"]

STATUSES: tuple[Status, ...] = ("converted", "converted_with_warnings", "rejected", "skipped")

STATUS_TEXT: dict[str, str] = {
    "converted": "converted",
    "converted_with_warnings": "converted with warnings",
    "rejected": "rejected",
    "skipped": "skipped",
}


@dataclass
class VariantResult:
    """One conversion of a script under one knob assignment."""

    label: str                                # "MODEL_SIZE=70", "default"
    env: dict[str, str]                       # knob overrides passed to the script
    status: Status
    reason: str | None = None                 # rejected: the located message
    location: str | None = None               # rejected: file:line:col, relative to the batch root
    warnings: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    experiment: str | None = None             # path of the experiment YAML in the output tree
    model: str | None = None                  # path of the (shared) model YAML, None: a preset as is
    parity_ok: bool | None = None             # static parity re-checked on the final tree
    parity_differences: list[list[Any]] = field(default_factory=list)  # [dest, expected, resolved]
    changed_keys: list[str] = field(default_factory=list)  # keys differing from the script's default variant
    is_default: bool = False
    same_as: str | None = None                # an earlier variant of the script with the very same run
    legacy_schema: str | None = None          # the option table that read the script (migrate.megatron.schema_choice)
    category: str | None = None               # rejected/skipped: a code of migrate.batch.categories
    next_step: str | None = None              # rejected/skipped: the command or action that moves it on
    run: str | None = None                    # converted: its launch script in the output tree (beside it)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScriptResult:
    """Everything about one discovered script; `files` is what it adds to the tree."""

    script: str                               # path relative to the batch root, posix
    status: Status                            # script level: skipped/rejected, else the worst variant
    reason: str | None = None
    location: str | None = None
    variants: list[VariantResult] = field(default_factory=list)
    capped: bool = False                      # more variants existed than the cap allowed
    knobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {default, compared_with, varied}
    knob_keys: dict[str, list[str]] = field(default_factory=dict)   # knob -> Megatron keys it drives
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)             # relpath -> content
    category: str | None = None               # rejected/skipped: a code of migrate.batch.categories
    next_step: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("files")
        return data


def worst_status(statuses: list[Status]) -> Status:
    """A script is as good as its worst variant (rejected > with warnings > converted)."""
    for status in ("rejected", "converted_with_warnings", "converted"):
        if status in statuses:
            return status  # type: ignore[return-value]
    return "skipped"
