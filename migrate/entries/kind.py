"""What one entry script is: the model it builds and whether a Primus release can train it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_TARGETS = "*"


@dataclass(frozen=True)
class EntryKind:
    """One family of Megatron-LM entry scripts (`pretrain_gpt.py`, `pretrain_bert.py`, ...).

    `paths` are repo-relative, as they exist in upstream NVIDIA Megatron-LM or the ROCm fork;
    `refused` maps a Primus target (or `ALL_TARGETS`) to why that release's pre-trainer cannot
    build this model; a target whose release does not list `family` among the model families
    its Megatron pre-trainer builds (`Release.builds`, migrate.primus.releases) refuses it too.
    `family` is the Primus model family (a preset's `model_type`) the conversion searches, None
    when no target can build it.
    """

    key: str
    paths: tuple[str, ...]
    builds: str
    family: str | None = None
    refused: Mapping[str, str] = field(default_factory=dict)
    read_from: str = ""  # the upstream code the facts above were read from
    # args -> the megatron-core model options the entry really builds with (its own options
    # mapped, the ones it forces); None where the parsed arguments already are what it builds
    built_options: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    def refusal(self, target: str, builds: frozenset[str] | None = None) -> str | None:
        """Why `target` cannot train this entry's model; None when it can. `builds`: the model
        families the target's release builds (looked up from the bundled target when not given)."""
        if self.family is None:
            return self.refused.get(target) or self.refused.get(ALL_TARGETS) or "no Primus release builds this model"
        return self.refused.get(target) or self.refused.get(ALL_TARGETS) or _not_built(self.family, target, builds)


def _not_built(family: str, target: str, builds: frozenset[str] | None) -> str | None:
    from migrate.diagnostics import MigrateError
    from migrate.primus.profiles import canonical_target, catalog, family_builders

    if builds is None:
        info = catalog().get(target)
        if info is None:
            try:
                info = catalog()[canonical_target(target)]
            except MigrateError:  # not a bundled target: nothing known to refuse with
                return None
        builds = info.rules.builds
    if family in builds:
        return None
    able = family_builders(family)
    where = f"; convert with --target {able[0]}, whose trainer builds {family} models" if able else ""
    return f"{target}'s Megatron pre-trainer builds {', '.join(sorted(builds))} models only{where}"
