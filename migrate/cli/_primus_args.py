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
