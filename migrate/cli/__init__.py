"""`primus-migrate`: the command-line front door.

Each subcommand lives in its own module of this package exposing
`register(subparsers)`; the module's parser sets `func` to a `run(args) -> int`.
Modules import their heavy dependencies inside `run`, so `--help` and the
conversion path never import torch or megatron.

`primus-migrate SCRIPT ...` (no subcommand) means `primus-migrate convert SCRIPT ...`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from migrate.diagnostics import MigrateError

TYPE_CHECKING = False  # `typing` is not imported at run time: the CLI's start-up path avoids it

if TYPE_CHECKING:
    from typing import Sequence

# (subcommand, module below migrate.cli). Order is the order shown in --help.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("convert", "convert"),
    ("inspect", "inspect_cmd"),
    ("schema", "schema_cmd"),
    ("resolve", "resolve_cmd"),
    ("to-megatron", "to_megatron"),
    ("train", "train_cmd"),
    ("parity", "parity_cmd"),
    ("compare-logs", "compare_logs"),
    ("batch", "batch_cmd"),
)

EXIT_CODES = {
    0: "success",
    1: "internal error (a bug in primus-migrate; please report it)",
    2: "bad input: the script, YAML, flags or paths could not be used",
    3: "parity failed: the Primus config would not run like the legacy script",
    4: "converted, but some flags have no Primus equivalent (see the report)",
    5: "a training run failed",
    130: "interrupted (SIGINT, Ctrl-C)",
    143: "terminated (SIGTERM)",
}


def _help_width() -> int:
    """The help text width argparse would pick (terminal columns - 2), found without `shutil`."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns - 2


class Parser(argparse.ArgumentParser):
    """argparse builds a help formatter for every `add_argument`, and its default width costs an
    import of `shutil` (with bz2 and lzma, ~4 ms of every start-up); subcommand parsers inherit this."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_help_width())


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with `only` one subcommand's (a run needs no other module imported)."""
    parser = Parser(
        prog="primus-migrate",
        description="Convert Megatron-LM launch scripts to Primus configs and prove parity.",
        epilog="Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
        allow_abbrev=False,
    )
    from migrate import __version__

    parser.add_argument("--version", action="version", version=f"primus-migrate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"migrate.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"migrate.cli.{module_name}":
                continue  # that command is not part of this build
            raise
        module.register(sub)
    return parser


def _with_default_command(argv: list[str], known: set[str]) -> list[str]:
    """`primus-migrate train_llama3.sh TP=1 -o out/` → `convert train_llama3.sh ...`."""
    for i, word in enumerate(argv):
        if word.startswith("-"):
            if word in ("-h", "--help"):
                return argv
            continue
        if word in known:
            return argv
        _refuse_mistyped_command(word, known)
        return argv[:i] + ["convert"] + argv[i:]
    return argv


def _refuse_mistyped_command(word: str, known: set[str]) -> None:
    """`insepct x.sh` / `conver`: a first word that is no file, has no path or suffix, and is close
    to a subcommand is a typo, not a script name; say which subcommand was probably meant."""
    if "/" in word or "." in word or "=" in word or os.path.exists(word):
        return
    import difflib

    match = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.75)  # `train_llama` (0.62) is a script
    if match:
        raise MigrateError(f"unknown command '{word}' (and no file of that name)",
                           hint=f"did you mean `primus-migrate {match[0]}`?", exit_code=2)


def _command_word(argv: list[str]) -> str | None:
    """The subcommand named first on the line, if it is one; None means build every subcommand."""
    for word in argv:
        if word.startswith("-"):
            if word in ("-h", "--help"):
                return None
            continue
        return word if any(word == name for name, _ in COMMANDS) else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # a real command line: SIGINT/SIGTERM unwind (temporary files removed), exit quietly
        from migrate import signals

        signals.install()
    try:
        return _main(args_list, argv is None)
    except KeyboardInterrupt as exc:  # also a signal during the error handling below
        return int(getattr(exc, "exit_code", 130))


def _main(args_list: list[str], real: bool) -> int:
    if real:  # a real command line: let shfmt parse the script while the subcommand is imported
        from migrate.shell import early

        early.start(args_list)
    try:
        parser = build_parser(only=_command_word(args_list))
        known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
        if not known:  # that command is not part of this build: decide with all of them
            parser = build_parser()
            known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
        args = parser.parse_args(_with_default_command(args_list, known))
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except MigrateError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("interrupted" if getattr(exc, "signum", 2) == 2 else "terminated", file=sys.stderr)
        return int(getattr(exc, "exit_code", 130))
    except BrokenPipeError:
        return 0
    except RecursionError:  # only input can nest this deep (YAML, extends: chains, sourced scripts)
        print("error: the input is nested too deeply to process (YAML, extends: chain or sourced scripts)",
              file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a message
        if os.environ.get("PRIMUS_MIGRATE_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in primus-migrate; rerun with PRIMUS_MIGRATE_DEBUG=1 for a traceback and report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
