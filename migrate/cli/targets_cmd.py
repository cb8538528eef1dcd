"""`primus-migrate targets`: the bundled targets, each with its Primus release and that release's rules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "targets",
        help="list the Primus releases primus-migrate converts for (--target values)",
        description="List the bundled targets (configs/<target>/target.json): the Primus release each "
                    "stands for, its other names, the Megatron-LM commit that release pins, and the "
                    "release family whose rules it follows (inheritance dialect, what reaches Megatron).",
    )
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(func=run)


def target_rows() -> list[dict[str, Any]]:
    """One row per bundled target, oldest release first."""
    from migrate.primus.profiles import DEFAULT_TARGET, catalog
    from migrate.primus.releases import family

    rows = []
    for name, info in catalog().items():
        rules = info.rules
        rows.append({
            "target": name, "release": info.release, "aliases": list(info.aliases),
            "default": name == DEFAULT_TARGET,
            "megatron_pin": info.megatron_pin, "megatron_schema": info.megatron_schema,
            "family": rules.family, "dialect": rules.inherit_key, "namespace": family(rules.family).title,
            "primus_commit": info.primus_commit, "notes": list(rules.notes),
        })
    return rows


def run(args: argparse.Namespace) -> int:
    rows = target_rows()
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    header = ("target", "release", "Megatron", "family", "dialect", "aliases")
    table = [(r["target"] + (" (default)" if r["default"] else ""), r["release"], r["megatron_schema"],
              r["family"], r["dialect"] + ":", ", ".join(r["aliases"])) for r in rows]
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        sys.stdout.write("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    families = sorted({(r["family"], r["namespace"]) for r in rows})
    sys.stdout.write("\n" + "\n".join(f"{key}: {title}" for key, title in families) + "\n")
    sys.stdout.write("--target also takes a release tag (v26.5.1) or `auto` with --primus-path DIR.\n")
    return 0
