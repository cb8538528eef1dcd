"""`primus-migrate to-megatron EXP.yaml`: the Megatron argv equivalent to a Primus experiment (rollback)."""

from __future__ import annotations

import argparse
import shlex
import sys

from migrate.cli._primus_args import add_target_options, add_trainer_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "to-megatron",
        help="print the Megatron-LM argv that reproduces a Primus experiment",
        description="Resolve EXP.yaml like the target Primus release, then print the flags that make the "
                    "pinned Megatron's parser produce the same values (only flags that differ from its defaults).",
    )
    parser.add_argument("experiment", metavar="EXP.yaml")
    add_target_options(parser)
    add_trainer_option(parser)
    parser.add_argument("--lines", action="store_true", help="one flag per line, with shell line continuations")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migrate.primus import get_profile, resolve_experiment, to_argv
    from migrate.primus.validate import check_experiment

    profile = get_profile(args.target, args.primus_path)
    for note in profile.notes:
        print(f"note: {note}", file=sys.stderr)
    resolved = resolve_experiment(args.experiment, profile, trainer_rewrites=args.trainer)
    check_experiment(resolved, profile)  # refused alike by resolve, to-megatron and train
    skipped: list[str] = []
    argv = to_argv(resolved.values, profile.schema(), skipped)
    if args.lines:
        groups: list[list[str]] = []
        for token in argv:
            if token.startswith("--") or not groups:
                groups.append([token])
            else:
                groups[-1].append(token)
        sys.stdout.write(" \\\n".join(shlex.join(g) for g in groups) + "\n")
    else:
        sys.stdout.write(shlex.join(argv) + "\n")
    for dest in skipped:
        print(f"warning: no Megatron flag can set {dest}={resolved.values[dest]!r}; left out", file=sys.stderr)
    if resolved.missing:
        print(f"note: {len(resolved.missing)} Megatron dests are absent from the {profile.name} namespace; "
              "the argv leaves them at Megatron's defaults", file=sys.stderr)
    return 0
