"""Options shared by several commands: reading a Primus experiment (resolve, to-megatron), reading a
legacy script (convert, parity, batch)."""

from __future__ import annotations

import argparse

TARGET_HELP = ("Primus release whose rules apply: a target name, its release tag (v26.5.1) or `auto` (the "
               "release of --primus-path's checkout); `primus-migrate targets` lists them (default: {default})")


def target_name(text: str) -> str:
    """argparse type of --target: the canonical name of a known target or alias; anything else is
    kept as given, for `get_profile` to refuse (exit 2, listing the targets) or to read as `auto`."""
    from migrate.diagnostics import MigrateError
    from migrate.primus.profiles import canonical_target

    try:
        return canonical_target(text)
    except MigrateError:
        return text


def add_target_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--target, the same for every command that reads or writes a Primus experiment."""
    from migrate.primus.profiles import DEFAULT_TARGET

    parser.add_argument("--target", type=target_name, default=default, metavar="TARGET",
                        help=TARGET_HELP.format(default=default or DEFAULT_TARGET))


def add_target_options(parser: argparse.ArgumentParser) -> None:
    add_target_option(parser, None)
    parser.add_argument("--primus-path", metavar="DIR", default=None,
                        help="read presets from this Primus checkout instead of the bundled snapshot; "
                             "its release (git tag, else its code) decides the rules")


def add_script_reading_options(parser: argparse.ArgumentParser) -> None:
    """How a legacy script is read: the same options for convert, parity and batch."""
    parser.add_argument("--gpus-per-node", type=int, default=8, metavar="N",
                        help="GPUs per node assumed for the script's device queries (default: 8)")
    parser.add_argument("--legacy-schema", default=None, metavar="NAME|FILE",
                        help="Megatron-LM option table of the legacy script: a bundled name (rocm_dev, d3528a21, "
                             "5a676b36) or a JSON file from `primus-migrate schema`; default: the Megatron-LM "
                             "checkout the script sits in, else the first bundled table (rocm_dev first) that "
                             "accepts every option")
    parser.add_argument("--accept-null-tokenizer", action="store_true",
                        help="v26.3 and later train --mock-data runs with the NullTokenizer: accept that difference "
                             "(vocab_size is set so the padded vocabulary stays the script's)")
    parser.add_argument("--entry-as", metavar="FAMILY",
                        help="read an entry script primus-migrate does not know as this family builds it (gpt: "
                             "what pretrain_gpt.py builds from the same arguments); recorded in the report and "
                             "the YAML header")
    parser.add_argument("--assume-exists", action="append", default=[], metavar="PATH",
                        help="a path the script's file tests (`[ -f PATH ]`, `[ -d PATH ]`) find, as on the "
                             "machine it runs on (relative: to where the script runs); repeatable. Otherwise "
                             "only the scripts and what they create exist: the folders beside them are never "
                             "looked at")


def add_trainer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trainer", action="store_true",
                        help="also apply the rewrites the release's Megatron trainer makes before Megatron "
                             "validates the arguments (TP=1 turns sequence_parallel off, mock_data clears data "
                             "paths, ...); without it they are only listed")
