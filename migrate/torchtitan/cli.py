"""What the subcommands do with torchtitan input (they route here; see migrate/cli/*).

`convert` (a launch script whose entry is torchtitan's trainer, or a TOML job config alone),
`parity --static`, `resolve` of a torchtitan experiment, `inspect --args` (the JobConfig view),
`schema --torchtitan-path`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from migrate.diagnostics import MigrateError
from migrate.shell.plan import LaunchPlan


class TorchtitanLaunch(MigrateError):
    """Raised by the Megatron pipeline when the script launches torchtitan: the caller routes here;
    a caller that does not (yet) is refused with this message (exit 2) rather than misreading the argv."""

    def __init__(self, plan: LaunchPlan) -> None:
        super().__init__(f"{plan.script} launches torchtitan ({plan.entry}); this command handles Megatron-LM "
                         "launches only", hint="convert it with `primus-migrate SCRIPT -o OUT` or check it with "
                         "`primus-migrate parity --static SCRIPT`")
        self.plan = plan


def is_toml(path: str) -> bool:
    return str(path).endswith(".toml")


def conversion_for(args: argparse.Namespace, plan: LaunchPlan | None, script_args: list[str]):
    from migrate.torchtitan.convert import convert_plan, convert_toml

    target = getattr(args, "target", None)
    if plan is None:
        return convert_toml(args.script, script_args, target, getattr(args, "name", None),
                            primus_path=getattr(args, "primus_path", None))
    return convert_plan(plan, args.script, target, getattr(args, "name", None),
                        primus_path=getattr(args, "primus_path", None))


def run_convert(args: argparse.Namespace, plan: LaunchPlan | None, script_args: list[str]) -> int:
    """`convert` for torchtitan input; exit 3 on failed parity, 4 with unmapped converters."""
    from migrate.output import OutputTree

    conversion = conversion_for(args, plan, script_args)
    if getattr(args, "keep_knobs", False):
        print(f"{args.script}: warning: --keep-knobs is not supported for torchtitan jobs yet; values are written "
              "as they are", file=sys.stderr)
    for item in conversion.diagnostics:
        if item.severity in ("warning", "note"):
            print(str(item), file=sys.stderr)
    if not conversion.parity.ok:
        print(f"{args.script}: error: the Primus config would not run like the torchtitan job; nothing written",
              file=sys.stderr)
        print(conversion.parity.format(), file=sys.stderr)
        return 3
    if conversion.unmapped and getattr(args, "strict", False):
        print(f"{args.script}: error: {len(conversion.unmapped)} setting(s) have no Primus equivalent (--strict); "
              "nothing written", file=sys.stderr)
        return 2
    tree = OutputTree(args.output, force=args.force)
    for rel, text in conversion.files.items():
        tree.add(rel, text)
    tree.commit()
    if getattr(args, "json", False):
        print(json.dumps(conversion.report, indent=2, default=str))
    else:
        r = conversion.report
        defaults = sum(1 for o in conversion.overrides if o.comment == "torchtitan default")
        print(f"wrote {len(conversion.files)} files to {args.output}: {r['experiment']}, preset {r['preset']}")
        print(f"  {len(conversion.overrides)} overrides ({defaults} keep a torchtitan default the preset changes); "
              f"static parity ok ({conversion.parity.compared} JobConfig fields)")
        print(f"  run: cd <Primus> && {r['run_command'].replace('EXP=', 'EXP=' + args.output.rstrip('/') + '/', 1)}")
    for item in conversion.unmapped:
        print(f"{item['origin']}: warning: {item['flag']}: {item['why']}", file=sys.stderr)
    return 4 if conversion.unmapped else 0


def run_static_parity(args: argparse.Namespace, plan: LaunchPlan | None, script_args: list[str]) -> int:
    if not getattr(args, "static", False):
        raise MigrateError("dynamic parity is not available for torchtitan jobs (torchtitan's trainer does not run "
                           "on this CPU-only tool; see the README's torchtitan section)",
                           hint="use `primus-migrate parity --static SCRIPT`")
    conversion = conversion_for(args, plan, script_args)
    if getattr(args, "json", False):
        print(json.dumps({"static": conversion.parity.to_json(), "unmapped": conversion.unmapped}, indent=2,
                         default=str))
    else:
        print(conversion.parity.format())
    return 0 if conversion.parity.ok else 3


def run_resolve(args: argparse.Namespace) -> int:
    from migrate.primus import get_profile
    from migrate.torchtitan.release import resolve_titan_experiment
    from migrate.values import same_value

    profile = get_profile(args.target, args.primus_path)
    resolved = resolve_titan_experiment(args.experiment, profile)
    if args.json:
        json.dump({"job_config": resolved.values, "primus_only": resolved.primus_only}, sys.stdout, indent=2,
                  default=str)
        sys.stdout.write("\n")
        return 0
    from migrate.torchtitan.release import require_supported

    defaults = require_supported(profile).defaults()
    rows = [(k, v) for k, v in resolved.values.items() if args.all or not same_value(v, defaults.get(k))]
    print(f"# {args.experiment} resolved as {profile.name} (torchtitan {require_supported(profile).name}): "
          f"{len(rows)} of {len(resolved.values)} JobConfig fields"
          f"{'' if args.all else ' differ from torchtitan defaults'}")
    presets = str(profile.configs_dir) + "/"
    for key, value in rows:
        origin = str(resolved.origins.get(key) or "torchtitan default").replace(presets, "<presets>/")
        print(f"{key} = {json.dumps(value, default=str)}  (default {json.dumps(defaults.get(key), default=str)}; "
              f"{origin})")
    print(f"# {len(resolved.primus_only)} Primus-only keys (JobConfig lacks them): "
          + ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in resolved.primus_only.items()))
    return 0


def args_view(plan: LaunchPlan) -> dict[str, Any]:
    """`inspect --args` for a torchtitan launch: every JobConfig field, explicit (file:line) or default."""
    import os

    from migrate.primus.profiles import get_profile
    from migrate.torchtitan.jobconfig import parse_job
    from migrate.torchtitan.release import require_supported
    from migrate.torchtitan.translate import parse_for_target

    job = parse_for_target(require_supported(get_profile(None)), lambda schema: parse_job(
        schema, plan.argv, plan.cwd or os.getcwd(),
        toml_display_root=Path(plan.script).resolve().parent))
    schema = job.schema
    return {"schema": f"torchtitan {schema.name}", "job_config_file": str(job.toml_path) if job.toml_path else None,
            "job_config": job.values, "explicit": {k: str(o) for k, o in job.origins.items()}}


def print_args_view(view: dict[str, Any]) -> None:
    print(f"JobConfig ({view['schema']}; job config file {view['job_config_file']})")
    for key, value in view["job_config"].items():
        origin = view["explicit"].get(key)
        print(f"  {key} = {json.dumps(value, default=str)}  ({origin or 'default'})")


def run_schema(args: argparse.Namespace) -> int:
    from migrate.output import write_or_print
    from migrate.torchtitan.bundle import schema_text
    from migrate.torchtitan.extract import extract_schema

    root = Path(args.torchtitan_path)
    data = extract_schema(root, name=args.name, source=str(root))
    out = write_or_print(args.output, schema_text(data), args.force)
    if out is None:
        return 0
    print(f"{out}: {len(data['fields'])} JobConfig fields in {len(data['sections'])} sections", file=sys.stderr)
    return 0
