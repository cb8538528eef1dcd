"""The entry-script registry: which model each Megatron-LM entry script builds.

Static parity compares Megatron arguments, but the entry script decides what is built from
them: `pretrain_bert.py` given GPT-looking arguments still trains BERT. So before anything is
converted the launched program is matched here (one module per family: `gpt`, `deepseek_v2`,
`refused`), and a program this registry does not know, or knows Primus cannot build at the
target, is refused with the launch's location. `--entry-as gpt` is the user's explicit word that
an unknown program builds what `pretrain_gpt.py` builds from the same arguments; it is recorded
in the report and the YAML header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from migrate.diagnostics import MigrateError, Origin
from migrate.entries import deepseek_v2, gpt, refused
from migrate.entries.kind import EntryKind
from migrate.megatron.entry_paths import longest_tail_match
from migrate.shell.plan import LaunchPlan

REGISTRY: tuple[EntryKind, ...] = (*gpt.KINDS, *deepseek_v2.KINDS, *refused.KINDS)
BY_KEY = {kind.key: kind for kind in REGISTRY}
_BY_PATH = {path: kind for kind in REGISTRY for path in kind.paths}
# what `--entry-as` may name: the families some Primus release builds
ENTRY_AS_CHOICES = tuple(kind.key for kind in REGISTRY if kind.family is not None)

_HINTS = {deepseek_v2.DEEPSEEK_V2.key: deepseek_v2.HINT}


@dataclass(frozen=True)
class EntryDecision:
    """The launched program, the registry's kind for it, and how that was decided."""

    program: str  # as the launch names it
    kind: EntryKind
    matched: str | None  # the registry path it matched; None when taken from --entry-as
    accepted_as: str | None = None  # --entry-as KEY, for an unknown program
    origin: Origin | None = None  # the launch in the script

    @property
    def program_as(self) -> str:
        """The entry whose parser and args_defaults the run gets: the program itself when known,
        the family's own entry (pretrain_gpt.py) when accepted with --entry-as."""
        return self.matched or self.kind.paths[0]

    @property
    def family(self) -> str:
        return self.kind.family or "gpt"

    def describe(self) -> str:
        """One line for the YAML header and the report."""
        if self.accepted_as:
            return (f"entry {self.program} is unknown to primus-migrate; converted as if it were "
                    f"{self.kind.paths[0]}, its options and args_defaults included (--entry-as {self.accepted_as})")
        return f"entry {self.program} ({self.matched}) builds {self.kind.builds}"

    def to_json(self) -> dict[str, Any]:
        return {"program": self.program, "kind": self.kind.key, "matched": self.matched,
                "builds": self.kind.builds, "accepted_as": self.accepted_as}


def match(program: str | None) -> tuple[EntryKind, str] | None:
    """The registered kind and path `program` names (longest path tail; None when unknown or tied)."""
    path = longest_tail_match(program, _BY_PATH)
    return (_BY_PATH[path], path) if path else None


def decide_entry(program: str | None, target: str, entry_as: str | None = None,
                 origin: Origin | None = None, builds: frozenset[str] | None = None) -> EntryDecision:
    """The entry decision for a conversion at `target`; refuses (exit 2) what cannot be converted."""
    program = program or "(none)"
    found = match(program)
    if entry_as is not None and entry_as not in ENTRY_AS_CHOICES:
        raise MigrateError(f"--entry-as {entry_as}: not a family Primus builds",
                           hint=f"choose from {', '.join(ENTRY_AS_CHOICES)}")
    if found is None:
        if entry_as is None:
            raise MigrateError(
                f"unknown entry script {program}: primus-migrate does not know which model it builds, so it "
                "cannot tell whether the Primus run would train the same model; nothing written",
                origin=origin, category="unknown-entry",
                hint=f"if {program} builds exactly what Megatron-LM's pretrain_gpt.py builds from the same "
                     "arguments, pass --entry-as gpt (recorded in the report and the YAML header); known "
                     f"entries: {', '.join(sorted(p for k in REGISTRY for p in k.paths))}")
        decision = EntryDecision(program, BY_KEY[entry_as], None, entry_as, origin)
    else:
        kind, path = found
        if entry_as is not None and entry_as != kind.key:
            raise MigrateError(
                f"--entry-as {entry_as}: {program} is a known entry script ({path}: {kind.builds})",
                origin=origin, hint="--entry-as applies only to entry scripts primus-migrate does not know")
        decision = EntryDecision(program, kind, path, None, origin)
    why = decision.kind.refusal(target, builds)
    if why:
        known = f" ({decision.matched})" if decision.matched and decision.matched != program else ""
        raise MigrateError(
            f"entry script {program}{known} builds {decision.kind.builds}, which {target} cannot train: {why}; "
            "nothing written",
            origin=origin, category="unsupported-entry",
            hint=_HINTS.get(decision.kind.key, "train this entry outside Primus, or convert a pretrain_gpt.py launch"))
    return decision


def entry_summary(program: str | None, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What `inspect --args` shows: the entry's kind, what it builds, each target's verdict and,
    for an entry that builds with options of its own, the megatron-core options it builds with."""
    from migrate.primus.profiles import TARGETS

    found = match(program)
    if found is None:
        return {"program": program, "kind": None,
                "verdict": "unknown entry: refused unless --entry-as names the family it builds"}
    kind, path = found
    out: dict[str, Any] = {"program": program, "kind": kind.key, "matched": path, "builds": kind.builds,
                           "targets": {t: kind.refusal(t) or "converts" for t in TARGETS}}
    if kind.built_options is not None and args is not None:
        out["built_options"] = kind.built_options(args)
    return out


def apply_entry(plan: LaunchPlan, target: str, entry_as: str | None = None,
                builds: frozenset[str] | None = None) -> EntryDecision:
    """The pipeline step: decide the launched entry of `plan` at `target` (refuses, exit 2); `builds`:
    the model families the target's release builds (its `Release.builds`)."""
    return decide_entry(plan.entry, target, entry_as, launch_origin(plan), builds)


def launch_origin(plan: LaunchPlan) -> Origin | None:
    """Where the launch is in the script: the launcher's first word (else the first argv word)."""
    tokens = [*plan.launcher.argv, *plan.argv]
    return tokens[0].origin if tokens else None
