"""The result of loading a Primus experiment: the namespace Megatron receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrate.diagnostics import Origin


@dataclass
class ResolvedConfig:
    """`values` holds Megatron dests only; everything else Primus keeps is in `primus_only`.

    primus-26.5 fills every dest no config mentions with the pinned Megatron's
    argparse default, so `values` has all of them. primus-0.1 has no such
    fallback: a dest no preset mentions is simply absent from its namespace;
    those dests are listed in `missing` (Megatron code reading them would fail).
    """

    values: dict[str, Any]
    origins: dict[str, Origin]
    primus_only: dict[str, Any]
    profile: str
    missing: list[str] = field(default_factory=list)
    experiment: str = ""
    # What the release's Megatron trainer rewrites before Megatron's own validate_args
    # (migrate.primus.handoff): dest -> (loaded value, rewritten value, rule name). Applied to
    # `values` only when resolve_experiment(..., trainer_rewrites=True) was asked for.
    trainer_rewrites: dict[str, tuple[Any, Any, str]] = field(default_factory=dict)
    rewrites_applied: bool = False
    # Why the release's trainer (or Megatron's validate_args after it) would stop before training
    # (migrate.primus.handoff.trainer_refusals); [] when it trains.
    refusals: list[str] = field(default_factory=list)

    def with_trainer_rewrites(self) -> dict[str, Any]:
        """`values` as Megatron finally receives them, trainer-side rewrites included."""
        out = dict(self.values)
        for key, (_, after, _) in self.trainer_rewrites.items():
            out[key] = after
        return out
