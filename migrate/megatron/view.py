"""What `primus-migrate inspect SCRIPT --args` shows: the run's effective Megatron arguments.

Three layers, so a reader sees where each value comes from: `args` as
argparse leaves them (explicit flags over the parser defaults), `derived` after
validate_args' derivations (including the entry script's `args_defaults`), and
`explicit`, the dests the script set with the script line that set them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrate.diagnostics import Diagnostics
from migrate.megatron.argv import parse_argv
from migrate.megatron.derive import DEFAULT_WORLD_SIZE, derive
from migrate.megatron.schema import load_schema
from migrate.shell.plan import LaunchPlan
from migrate.values import same_value

if TYPE_CHECKING:
    from rich.console import Console


def _first_int(text: str | None) -> int | None:
    if not text:
        return None
    head = text.split(":")[-1]  # torchrun elastic "MIN:MAX" -> MAX
    return int(head) if head.isdigit() else None


def world_size_of(plan: LaunchPlan) -> int:
    """Processes the launch starts: torchrun's nnodes * nproc_per_node, else WORLD_SIZE, else 1."""
    opts = plan.launcher.options()
    nproc = _first_int(opts.get("nproc_per_node") or opts.get("nproc-per-node"))
    nnodes = _first_int(opts.get("nnodes")) or 1
    if nproc is not None:
        return nproc * nnodes
    env = plan.env.get("WORLD_SIZE")
    if env is not None and env.value.isdigit():
        return int(env.value)
    return DEFAULT_WORLD_SIZE


def args_view(
    plan: LaunchPlan, schema_name_or_path: str = "rocm_dev", diags: Diagnostics | None = None
) -> dict[str, Any]:
    """{"args", "derived", "explicit"} (+ "schema", "world_size", "entry_script", "args_defaults")
    for the plan's training argv. What the entry builds is the entry registry's
    (`migrate.entries.entry_summary`); `inspect --args` adds it as "entry"."""
    base = load_schema(schema_name_or_path)
    schema = base.for_entry(plan.entry)  # + the entry script's extra options
    defaults = base.entry_args_defaults(plan.entry)  # what it passes to pretrain()
    parsed = parse_argv(schema, plan.argv, diags)
    world = world_size_of(plan)
    derived = derive(parsed.args, schema, world_size=world, args_defaults=defaults)
    return {
        "schema": schema.name,
        "world_size": world,
        "entry_script": base.match_entry(plan.entry),
        "args_defaults": defaults,
        "args": parsed.args,
        "derived": derived,
        "explicit": {dest: (str(origin) if origin else None) for dest, origin in parsed.explicit.items()},
    }


def _show(value: Any) -> str:
    if isinstance(value, dict) and "unevaluated" in value:
        return f"<{value['unevaluated']}>"
    return repr(value) if isinstance(value, str) else str(value)


def view_rows(view: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(dest, value, where from): explicit first (argv order), then derived changes, then defaults."""
    args, derived, explicit = view["args"], view["derived"], view["explicit"]
    rows: list[tuple[str, str, str]] = []
    changed = [d for d in derived if d not in args or not same_value(derived[d], args[d])]
    for dest in explicit:
        value = derived.get(dest, args[dest])
        note = f"explicit {explicit[dest] or ''}".rstrip()
        if dest in changed:
            note += f" → derived (was {_show(args[dest])})"
        rows.append((dest, _show(value), note))
    entry_defaults = view.get("args_defaults") or {}
    for dest in changed:
        if dest not in explicit:
            was = f" (default {_show(args[dest])})" if dest in args else ""
            why = ""
            if dest in entry_defaults and args.get(dest) is None and same_value(derived[dest], entry_defaults[dest]):
                why = f" from args_defaults of {view.get('entry_script')}"
            rows.append((dest, _show(derived[dest]), "derived" + why + was))
    for dest in args:
        if dest not in explicit and dest not in changed:
            rows.append((dest, _show(args[dest]), "default"))
    return rows


def render_args_table(view: dict[str, Any], console: Console) -> None:
    """Print the view with rich: one row per dest, marked explicit / derived / default."""
    from rich.table import Table

    table = Table(
        title=f"Megatron-LM arguments (schema {view.get('schema', '?')}, world size {view.get('world_size', '?')})"
    )
    table.add_column("dest", style="bold")
    table.add_column("value")
    table.add_column("source")
    styles = {"explicit": "green", "derived": "yellow", "default": "dim"}
    for dest, value, source in view_rows(view):
        table.add_row(dest, value, source, style=styles.get(source.split(" ")[0]))
    console.print(table)
