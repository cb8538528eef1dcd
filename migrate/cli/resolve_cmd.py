"""`primus-migrate resolve EXP.yaml`: the flat configuration a Primus release hands to Megatron."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from migrate.cli._primus_args import add_target_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resolve",
        help="print the fully resolved Megatron configuration of a Primus experiment YAML",
        description="Load EXP.yaml with the target Primus release's own rules (inheritance, "
                    "interpolation, preset merge, overrides, Megatron defaults) and print the result.",
    )
    parser.add_argument("experiment", metavar="EXP.yaml")
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON object dest -> value")
    parser.add_argument("--all", action="store_true",
                        help="table: also list dests left at the Megatron default")
    parser.set_defaults(func=run)


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def run(args: argparse.Namespace) -> int:
    from migrate.primus import get_profile, resolve_experiment

    profile = get_profile(args.target, args.primus_path)
    resolved = resolve_experiment(args.experiment, profile)
    if args.json:
        json.dump(resolved.values, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"# {args.experiment} resolved as {profile.name} ({profile.release}, Megatron {profile.megatron_schema}"
              f"{', presets from ' + profile.source if profile.source != 'snapshot' else ''})\n")
    rows = [(k, _show(v), str(resolved.origins.get(k, "megatron default")))
            for k, v in sorted(resolved.values.items()) if args.all or k in resolved.origins]
    _table(out, rows)
    hidden = len(resolved.values) - len(rows)
    if hidden:
        out.write(f"# {hidden} more dests at the Megatron argparse default (--all to list them)\n")
    if resolved.primus_only:
        out.write("\n# Primus-only keys (not Megatron arguments at this pin; kept aside)\n")
        _table(out, [(k, _show(v), str(resolved.origins.get(k, ""))) for k, v in sorted(resolved.primus_only.items())])
    if resolved.missing:
        out.write(f"\n# {len(resolved.missing)} Megatron dests are absent from the namespace "
                  f"({profile.name} fills no argparse defaults)\n")
    return 0


def _table(out, rows: list[tuple[str, str, str]]) -> None:
    if not rows:
        return
    w0 = max(len(r[0]) for r in rows)
    w1 = min(max(len(r[1]) for r in rows), 40)
    for key, value, origin in rows:
        out.write(f"{key:<{w0}}  {value:<{w1}}  {origin}\n")
