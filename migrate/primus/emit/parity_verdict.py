"""The verdict of static parity: what `emit` is handed back by the check it is given.

The check itself is the converter's (`migrate.conversion.static_parity.check_static_parity`); its
result is a record the emitter, its report and the parity report read, so it lives below them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MISSING = object()  # a dest the Primus namespace lacks (shown as `<absent>`)


@dataclass
class StaticParity:
    ok: bool
    differences: list[tuple[str, Any, Any]]  # (dest, expected (legacy), resolved (primus))
    ignored: list[str]  # documented Primus-only keys
    absent: list[str] = field(default_factory=list)  # dests the target's namespace lacks (primus-0.1)
    origins: dict[str, str] = field(default_factory=dict)  # dest -> where the Primus value came from
    exceptions: list[dict[str, Any]] = field(default_factory=list)  # accepted differences, with why
    hint: str | None = None  # what to do about a known cause of the differences (set by the pipeline)
    # where the release itself decides (output locations, see migrate.primus.handoff): listed, not failed
    documented: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # why the release's trainer would stop before training

    def format(self, limit: int = 50) -> str:
        """The diff a user sees when parity fails."""
        notes = "".join(f"\n  documented: {e['dest']}: {e['why']}" for e in self.documented)
        if self.ok:
            return "static parity: ok" + "".join(f"\n  accepted: {e['dest']}: {e['legacy']!r} -> {e['primus']!r}: "
                                                 f"{e['why']}" for e in self.exceptions) + notes
        lines = [f"static parity FAILED: {len(self.differences)} argument(s) differ (legacy run -> Primus config)"
                 if self.differences or not self.refusals else "static parity FAILED: the config would not train"]
        lines += [f"  the Primus trainer would stop before training: {why}" for why in self.refusals]
        for dest, want, got in self.differences[:limit]:
            shown = "<absent>" if got is MISSING else repr(got)
            where = f"  (from {self.origins[dest]})" if dest in self.origins else ""
            lines.append(f"  {dest}: {want!r} -> {shown}{where}")
        if len(self.differences) > limit:
            lines.append(f"  ... and {len(self.differences) - limit} more")
        if any(str(o).startswith("<") for o in self.origins.values()):
            lines.append("  hint: values from `<... trainer: rule>` are rewritten by Primus itself after loading "
                         "the config; no YAML key can change them")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "differences": [
                {"dest": d, "expected": jsonable(a), "resolved": None if b is MISSING else jsonable(b),
                 "absent": b is MISSING, "from": self.origins.get(d)}
                for d, a, b in self.differences
            ],
            "ignored": list(self.ignored),
            "absent": list(self.absent),
            "exceptions": [dict(e) for e in self.exceptions],
            "documented": [dict(e) for e in self.documented],
            "refusals": list(self.refusals),
        }


def jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value
