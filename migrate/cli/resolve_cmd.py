"""`primus-migrate resolve EXP.yaml`: the flat configuration a Primus release hands to Megatron."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from migrate.cli._primus_args import add_target_options, add_trainer_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resolve",
        help="print the fully resolved Megatron configuration of a Primus experiment YAML",
        description="Load EXP.yaml with the target Primus release's own rules (inheritance, "
                    "interpolation, preset merge, overrides, Megatron defaults, trainer-side rewrites) "
                    "and print the namespace Megatron receives. The table lists the values that differ "
                    "from the pinned Megatron's argparse defaults; --all lists every dest.",
    )
    parser.add_argument("experiment", metavar="EXP.yaml")
    add_target_options(parser)
    add_trainer_option(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON object dest -> value (every dest)")
    parser.add_argument("--all", action="store_true", help="table: list every dest and every Primus-only key")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migrate.primus import get_profile, resolve_experiment
    from migrate.primus.validate import check_experiment
    from migrate.primus.presets import presets_root
    from migrate.values import same_value

    from migrate.torchtitan.release import is_torchtitan_experiment

    if is_torchtitan_experiment(args.experiment):
        from migrate.torchtitan.cli import run_resolve

        return run_resolve(args)
    profile = get_profile(args.target, args.primus_path)
    for note in profile.notes:
        print(f"note: {note}", file=sys.stderr)
    resolved = resolve_experiment(args.experiment, profile, trainer_rewrites=args.trainer)
    check_experiment(resolved, profile)  # refused alike by resolve, to-megatron and train
    if args.json:
        json.dump(resolved.values, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
        return 0

    defaults = profile.schema().defaults()
    roots = [(presets_root(), "<presets>")] if profile.source == "snapshot" else []
    out = sys.stdout
    source = "" if profile.source == "snapshot" else f", presets from {profile.source}"
    out.write(f"# {args.experiment} resolved as {profile.name} ({profile.release}, Megatron {profile.megatron_schema}"
              f"{source})\n")
    rows = []
    for key in sorted(resolved.values):
        value = resolved.values[key]
        differs = not same_value(value, defaults.get(key))
        if args.all or differs:
            origin = resolved.origins.get(key)
            rows.append((key, _show(value), _show(defaults.get(key)) if differs else "=",
                         _short(str(origin), roots) if origin else "megatron default"))
    out.write(f"# {len(rows)} of {len(resolved.values)} Megatron dests"
              f"{'' if args.all else ' differ from the Megatron argparse defaults'}\n")
    _table(out, [("dest", "value", "megatron default", "set by")] + rows)
    if resolved.trainer_rewrites and not args.trainer:
        out.write(f"\n# the {profile.name} trainer then rewrites (apply with --trainer):\n")
        _table(out, [(k, f"{_show(before)} -> {_show(after)}", "", rule)
                     for k, (before, after, rule) in sorted(resolved.trainer_rewrites.items())])
    if resolved.missing:
        out.write(f"\n# {len(resolved.missing)} Megatron dests are absent from the namespace "
                  f"({profile.name} fills no argparse defaults): {', '.join(resolved.missing)}\n")
    if resolved.primus_only:
        out.write(f"\n# {len(resolved.primus_only)} Primus-only keys (not Megatron arguments at "
                  f"{profile.megatron_schema}; kept aside)\n")
        if args.all:
            _table(out, [(k, _show(v), "", _short(str(resolved.origins.get(k, "")), roots))
                         for k, v in sorted(resolved.primus_only.items())])
        else:
            out.write("# " + ", ".join(sorted(map(str, resolved.primus_only))) + "\n")
    return 0


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _short(origin: str, roots: list[tuple[Path, str]]) -> str:
    """Paths inside the bundled snapshot as <presets>/..., others relative to the cwd when shorter."""
    for root, label in roots:
        prefix = str(root) + os.sep
        if origin.startswith(prefix):
            return f"{label}/{origin[len(prefix):]}"
    try:
        rel = os.path.relpath(origin)
        return rel if len(rel) < len(origin) else origin
    except ValueError:
        return origin


def _table(out: TextIO, rows: list[tuple[str, str, str, str]]) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] + "\n")
