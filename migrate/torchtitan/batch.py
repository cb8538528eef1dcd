"""torchtitan launches inside `primus-migrate batch` (called from migrate.batch.backend).

The batch worker reads a handful of attributes from a conversion (plan, files, experiment_path,
model_path, expected, diagnostics, unmapped, hint, report) and re-checks static parity on the
files as laid out in the final tree; this module gives it both for a torchtitan job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from migrate.diagnostics import Diagnostic, MigrateError
from migrate.shell.plan import LaunchPlan


@dataclass
class BatchConversion:
    plan: LaunchPlan
    files: dict[str, str]
    experiment_path: str
    expected: dict[str, Any]        # the JobConfig fields static parity compares (unmapped converters left out)
    diagnostics: list[Diagnostic]
    unmapped: list[str]
    model_path: str | None = None   # torchtitan experiments reference a preset as is
    hint: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


def convert_for_batch(plan: LaunchPlan, script: str, name: str, target: str, primus_path: str | None,
                      strict: bool) -> BatchConversion:
    from migrate.torchtitan.convert import convert_plan

    c = convert_plan(plan, script, target, name, primus_path)
    if strict and c.unmapped:
        raise MigrateError(f"{len(c.unmapped)} setting(s) have no Primus equivalent (--strict): "
                           + "; ".join(u["flag"] for u in c.unmapped))
    expected = dict(c.expected)
    expected["model.converters"] = [x for x in expected["model.converters"] if x not in c.parity.unmapped_converters]
    unmapped = [f"{u['origin']}: {u['flag']}: {u['why']}" for u in c.unmapped]
    report = {"framework": "torchtitan", "torchtitan_schema": c.job.schema.name, "preset": f"{c.preset}.yaml"}
    return BatchConversion(plan, c.files, c.experiment_path, expected, list(c.diagnostics), unmapped, report=report)


def recheck(experiment: Path, expected: Mapping[str, Any], target: str,
            primus_path: str | None) -> tuple[bool, list[list[Any]]]:
    from migrate.primus import get_profile
    from migrate.torchtitan.parity import check_titan_parity
    from migrate.torchtitan.release import resolve_titan_experiment

    parity = check_titan_parity(expected, resolve_titan_experiment(experiment, get_profile(target, primus_path)))
    differences = [[name, job, primus] for name, job, primus in parity.differences]
    differences += [[name, needed, primus] for name, primus, needed, _ in parity.behaviour]
    return parity.ok, differences
