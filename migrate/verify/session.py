"""`verify`: our `resolve` against a Primus checkout's own code, for one or many experiments."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from migrate.diagnostics import MigrateError
from migrate.verify.checkout import checkout_root, child_environment, model_files, run_checkout
from migrate.verify.compare import Comparison, compare, their_values


@dataclass
class Verdict:
    """One experiment: the comparison, or why one side could not build the namespace."""

    experiment: str
    comparison: Comparison | None = None
    theirs_error: str = ""          # the checkout's own code stopped on it
    theirs_where: list[str] = field(default_factory=list)
    theirs_missing_module: str = ""  # an import it needs is missing here
    theirs_refused: bool = False     # it broke verify's confinement (a write outside, a process)
    theirs_out_of_memory: bool = False  # it reached the verify_memory limit
    ours_error: str = ""            # our resolve refused it
    theirs_values: dict = field(default_factory=dict)  # the checkout's namespace, in our notation
    trainer_skipped: str = ""       # the trainer's argument updates could not be imported: loader only

    @property
    def agree(self) -> bool:
        return self.comparison is not None and self.comparison.agree

    @property
    def theirs_cannot_load(self) -> bool:
        return bool(self.theirs_missing_module or self.theirs_refused or self.theirs_out_of_memory)


@dataclass
class VerifyReport:
    primus_path: str
    target: str                     # the profile our side resolved with
    release: str
    megatron_schema: str
    megatron_defaults: str = ""     # where the checkout's side got Megatron's argparse defaults
    runtime: str = ""               # the checkout's runtime: legacy (v0.x trainer) or core
    verdicts: list[Verdict] = field(default_factory=list)
    installed_models: list[str] = field(default_factory=list)
    skipped_mkdir: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def batches(experiments: list[Path]) -> list[list[Path]]:
    """Groups whose model files can share one copy of the checkout: a model file name installed
    twice with different content (two conversions' `model.yaml`) goes to separate runs."""
    groups: list[tuple[list[Path], dict[str, bytes]]] = []
    for path in experiments:
        models = {name: p.read_bytes() for name, p in model_files(path).items()}
        for members, installed in groups:
            if all(installed.get(name, body) == body for name, body in models.items()):
                members.append(path)
                installed.update(models)
                break
        else:
            groups.append(([path], dict(models)))
    return [members for members, _ in groups]


def verify_experiments(experiments: list[str | Path], primus_path: str | Path, env: Mapping[str, str] | None = None,
                       runtime: str = "auto") -> VerifyReport:
    """Load each experiment with the checkout's own code and with our model of it; compare."""
    from migrate.output import scratch_folder
    from migrate.primus import get_profile

    root = checkout_root(primus_path)  # refuse a non-checkout before anything else
    profile = get_profile(None, str(primus_path))
    report = VerifyReport(str(primus_path), profile.name, profile.release, profile.megatron_schema,
                          notes=list(profile.notes))
    defaults, report.megatron_defaults = megatron_defaults(root, profile, report.notes)
    dests = set(defaults) | set(profile.schema().defaults())
    paths = [Path(p) for p in experiments]
    for path in paths:
        if not path.is_file():
            raise MigrateError(f"experiment file not found: {path}", exit_code=2)
    for group in batches(paths):
        with scratch_folder("primus-migrate-verify-") as scratch:
            child_env = child_environment(scratch / "work", os.environ if env is None else env)
            run = run_checkout(primus_path, group, defaults, child_env, scratch, runtime)
            report.runtime = run.runtime
            report.installed_models += run.installed_models
            report.skipped_mkdir += run.skipped_mkdir
            for path in group:
                theirs = _shown_paths(run.results[str(path)], scratch / "tree", checkout_root(primus_path))
                report.verdicts.append(_verdict(path, theirs, profile, child_env, dests))
    return report


def megatron_defaults(root: Path, profile, notes: list[str]) -> tuple[dict, str]:
    """Megatron's argparse defaults for the checkout's side: read from its own third_party/Megatron-LM
    when that source is there (our extractor: Megatron's parser itself needs its GPU stack), else the
    bundled table of the pin our profile chose (then a wrong pin would go unseen: said in a note)."""
    from migrate.megatron.schema_choice import checkout_schema
    from migrate.verify.checkout import MEGATRON_ARGUMENTS

    megatron = root / MEGATRON_ARGUMENTS.parents[2]
    if (root / MEGATRON_ARGUMENTS).is_file():
        try:
            return checkout_schema(megatron).defaults(), f"the checkout's {MEGATRON_ARGUMENTS.parents[2]}"
        except MigrateError as exc:
            notes.append(f"could not read {megatron}'s arguments ({exc.message}); Megatron defaults from the "
                         f"bundled table {profile.megatron_schema}")
    else:
        notes.append(f"{root} has no {MEGATRON_ARGUMENTS.parents[2]} source: both sides take Megatron's defaults "
                     f"from the bundled table {profile.megatron_schema}, so a wrong Megatron pin would not show")
    return profile.schema().defaults(), f"bundled table {profile.megatron_schema}"


def _shown_paths(theirs: dict, tree: Path, root: Path) -> dict:
    """The traceback of a failure as the user's checkout would show it (not our scratch copy's paths,
    no caret lines)."""
    where = [line.replace(str(tree), str(root)) for line in theirs.get("where") or []
             if line.strip(" ^~")]
    return dict(theirs, where=where) if "where" in theirs else theirs


def _verdict(path: Path, theirs: dict, profile, env: Mapping[str, str], dests: set[str]) -> Verdict:
    from migrate.primus import resolve_experiment

    verdict = Verdict(str(path))
    if "error" in theirs:
        verdict.theirs_error = theirs["error"]
        verdict.theirs_where = list(theirs.get("where") or [])
        verdict.theirs_missing_module = theirs.get("module") or ""
        verdict.theirs_refused = bool(theirs.get("refused"))
        verdict.theirs_out_of_memory = bool(theirs.get("memory"))
    skipped = theirs.get("trainer_skipped")
    if skipped:
        module = f"module '{skipped['module']}' could not be imported: " if skipped.get("module") else ""
        verdict.trainer_skipped = f"{module}{skipped['error']}"
    try:
        ours = resolve_experiment(path, profile, env, trainer_rewrites=not skipped)
    except MigrateError as exc:
        verdict.ours_error = str(exc)
        return verdict
    if not verdict.theirs_error:
        verdict.theirs_values = their_values(theirs)
        verdict.comparison = compare(ours, theirs, dests)
    return verdict
