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
from typing import Sequence

from migrate import signals
from migrate.diagnostics import MigrateError

# (subcommand, module below migrate.cli). Order is the order shown in --help.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("convert", "convert"),
    ("inspect", "inspect_cmd"),
    ("schema", "schema_cmd"),
    ("resolve", "resolve_cmd"),
    ("verify", "verify"),
    ("to-megatron", "to_megatron"),
    ("explain", "explain"),
    ("train", "train_cmd"),
    ("parity", "parity_cmd"),
    ("compare-logs", "compare_logs"),
    ("batch", "batch_cmd"),
    ("target", "target_cmd"),
    ("targets", "targets_cmd"),
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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with `only` one subcommand's (a run needs no other module imported)."""
    parser = argparse.ArgumentParser(
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
        importlib.import_module(f"migrate.cli.{module_name}").register(sub)
    return parser


def _first_word(argv: list[str]) -> int | None:
    """Where the command word is: the first word that is not an option; None when there is none or
    help is asked for before it."""
    for i, word in enumerate(argv):
        if word in ("-h", "--help"):
            return None
        if not word.startswith("-"):
            return i
    return None


def _with_default_command(argv: list[str], known: set[str]) -> list[str]:
    """`primus-migrate train_llama3.sh TP=1 -o out/` → `convert train_llama3.sh ...`."""
    i = _first_word(argv)
    if i is None or argv[i] in known:
        return argv
    _refuse_mistyped_command(argv[i], known)
    return argv[:i] + ["convert"] + argv[i:]


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
    """The subcommand the line runs, so that only its parser is built: the first word when it names
    one, `convert` when it is a script (the default command); None means build every subcommand (no
    word, help, or a word that may be a mistyped subcommand, which the full parser refuses)."""
    i = _first_word(argv)
    if i is None:
        return None
    names = [name for name, _ in COMMANDS]
    if argv[i] in names:
        return argv[i]
    try:
        _refuse_mistyped_command(argv[i], set(names))
    except MigrateError:
        return None
    return "convert"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # a real command line: SIGINT/SIGTERM unwind (temporary files removed), exit quietly
        signals.install()
    try:
        return _main(args_list)
    except KeyboardInterrupt as exc:  # also a signal during the error handling below
        return _interrupted_code(exc)


def _interrupted_code(exc: KeyboardInterrupt) -> int:
    """The shell's exit status: 128 + the signal (a Ctrl-C without our handlers installed: SIGINT)."""
    return exc.exit_code if isinstance(exc, signals.Interrupted) else 130


def _main(args_list: list[str]) -> int:
    try:
        parser = build_parser(only=_command_word(args_list))
        args = parser.parse_args(_with_default_command(args_list, {name for name, _ in COMMANDS}))
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except MigrateError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("terminated" if _interrupted_code(exc) == 143 else "interrupted", file=sys.stderr)
        return _interrupted_code(exc)
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
