"""A torchtitan job -> Primus files, in memory: parse the job, map converters, pick the preset,
emit the experiment, resolve it with the target's rules and check static parity. Writes nothing."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.primus.profiles import Profile, get_profile
from migrate.shell.plan import LaunchPlan
from migrate.torchtitan.emit import (Override, choose_preset, inexpressible, missing_in_presets, render_experiment,
                                     short)
from migrate.torchtitan.jobconfig import TitanJob, parse_job
from migrate.torchtitan.parity import TitanParity, check_titan_parity
from migrate.torchtitan.release import (TitanResolved, registered_converters, require_supported,
                                        resolve_titan_experiment)
from migrate.torchtitan.translate import parse_for_target, translate_job

# Converter names of older torchtitan (mid-2025: `float8`, `mx`), renamed at the pins we target.
RENAMED_CONVERTERS = {"float8": "quantize.linear.float8", "mx": "quantize.linear.mx"}


@dataclass
class TitanConversion:
    job: TitanJob
    expected: dict[str, Any]
    files: dict[str, str]
    experiment_path: str
    preset: str
    overrides: list[Override]
    parity: TitanParity
    resolved: TitanResolved
    profile: Profile
    diagnostics: Diagnostics
    unmapped: list[dict[str, str]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def map_converters(job: TitanJob, profile: Profile, diags: Diagnostics) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The job's values at the target's pin, and the converters that have no equivalent there."""
    expected = dict(job.values)
    known = registered_converters(profile)
    origin = job.origins.get("model.converters")
    mapped: list[str] = []
    unmapped: list[dict[str, str]] = []
    for name in job.values.get("model.converters") or []:
        if name in RENAMED_CONVERTERS and name not in known and RENAMED_CONVERTERS[name] in known:
            new = RENAMED_CONVERTERS[name]
            diags.note("torchtitan-converter-renamed", f"model.converters '{name}' is '{new}' at {profile.name}'s "
                       "torchtitan (renamed upstream)", origin)
            name = new
        if name not in known:
            unmapped.append({"flag": f"model.converters {name}", "origin": str(origin or "<job>"),
                             "why": f"no converter '{name}' at {profile.name} (known: {', '.join(known)})"})
        mapped.append(name)
    expected["model.converters"] = mapped
    return expected, unmapped


def _resolve_text(text: str, relpath: str, profile: Profile) -> TitanResolved:
    with tempfile.TemporaryDirectory(prefix="primus-migrate-titan-") as tmp:
        path = Path(tmp) / relpath
        path.write_text(text, encoding="utf-8")
        try:
            resolved = resolve_titan_experiment(path, profile, {})
        except MigrateError as exc:  # name the file as it will be written, not the staging folder
            exc.message = exc.message.replace(str(path), relpath)
            if exc.origin is not None and exc.origin.file == str(path):
                exc.origin = Origin(relpath, exc.origin.line)
            raise
    resolved.experiment = relpath
    resolved.origins = {k: Origin(relpath, o.line) if o.file == str(path) else o for k, o in resolved.origins.items()}
    return resolved


def launch_files(plan: LaunchPlan | None, profile: Profile, script_name: str,
                 experiment: str) -> tuple[dict[str, str], list]:
    """run.sh (and env.sh with what the script exported): the same rules as for Megatron launches
    (migrate.primus.emit.runenv), so the torchrun options and the environment reach the Primus run."""
    from migrate.primus.emit.runenv import plan_environment
    from migrate.primus.emit.runscript import env_sh, run_sh

    files: dict[str, str] = {}
    placements: list = []
    if plan is not None:
        environment = plan_environment(profile.rules.run, plan.env, plan.launcher.options(),
                                       {k.name: k.value for k in plan.knobs},
                                       [[t.value for t in w] for w in plan.launcher.wrappers])
        placements = environment.placements
        if environment.env_file or environment.secrets:
            files["env.sh"] = env_sh(environment.env_file, script_name, environment.secrets)
        files["run.sh"] = run_sh(profile.name, profile.release, profile.rules.run, script_name, experiment, None,
                                 environment.run_vars, "env.sh" in files)
    else:
        files["run.sh"] = run_sh(profile.name, profile.release, profile.rules.run, script_name, experiment, None,
                                 {}, False)
    return files, placements


def convert_job(job: TitanJob, profile: Profile, name: str, source: str, display_root: str | None,
                diags: Diagnostics, plan: LaunchPlan | None = None) -> TitanConversion:
    if not re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*", name):
        raise MigrateError(f"--name '{name}' is not a usable file name", hint="use letters, digits, '_', '.', '-'")
    diags.extend(job.diagnostics)
    schema = require_supported(profile)
    job, unmapped_fields = translate_job(job, schema, diags)
    expected, unmapped = map_converters(job, profile, diags)
    unmapped = unmapped_fields + unmapped
    emitted = dict(expected)
    dropped = {u["flag"].split(" ", 1)[1] for u in unmapped if u["flag"].startswith("model.converters ")}
    emitted["model.converters"] = [c for c in expected["model.converters"] if c not in dropped]
    origins = {k: short(o, display_root) for k, o in job.origins.items()}
    preset, overrides = choose_preset(profile, schema, emitted, origins)
    header = (f"{name}: converted by primus-migrate from {source} for {profile.name} (torchtitan backend).\n"
              "Each override says where its value comes from: the job's file:line, or `torchtitan default`\n"
              "when the job left it at torchtitan's default and the Primus preset differs.")
    relpath = f"{name}-pretrain.yaml"
    missing = missing_in_presets(profile, preset, overrides)
    if missing:
        shown = "; ".join(f"{o.key} = {o.value!r} ({o.comment})" for o in missing[:8])
        raise MigrateError(f"{profile.name} cannot express {len(missing)} of the job's settings: its loader overrides "
                           f"only keys its presets define, and these are not among them: {shown}"
                           + (" ..." if len(missing) > 8 else "") + "; nothing written", exit_code=3,
                           hint="convert for primus-26.5 (the default target), whose overrides may add keys")
    for item in overrides:
        why = inexpressible(item.value, profile.rules.interpolation)
        if why:
            raise MigrateError(f"{item.key} ({item.comment}) cannot be written for {profile.name}: {why}; "
                               "nothing written",
                               origin=job.origins.get(item.key), exit_code=3,
                               hint="torchtitan uses the text as is; change the value in the job (or set it "
                                    "in the Primus experiment yourself) and convert again")
    text = render_experiment(name, preset, overrides, header)
    resolved = _resolve_text(text, relpath, profile)
    parity = check_titan_parity(expected, resolved, sorted(dropped))
    conversion = TitanConversion(job, expected, {relpath: text}, relpath, preset, overrides, parity, resolved,
                                 profile, diags, unmapped)
    extra, placements = launch_files(plan, profile, source, relpath)
    conversion.files.update(extra)
    conversion.report = _report(conversion, source)
    conversion.report["environment"] = [p.to_json() for p in placements]
    conversion.report["files"] = sorted([*conversion.files, "report.json", "report.md"])
    conversion.files["report.json"] = json.dumps(conversion.report, indent=2, default=str) + "\n"
    conversion.files["report.md"] = _markdown(conversion)
    return conversion


def _report(c: TitanConversion, source: str) -> dict[str, Any]:
    return {
        "source": source, "framework": "torchtitan", "target": c.profile.name,
        "torchtitan_schema": c.job.schema.name, "job_config_file": str(c.job.toml_path) if c.job.toml_path else None,
        "experiment": c.experiment_path, "preset": f"{c.preset}.yaml", "model_file": None,
        "overrides": [{"key": o.key, "value": o.value, "origin": o.comment} for o in c.overrides],
        "parity": c.parity.to_json(), "unmapped": c.unmapped,
        "run_command": f"EXP={c.experiment_path} bash examples/run_pretrain.sh",
        "diagnostics": c.diagnostics.to_json(),
    }


def _markdown(c: TitanConversion) -> str:
    r = c.report
    lines = [f"# {c.experiment_path}", "", f"Converted from `{r['source']}` (torchtitan) for {c.profile.name}; "
             f"model preset `{r['preset']}`.", "", "| key | value | from |", "|---|---|---|"]
    lines += [f"| `{o.key}` | `{o.value!r}` | {o.comment} |" for o in c.overrides]
    lines += ["", "```", c.parity.format(), "```", ""]
    if c.unmapped:
        lines += ["Unmapped:", ""] + [f"- {u['origin']}: `{u['flag']}`: {u['why']}" for u in c.unmapped] + [""]
    if r.get("environment"):
        lines += ["| environment / launcher | value | from | goes to | note |", "|---|---|---|---|---|"]
        lines += [f"| `{e['name']}` | `{e['value']}` | {e['origin'] or ''} | {e['destination']} | {e['note']} |"
                  for e in r["environment"]] + [""]
    lines += [f"Run: `PRIMUS_PATH=/path/to/Primus bash run.sh` (or `cd <Primus> && {r['run_command']}`)", ""]
    return "\n".join(lines)


def default_name(script: str | Path, plan: LaunchPlan) -> str:
    """migrate.pipeline's name (`run_train-NGPU4`), with a path-valued knob shortened to its file name
    stem: `CONFIG_FILE=./torchtitan/models/llama3/train_configs/llama3_8b.toml` gives `CONFIG_FILE-llama3_8b`."""
    from dataclasses import replace

    from migrate.conversion.naming import default_name as megatron_default_name

    knobs = []
    for knob in plan.knobs:
        if knob.value and ("/" in knob.value or knob.value.endswith(".toml")):
            knob = replace(knob, value=f"-{Path(knob.value).stem}")
        knobs.append(knob)
    return megatron_default_name(script, replace(plan, knobs=knobs))


def convert_plan(plan: LaunchPlan, script: str | Path, target: str | None, name: str | None = None,
                 primus_path: str | None = None) -> TitanConversion:
    """A launch script whose entry is torchtitan's trainer (plan from migrate.shell)."""
    profile = get_profile(target, primus_path)
    diags = Diagnostics()
    diags.extend(plan.diagnostics)
    cwd = plan.cwd or os.getcwd()
    job = parse_for_target(require_supported(profile), lambda schema: parse_job(
        schema, plan.argv, cwd, toml_display_root=Path(script).resolve().parent))
    if job.toml_path is None:
        diags.note("torchtitan-no-config-file", "the launch names no --job.config_file: the job is torchtitan's "
                   "defaults plus its command-line options")
    conversion = convert_job(job, profile, name or default_name(script, plan), Path(script).name,
                             str(Path(script).resolve().parent), diags, plan)
    frozen = runtime_values(plan)
    if frozen:
        conversion.unmapped.extend(frozen)
        conversion.report["unmapped"] = conversion.unmapped
        conversion.files["report.json"] = json.dumps(conversion.report, indent=2, default=str) + "\n"
        conversion.files["report.md"] = _markdown(conversion)
    return conversion


def runtime_values(plan: LaunchPlan) -> list[dict[str, str]]:
    """Values the script computes when it runs (`$(date ...)`, `$HOSTNAME`) that reach the argv: the
    experiment holds the value assumed here, so they are listed as unmapped (exit 4), never hidden."""
    out = []
    for value in plan.runtime:
        if "argv" in value.used_in:
            words = ", ".join(plan.argv[i].value for i in value.argv_tokens if i < len(plan.argv))
            out.append({"flag": f"$({value.command})" if not value.command.startswith("$") else value.command,
                        "origin": str(value.origin),
                        "why": f"computed when the script runs; the experiment holds the value assumed here "
                               f"({value.assumed!r}, in {words}): set it in the YAML if it must vary per run"})
    return out


def convert_toml(toml: str | Path, argv: Sequence[str], target: str | None, name: str | None = None,
                 primus_path: str | None = None) -> TitanConversion:
    """A TOML job config alone (plus optional `--section.key value` words)."""
    profile = get_profile(target, primus_path)
    toml = Path(toml)
    job = parse_for_target(require_supported(profile), lambda schema: parse_job(
        schema, list(argv), os.getcwd(), toml_display_root=toml.resolve().parent, toml=toml.resolve()))
    return convert_job(job, profile, name or toml.stem, toml.name, str(toml.resolve().parent), Diagnostics())

