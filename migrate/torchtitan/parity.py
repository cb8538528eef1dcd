"""Static parity for torchtitan jobs: the JobConfig Primus builds equals the job's, field by field.

Every field of the pinned JobConfig is compared with `same_value`, except the documented
`release.EXCEPTIONS`; the Primus-only keys that change the run (`release.BEHAVIOUR_KEYS`) must
hold the value that keeps torchtitan's behaviour. Converters the target has no equivalent for
are reported as unmapped (left out of the Primus config) instead of as differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from migrate.torchtitan.release import BEHAVIOUR_KEYS, EXCEPTIONS, TitanResolved, model_overrides
from migrate.values import same_value


@dataclass
class TitanParity:
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)      # field, job, primus
    behaviour: list[tuple[str, Any, Any, str]] = field(default_factory=list)   # key, primus, needed, why
    exceptions: list[tuple[str, Any, Any, str]] = field(default_factory=list)  # field, job, primus, why
    unmapped_converters: list[str] = field(default_factory=list)
    compared: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences and not self.behaviour

    def format(self) -> str:
        lines = [f"static parity {'ok' if self.ok else 'FAILED'}: {self.compared} JobConfig fields compared"]
        for name, job, primus in self.differences:
            lines.append(f"  {name}: job {job!r} != Primus {primus!r}")
        for name, primus, needed, why in self.behaviour:
            lines.append(f"  {name} (Primus-only): {primus!r}, needs {needed!r}: {why}")
        for name, job, primus, why in self.exceptions:
            lines.append(f"  accepted: {name}: job {job!r}, Primus {primus!r} ({why})")
        for name in self.unmapped_converters:
            lines.append(f"  unmapped: model.converters '{name}' (no equivalent at this target; left out)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "compared": self.compared,
                "differences": [{"field": n, "job": j, "primus": p} for n, j, p in self.differences],
                "behaviour": [{"key": n, "primus": p, "needed": v, "why": w} for n, p, v, w in self.behaviour],
                "exceptions": [{"field": n, "job": j, "primus": p, "why": w} for n, j, p, w in self.exceptions],
                "unmapped_converters": self.unmapped_converters}


def check_titan_parity(expected: Mapping[str, Any], resolved: TitanResolved,
                       unmapped_converters: list[str] | None = None) -> TitanParity:
    """`expected`: the job's JobConfig at the target's pin (converter names already mapped)."""
    unmapped = list(unmapped_converters or [])
    result = TitanParity(unmapped_converters=unmapped)
    for name, job_value in expected.items():
        primus_value = resolved.values.get(name)
        if name == "model.converters":
            job_value = [c for c in job_value if c not in unmapped]
        result.compared += 1
        if same_value(job_value, primus_value):
            continue
        if name in EXCEPTIONS:
            result.exceptions.append((name, job_value, primus_value, EXCEPTIONS[name]))
        else:
            result.differences.append((name, job_value, primus_value))
    for name in sorted(set(resolved.values) - set(expected)):
        result.differences.append((name, "<not a field>", resolved.values[name]))
    for key, (needed, why) in BEHAVIOUR_KEYS.items():
        if key in resolved.primus_only and not same_value(resolved.primus_only[key], needed):
            result.behaviour.append((key, resolved.primus_only[key], needed, why))
    for key, value in model_overrides(resolved.primus_only).items():
        result.behaviour.append((key, value, "<absent>", "Primus's model_override patch would change the model "
                                 "args of the flavor; the job builds the flavor as torchtitan defines it"))
    return result
