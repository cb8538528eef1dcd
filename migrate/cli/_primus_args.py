"""Options shared by the commands that read a Primus experiment (resolve, to-megatron)."""

from __future__ import annotations

import argparse

TARGET_CHOICES = ("primus-0.1", "primus-26.5")


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=TARGET_CHOICES, default=None,
                        help="Primus release whose loading rules apply (default: primus-26.5)")
    parser.add_argument("--primus-path", metavar="DIR", default=None,
                        help="read presets from this Primus checkout instead of the bundled snapshot; "
                             "its rules (bases: or extends:) are detected from the checkout")


def add_trainer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trainer", action="store_true",
                        help="also apply the rewrites the release's Megatron trainer makes before Megatron "
                             "validates the arguments (TP=1 turns sequence_parallel off, mock_data clears data "
                             "paths, ...); without it they are only listed")
