"""`primus-migrate schema`: extract a Megatron-LM checkout's option table.

A custom fork adds or changes options; its table, passed to other commands
with `--megatron-schema PATH`, makes them read argv the way that fork does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="extract the option table of a Megatron-LM checkout (without importing it)",
        description="Read megatron/training/arguments.py (and the config dataclasses it turns into options) "
        "statically and write every option's strings, dest, default, type, action, choices and nargs as JSON.",
        allow_abbrev=False,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--megatron-path", metavar="DIR",
                        help="root of a Megatron-LM checkout (the directory containing megatron/)")
    source.add_argument("--torchtitan-path", metavar="DIR",
                        help="root of a torchtitan checkout: writes its JobConfig schema (sections, fields, types, "
                             "defaults) instead")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the JSON here (default: standard output)")
    parser.add_argument("--name", help="schema name recorded in the file (default: the directory name)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.torchtitan_path:
        from migrate.torchtitan.cli import run_schema

        return run_schema(args)
    from migrate.megatron.bundle import schema_to_text
    from migrate.megatron.extract import extract_schema
    from migrate.output import write_or_print

    root = Path(args.megatron_path)
    schema = extract_schema(root, name=args.name, source=str(root))
    for note in schema.notes:
        print(f"note: {note}", file=sys.stderr)
    out = write_or_print(args.output, schema_to_text(schema.to_json()), args.force)
    if out is None:
        return 0
    print(f"{out}: {len(schema.options)} options", file=sys.stderr)
    return 0
