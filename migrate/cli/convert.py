"""`primus-migrate SCRIPT [KEY=VALUE ...] [-- ARGS] -o OUTDIR`: convert a legacy launch script."""

from __future__ import annotations

import argparse
import json
import sys

from migrate.diagnostics import MigrateError
from migrate.cli._primus_args import add_script_reading_options, add_target_option
from migrate.primus.profiles import DEFAULT_TARGET


class _IntermixedParser(argparse.ArgumentParser):
    """Positionals may follow options (`SCRIPT -o OUT -- ARGS`): parse them after all options,
    as `parse_intermixed_args` does (which itself calls `parse_known_args`, hence the guard)."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inside:
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a Megatron-LM launch script to Primus YAML (the default command)",
        description=(
            "Convert a legacy Megatron-LM launch script into a Primus experiment (and model file when the "
            "architecture matches no preset), check that it resolves to exactly the legacy run (static "
            "parity), and write it with a run script and a migration report. KEY=VALUE words set the "
            "script's knobs as environment variables; words after `--` are passed to the script."
        ),
        allow_abbrev=False,
        usage=("%(prog)s SCRIPT [KEY=VALUE ...] -o OUTDIR [--target TARGET] [--name NAME]\n"
               "       [--force] [--json] [--strict] [--keep-knobs] [--gpus-per-node N] [--legacy-schema NAME|FILE]\n"
               "       [--accept-null-tokenizer] [--entry-as FAMILY] [--assume-exists PATH] [--primus-path DIR]\n"
               "       [-- SCRIPT_ARGS ...]"),
        epilog=("exit codes: 0 written; 2 unusable input (or unmapped flags under --strict), nothing written; "
                "3 static parity failed, nothing written; 4 written, some flags have no Primus equivalent."),
    )
    p.add_argument("script", help="the legacy launch script (e.g. train_llama3.sh)")
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE",
                   help="knob values, as if exported before running the script (TP=2 MODEL_SIZE=70)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder to write the Primus files into")
    add_target_option(p, DEFAULT_TARGET)
    p.add_argument("--name", help="experiment name (default: script name plus the knobs you set)")
    p.add_argument("--force", action="store_true", help="replace files that already exist in OUTDIR")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 2, nothing written) when a flag has no Primus equivalent")
    p.add_argument("--keep-knobs", action="store_true",
                   help="keep knobs that map 1:1 to a key as ${KNOB:value} parameters in the YAML")
    add_script_reading_options(p)
    p.add_argument("--primus-path", metavar="DIR",
                   help="a Primus checkout whose presets and rules to use instead of the snapshot")
    p.set_defaults(func=run)
    # KEY=VALUE words may come before or after the options, and `-- ARGS` after them.
    p.__class__ = _IntermixedParser


def split_settings(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading KEY=VALUE words -> env; the rest (the words after `--`) -> the script's arguments."""
    env: dict[str, str] = {}
    rest: list[str] = []
    for i, word in enumerate(words):
        key, sep, value = word.partition("=")
        if sep and key.isidentifier() and not rest:
            env[key] = value
        else:
            rest = words[i:]
            break
    return env, rest


def run(args: argparse.Namespace) -> int:
    from migrate.megatron.schema_choice import LEGACY_SCHEMA_CODE
    from migrate.output import OutputTree
    from migrate.pipeline import ConvertOptions, convert_script

    env, script_args = split_settings(list(args.settings))
    if args.gpus_per_node < 1:
        raise MigrateError("--gpus-per-node must be at least 1")
    options = ConvertOptions(target=args.target, name=args.name, keep_knobs=args.keep_knobs, strict=args.strict,
                             gpus_per_node=args.gpus_per_node, legacy_schema=args.legacy_schema,
                             primus_path=args.primus_path, accept_null_tokenizer=args.accept_null_tokenizer,
                             entry_as=args.entry_as, assume_exists=tuple(args.assume_exists))
    from migrate.torchtitan import cli as titan

    if titan.is_toml(args.script):  # a torchtitan job config alone
        return titan.run_convert(args, None, script_args)
    try:
        conversion = convert_script(args.script, env, script_args, options)
    except titan.TorchtitanLaunch as launch:
        return titan.run_convert(args, launch.plan, script_args)
    from migrate.primus.emit.report import repeats_unmapped

    unmapped = conversion.report.get("unmapped") or []
    for item in conversion.diagnostics:  # an unmapped flag is said once, by the list at the end
        if (item.severity == "warning" or item.code == LEGACY_SCHEMA_CODE) and not repeats_unmapped(
                item.code, item.message, unmapped):
            print(str(item), file=sys.stderr)

    if not conversion.parity.ok:
        print(f"{args.script}: error: the Primus config would not run like the script; nothing written",
              file=sys.stderr)
        print(conversion.parity.format(), file=sys.stderr)
        if args.json:
            print(json.dumps(conversion.report, indent=2, default=str))
        return 3
    if conversion.unmapped and args.strict:
        print(f"{args.script}: error: {len(conversion.unmapped)} flag(s) have no Primus equivalent "
              f"(--strict); nothing written", file=sys.stderr)
        for item in conversion.report["unmapped"]:
            print(f"  {item['origin']}: {item['flag']}: {item['why']}", file=sys.stderr)
        return 2

    tree = OutputTree(args.output, force=args.force)
    for rel, text in conversion.files.items():
        tree.add(rel, text)
    tree.commit()

    if args.json:
        print(json.dumps(conversion.report, indent=2, default=str))
    else:
        _summary(args.output, conversion)
    if conversion.unmapped:
        for item in conversion.report["unmapped"]:
            print(f"{item['origin']}: warning: {item['flag']}: {item['why']}", file=sys.stderr)
        return 4
    return 0


def _summary(outdir: str, conversion) -> None:
    r = conversion.report
    model = (f"new model {r['model_file']} (inherits {r['preset']})" if r["model_file"]
             else f"preset {r['preset']} as is")
    print(f"wrote {len(conversion.files)} files to {outdir}: {r['experiment']}, {model}")
    inert = sum(1 for o in r['overrides'] if o.get('inert'))
    print(f"  {len(r['overrides'])} overrides "
          f"({sum(1 for o in r['overrides'] if o['origin'] == 'Megatron default')} keep a Megatron default "
          f"the preset changes; {inert} cannot change this run, written last); static parity ok")
    print(f"  run: cd <Primus> && {_run_line(outdir, r)}")
    print(f"  report: {outdir.rstrip('/')}/report.md")


def _run_line(outdir: str, report: dict) -> str:
    """The launch line runs after `cd <Primus>`: the experiment's path must not depend on where we are."""
    import os

    from migrate.primus.emit.runscript import run_command
    from migrate.primus.releases import release

    return run_command(release(report["primus_release"]).run,
                       os.path.join(os.path.abspath(outdir), report["experiment"]))
