"""`primus-migrate explain EXP.yaml KEY`: why an experiment sets KEY, where its value comes from, and
whether it changes the run (migrate/primus/emit/explain.py)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from migrate.cli._primus_args import add_target_options

# `converted by primus-migrate from train.sh (...) for primus-0.1.` in the experiment's header
_HEADER_TARGET = re.compile(r"^# .*converted by primus-migrate from .* for (primus-[A-Za-z0-9.]+?)\.?$", re.M)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="say why an experiment sets a key, where its value comes from and whether it changes the run",
        description="For KEY of EXP.yaml: the legacy origin the override's comment records (script file:line, "
                    "or the Megatron default the presets change), the value the presets give without the "
                    "override (and which preset line), the value Primus resolves, and whether the run reads it "
                    "(the inertness rule that says it does not). Exit 2 for a key the experiment does not have, "
                    "with the closest names.",
    )
    parser.add_argument("experiment", metavar="EXP.yaml")
    parser.add_argument("key", metavar="KEY")
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="print the explanation as one JSON object")
    parser.set_defaults(func=run)


def header_target(text: str) -> str | None:
    """The target an experiment written by primus-migrate names in its header, if a known one."""
    from migrate.primus.profiles import targets

    found = _HEADER_TARGET.search(text[:4000])
    return found.group(1) if found and found.group(1) in targets() else None


def run(args: argparse.Namespace) -> int:
    from migrate.diagnostics import MigrateError, Origin
    from migrate.limits import read_regular_file
    from migrate.primus import get_profile
    from migrate.primus.emit.explain import explain_key

    from migrate.torchtitan.release import is_torchtitan_experiment

    path = Path(args.experiment)
    if not path.exists():
        raise MigrateError(f"experiment not found: {path}", Origin(str(path), 0, 0), exit_code=2)
    text = read_regular_file(str(path), "config_bytes", str(path), "experiment").decode("utf-8", errors="replace")
    if is_torchtitan_experiment(str(path)):
        raise MigrateError("explain reads Megatron experiments; this one trains with torchtitan",
                           Origin(str(path), 0, 0), exit_code=2,
                           hint="each override's comment names its origin; `primus-migrate resolve EXP.yaml` "
                                "prints the job torchtitan receives")
    target = args.target or header_target(text)
    profile = get_profile(target, args.primus_path)
    for note in profile.notes:
        print(f"note: {note}", file=sys.stderr)
    e = explain_key(path, text, args.key, profile)
    if args.json:
        json.dump(e.as_json(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"{e.key} in {path} ({e.target}{'' if args.target or not target else ', as its header says'})\n")
    rows = [("value", _show(e.value) + (f"  (written as {e.written_as})" if e.written_as else "")),
            ("set at", e.where or "Megatron default")]
    if e.trainer_value != e.value:
        rows.append(("trainer", f"{_show(e.trainer_value)} (the {e.target} trainer rewrites it before Megatron)"))
    if e.emitted:
        rows.append(("legacy origin", (e.legacy_origin or "(no comment: not written by primus-migrate)")
                     + (f"  (`{e.legacy_flag}`)" if e.legacy_flag else "")))
        if e.in_model_file:
            rows.append(("preset value", "(the generated model file changes the preset's architecture)"))
        else:
            rows.append(("preset value", f"{_show(e.preset.value)}  ({e.preset.origin})" if e.preset else
                         "unknown (the experiment does not resolve without this override)"))
    rows.append(("affects run", "yes" if e.affects_run else f"no: {e.inert_reason} (rule `{e.inert_rule}`)"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        out.write(f"  {label.ljust(width)}  {value}\n")
    out.write(f"  {'why'.ljust(width)}  {e.why}\n")
    return 0


def _show(value: object) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
