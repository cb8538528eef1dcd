"""`primus-migrate target`: make a target folder (our snapshot of one Primus release) from a checkout.

The folder has the layout of `configs/<target>/` (see migrate/primus/snapshot.py): the release's
preset values without any upstream text, the preset index, and target.json (release, Primus
commit, Megatron-LM pin and its bundled schema).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "target",
        help="snapshot a Primus checkout's preset values into a target folder (like configs/<target>/)",
        description="Read a Primus checkout's megatron and torchtitan presets and module defaults, and write "
        "their values (no upstream comments), preset_index.json and target.json into OUT_DIR, all or nothing.",
        allow_abbrev=False,
    )
    parser.add_argument("--primus-path", metavar="DIR", required=True, help="root of a Primus checkout")
    parser.add_argument("-o", "--output", metavar="OUT_DIR", required=True, help="the target folder to write")
    parser.add_argument("--release", metavar="TAG",
                        help="the Primus release (default: the release tag at the checkout's git HEAD)")
    parser.add_argument("--megatron-pin", metavar="SHA",
                        help="the Megatron-LM commit the release pins (default: the checkout's third_party/"
                             "Megatron-LM gitlink; needed for a tree without git, e.g. from `git archive`)")
    parser.add_argument("--primus-commit", metavar="SHA", help="the checkout's commit (default: git HEAD)")
    parser.add_argument("--torchtitan-pin", metavar="SHA",
                        help="the torchtitan commit (default: the third_party/torchtitan gitlink)")
    parser.add_argument("--megatron-path", metavar="DIR",
                        help="a checkout of the pinned Megatron-LM: for a pin with no bundled option table, "
                             "its table is extracted into the target folder (megatron_schema.json)")
    parser.add_argument("--name", help="the target's name (default: primus-<release without v>)")
    parser.add_argument("--force", action="store_true", help="replace the files of an existing target folder")
    parser.set_defaults(func=run)


def _shown_output(output: str) -> str:
    """How target.json names the folder: as given when relative, else only its name (no machine paths)."""
    path = Path(output)
    return output.rstrip("/") if not path.is_absolute() else path.name


def run(args: argparse.Namespace) -> int:
    from migrate.primus import snapshot

    root = Path(args.primus_path)
    snapshot.configs_of(root)
    facts = snapshot.checkout_facts(root, args.release, args.megatron_pin, args.primus_commit, args.torchtitan_pin)
    name = args.name or snapshot.target_name(facts.release)
    generated_by = f"primus-migrate target --primus-path <Primus checkout> -o {_shown_output(args.output)}"
    megatron = Path(args.megatron_path) if args.megatron_path else None
    files = snapshot.build_target(root, name, facts, generated_by, megatron)
    out = Path(args.output)
    snapshot.write_target(out, files, args.force)
    record = json.loads(files[snapshot.TARGET_FILE])
    presets = sum(1 for rel in files if rel.endswith(".yaml"))
    print(f"{out}: target {name}, {presets} presets of Primus {facts.release}, Megatron-LM "
          f"{facts.megatron_pin[:8]}")
    if record["megatron_schema"] == snapshot.SCHEMA_FILE:
        print(f"note: Megatron-LM {facts.megatron_pin[:8]} has no bundled option table; its table, extracted "
              f"from {megatron}, is {out / snapshot.SCHEMA_FILE}", file=sys.stderr)
    elif record["megatron_schema"] is None:
        print(f"note: no bundled Megatron-LM schema for {facts.megatron_pin[:8]}; pass --megatron-path DIR (a "
              "checkout of that commit) to extract its table into the target", file=sys.stderr)
    elif megatron is not None:
        print(f"note: Megatron-LM {facts.megatron_pin[:8]} has a bundled table; --megatron-path not read",
              file=sys.stderr)
    return 0
