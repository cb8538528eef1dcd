"""`primus-migrate inspect SCRIPT [KEY=VALUE ...] [-- SCRIPT_ARGS ...]`: what would the script launch?

Prints the script's knobs, the environment exported at the launch, the
launcher and the training argv with the file:line each token came from.
Nothing in the script is executed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys


_PAIR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


class ScriptArgsParser(argparse.ArgumentParser):
    """Keeps the words after the first `--` as the script's own arguments (`script_args`).

    argparse would otherwise fold them into the KEY=VALUE positionals and lose the
    boundary, but `MODEL_SIZE=8` means different things on either side of `--`.
    """

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        words = list(sys.argv[1:] if args is None else args)
        tail: list[str] = []
        if "--" in words:
            at = words.index("--")
            words, tail = words[:at], words[at + 1 :]
        namespace, extras = super().parse_known_args(words, namespace)
        namespace.script_args = tail
        return namespace, extras


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "inspect",
        help="show what a legacy launch script would run (without running it)",
        description=(
            "Evaluate a Megatron-LM launch script statically. KEY=VALUE pairs are the script's "
            "environment (like `KEY=VALUE bash SCRIPT`); words after `--` are its arguments."
        ),
    )
    parser.__class__ = ScriptArgsParser
    add_script_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--args", action="store_true",
                        help="also show the Megatron arguments the argv means (parsed and derived)")
    parser.add_argument("--megatron-schema", "--schema", dest="schema", default="rocm_dev", metavar="NAME|PATH",
                        help="Megatron argument schema for --args: a bundled name or a JSON file from "
                             "`primus-migrate schema` (default rocm_dev, the legacy scripts' fork)")
    parser.set_defaults(func=run)
    return parser


def add_script_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that evaluates a script shares.

    The seam for later views (e.g. `--args`, the Megatron argument view): add the
    option here or in `register`, and branch in `run` on it.
    """
    parser.add_argument("script", help="the bash launch script")
    parser.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="environment for the script")
    parser.add_argument("--gpus-per-node", type=int, default=8, metavar="N",
                        help="GPUs per node assumed for torch.cuda.device_count(), nvidia-smi, ... (default 8)")
    parser.add_argument("--assume-exists", action="append", default=[], metavar="PATH",
                        help="a path the script's file tests find (see `convert --help`); repeatable")


def split_script_args(args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """(environment, positional arguments) from `KEY=VALUE ... -- ARGS`."""
    from migrate.diagnostics import MigrateError

    env: dict[str, str] = {}
    positional: list[str] = list(args.script_args)  # set by ScriptArgsParser
    for pair in args.pairs:
        if not _PAIR.match(pair):
            raise MigrateError(f"expected KEY=VALUE, got `{pair}`", hint="put script arguments after `--`")
        key, value = pair.split("=", 1)
        env[key] = value
    return env, positional


def evaluate(args: argparse.Namespace):
    from migrate.shell import EvalOptions, evaluate_script

    env, positional = split_script_args(args)
    return evaluate_script(args.script, env, positional, EvalOptions(gpus_per_node=args.gpus_per_node,
                                                                     assume_exists=tuple(args.assume_exists)))


def run(args: argparse.Namespace) -> int:
    plan = evaluate(args)
    view = None
    from migrate.torchtitan import is_torchtitan_entry

    titan = is_torchtitan_entry(plan.entry)
    if args.args and titan:
        from migrate.torchtitan.cli import args_view as titan_args_view

        view = titan_args_view(plan)  # the JobConfig view (owned by migrate.torchtitan)
    elif args.args:
        from migrate.entries import entry_summary
        from migrate.megatron.view import args_view  # the Megatron argument view (owned by migrate.megatron)

        view = args_view(plan, args.schema, plan.diagnostics)
        view["entry"] = entry_summary(plan.entry, view["args"])  # the model the entry builds (migrate.entries)
    if args.json:
        data = plan.to_json()
        if view is not None:
            # `args` (as argparse leaves them), `derived` and `explicit` sit beside the plan's keys.
            data.update(view)
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return 0
    print_plan(plan)
    if view is not None and titan:
        from migrate.torchtitan.cli import print_args_view as print_titan_view

        print_titan_view(view)
    elif view is not None:
        print_args_view(view)
    return 0


def print_args_view(view: dict) -> None:
    from rich.table import Table

    from migrate.megatron.view import view_rows

    table = Table(title=f"Megatron arguments (schema {view['schema']}, world size {view['world_size']})",
                  title_justify="left")
    for column in ("dest", "value", "from"):
        table.add_column(column)
    for row in view_rows(view):
        table.add_row(*row)
    console = _console()
    console.print(table)
    entry = view.get("entry") or {}
    if entry:
        verdicts = "; ".join(f"{t}: {v}" for t, v in (entry.get("targets") or {}).items())
        console.print(f"Entry {entry['program']}: " + (f"builds {entry['builds']} ({verdicts})" if entry.get("kind")
                                                        else entry["verdict"]), markup=False, highlight=False)


def print_plan(plan) -> None:
    from rich.table import Table

    console = _console()
    knobs = Table(title=f"Knobs of {plan.script}", title_justify="left")
    for column in ("knob", "value", "from", "default", "compared with"):
        knobs.add_column(column, overflow="fold")
    knobs.add_column("defined at", no_wrap=True)
    for knob in plan.knobs:
        knobs.add_row(knob.name, _show(knob.value), knob.source, _show(knob.default),
                      ", ".join(knob.compared_with), str(knob.defined_at or ""))
    console.print(knobs)

    env = Table(title="Environment exported at the launch", title_justify="left")
    for column in ("variable", "value", "set at"):
        env.add_column(column)
    for var in plan.env.values():
        env.add_row(var.name, var.value + (" (unknown)" if var.unknown else ""), str(var.origin))
    console.print(env)

    launcher = plan.launcher
    wrappers = " | ".join(" ".join(t.value for t in w) for w in launcher.wrappers)
    console.print(f"[bold]Launcher[/bold] {launcher.kind}: {' '.join(t.value for t in launcher.argv)}"
                  + (f"  (wrapped by: {wrappers})" if wrappers else ""), markup=True, highlight=False)
    console.print(f"[bold]Entry[/bold] {plan.entry}", markup=True, highlight=False)

    argv = Table(title="Training arguments", title_justify="left")
    for column in ("#", "token"):
        argv.add_column(column, overflow="fold")
    argv.add_column("from", no_wrap=True)
    for i, token in enumerate(plan.argv):
        argv.add_row(str(i), token.value + (" (unknown)" if token.unknown else ""), str(token.origin))
    console.print(argv)
    for diagnostic in plan.diagnostics:
        console.print(str(diagnostic), markup=False, highlight=False)


def _console():
    """Tables at the terminal's width; 160 columns when piped, so flags are never folded."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def _show(value: str | None) -> str:
    return "(unset)" if value is None else repr(value) if value == "" else value
