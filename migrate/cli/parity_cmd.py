"""`primus-migrate parity SCRIPT [KEY=VALUE ...] [-- ARGS]`: prove the conversion trains the same."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from migrate.diagnostics import MigrateError
from migrate.cli._primus_args import add_script_reading_options, add_target_option
from migrate.primus.profiles import DEFAULT_TARGET

EPILOG = """\
Static parity first (every Megatron argument of the emitted Primus config resolves to the value
the legacy script gives it); then, unless --static, both sides train on the bundled runtime with
the same seed and the same tokens (the script's dataset when its files are on this machine,
else synthetic tokens): the legacy script's effective Megatron arguments, and the emitted YAML
loaded by the target Primus version's own rules. lm loss, grad norm and learning rate are
compared iteration by iteration: exactly on CPU (default), within --rtol otherwise.
With --nproc > 1 the legacy parallel layout is shrunk to fit (TP<=2, PP<=2, the rest data
parallel, on gloo) and also checked against a single-process TP=1 run (--layout-rtol); those
runs train without dropout and with one padded vocabulary, so all layouts train the same model.
A full-size run that cannot fit this machine is refused before it starts (try --proxy).

While it runs, progress (phase, then iteration i/N of each side) goes to stderr: a live display
on a terminal, plain `parity: ...` lines otherwise; stdout carries only the report.

KEY=VALUE words are environment for the script (as in `KEY=VALUE bash SCRIPT`); words after
`--` are the script's own arguments.

exit codes: 0 parity holds; 2 unusable input (script, flags, or a run that cannot fit this
machine: try --proxy); 3 parity failed (static or dynamic); 5 a training run failed.
"""

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--static", action="store_true", help="only static parity (no training)")
    add_target_option(p, DEFAULT_TARGET)
    p.add_argument("--iters", type=int, help="iterations per run (default 10)")
    p.add_argument("--proxy", action="store_true", help="shrink the model, keeping its structure")
    p.add_argument("--nproc", type=int, default=1, help="processes per run (gloo on CPU); >1 checks the layout")
    p.add_argument("--rtol", type=float, help="relative tolerance (default: exact on CPU, 1e-5 on GPU)")
    p.add_argument("--layout-rtol", type=float, default=1e-4,
                   help="tolerance of the shrunk layout against TP=1 (default 1e-4)")
    p.add_argument("--seed", type=int, help="override both sides' seed (default: each config's own)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add_script_reading_options(p)  # --gpus-per-node, --legacy-schema, --accept-null-tokenizer, --entry-as
    p.add_argument("--primus-path", help="a Primus checkout to read presets from instead of the snapshot")
    p.add_argument("--plot", metavar="OUT.png", help="write both runs' lm loss, grad norm and lr curves to this PNG")
    p.add_argument("--keep-logs", metavar="DIR",
                   help="keep each run's train.log and metrics.jsonl in DIR/legacy, DIR/primus (for compare-logs)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--force", action="store_true", help="overwrite --plot and --keep-logs outputs")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "parity",
        help="prove a converted script trains exactly like the legacy one",
        description="Static and dynamic parity of a legacy Megatron-LM launch script and its Primus conversion.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_options(p)
    p.add_argument("script", metavar="SCRIPT", help="legacy launch script")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="[KEY=VALUE ...] [-- ARGS]",
                   help="environment assignments, then `--` and the script's arguments")
    p.set_defaults(func=run)


def split_words(words: list[str], args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """Options may follow SCRIPT; KEY=VALUE are env; `--` starts the script's arguments."""
    if "--" in words:
        cut = words.index("--")
        before, script_args = words[:cut], words[cut + 1:]
    else:
        before, script_args = words, []
    late = argparse.ArgumentParser(prog="primus-migrate parity", add_help=False, allow_abbrev=False)
    _add_options(late)
    for action in late._actions:
        action.default = argparse.SUPPRESS  # keep what was parsed before SCRIPT
    try:
        _, rest = late.parse_known_args(before, namespace=args)
    except SystemExit:
        raise MigrateError("could not parse the options after SCRIPT", hint="see primus-migrate parity --help") \
            from None
    env: dict[str, str] = {}
    for word in rest:
        if not _ASSIGNMENT.match(word):
            raise MigrateError(f"unexpected argument {word!r}",
                               hint="environment is KEY=VALUE; put the script's own arguments after `--`")
        key, value = word.split("=", 1)
        env[key] = value
    return env, script_args


def run(args: argparse.Namespace) -> int:
    env, script_args = split_words(list(args.words), args)
    if args.nproc < 1:
        raise MigrateError(f"--nproc must be >= 1, got {args.nproc}")
    if args.iters is not None and args.iters < 1:
        raise MigrateError(f"--iters must be >= 1, got {args.iters}")
    from migrate.shell.evaluate import refuse_unusable_script

    refuse_unusable_script(args.script, args.script)  # before torch is imported

    from migrate.parity.dynamic import ParityOptions, check_logs_dir, run_parity

    if args.keep_logs:
        check_logs_dir(Path(args.keep_logs), force=args.force)
    from migrate.parity.report import LAYOUT_LABELS, failure_summary, json_safe, parity_json, render_parity

    options = ParityOptions(
        target=args.target, iters=args.iters, proxy=args.proxy, nproc=args.nproc, rtol=args.rtol,
        layout_rtol=args.layout_rtol, seed=args.seed, device=args.device, static_only=args.static,
        gpus_per_node=args.gpus_per_node, legacy_schema=args.legacy_schema, primus_path=args.primus_path,
        accept_null_tokenizer=args.accept_null_tokenizer, entry_as=args.entry_as,
        assume_exists=tuple(args.assume_exists), logs_dir=Path(args.keep_logs) if args.keep_logs else None,
    )
    from migrate.parity.progress import Progress
    from migrate.torchtitan import cli as titan

    if titan.is_toml(args.script):
        return titan.run_static_parity(args, None, script_args)
    progress = Progress.for_stream(sys.stderr) if not args.static else Progress()
    try:
        try:
            result = run_parity(args.script, env, script_args, options, backends=_backends_hook(), progress=progress)
        finally:
            progress.close()  # before anything else is printed
    except titan.TorchtitanLaunch as launch:
        return titan.run_static_parity(args, launch.plan, script_args)
    written = []
    if args.plot and not args.static:
        written.append(_write_plot(result, Path(args.plot), args.force))
    if args.json:
        data = parity_json(result)
        data["written"] = [str(p) for p in written]
        print(json.dumps(json_safe(data), indent=2, default=repr, allow_nan=False))
    else:
        print(render_parity(result))
        for path in written:
            print(f"wrote {path}")
    if not result.ok:
        if not result.static_ok:
            print(f"parity failed: static parity ({len(result.static.differences)} argument(s) differ)",
                  file=sys.stderr)
        if result.comparison is not None and not result.comparison.ok:
            print(failure_summary(result.comparison, "dynamic parity"), file=sys.stderr)
        if result.layout_comparison is not None and not result.layout_comparison.ok:
            print(failure_summary(result.layout_comparison, "layout parity", LAYOUT_LABELS), file=sys.stderr)
        return 3
    return 0


def _backends_hook():
    """None: the real converter and runtime. Tests replace this to inject fakes."""
    return None


def _write_plot(result, path: Path, force: bool) -> Path:
    from migrate.output import OutputTree
    from migrate.parity.plot import parity_plot_png, skipped_iterations

    sides = {name: result.sides[name] for name in ("legacy", "primus")}
    png = parity_plot_png(sides["legacy"].series(), sides["primus"].series(),
                          f"{Path(result.script).name}: legacy vs {result.target}",
                          result.comparison.first_divergence if result.comparison else None,
                          skipped={name: skipped_iterations(side.result.metrics) for name, side in sides.items()})
    tree = OutputTree(path.parent if str(path.parent) else Path("."), force=force)
    tree.add(path.name, png)
    tree.commit()
    return path
