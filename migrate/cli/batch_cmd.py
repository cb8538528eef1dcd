"""`primus-migrate batch DIR`: convert every launch script of a repository into one Primus tree."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.cli._primus_args import add_script_reading_options, add_target_option
from migrate.primus.profiles import DEFAULT_TARGET

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from migrate.batch.categories import BatchCommand

DEFAULT_OUTPUT = "primus-migrated"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "batch",
        help="convert a whole folder of launch scripts (all model-size variants) into one Primus tree",
        description=(
            "Discover the launch scripts under DIR, convert each with every model-size variant it "
            "supports, write one Primus tree (models/megatron/ shared by content, exp/<script>/<variant>.yaml) "
            "and batch_report.md / batch_report.json."
        ),
        epilog=(
            "exit codes (the worst row decides, in the order 1 > 3 > 2 > 4 > 0; the tree and report are "
            "written whenever the options were usable; skipped helpers never change the code): "
            "0 every variant converted; "
            "1 a row hit an internal error (category internal-error: a bug, please report it); "
            "2 some script or variant was rejected (batch_report.md starts with the rejections by category and "
            "the next command for each), or the options were unusable (nothing written); "
            "3 some variant failed static parity (category parity-failed, mock-data-path or null-tokenizer; nothing "
            "written for it); "
            "4 everything converted, some flags have no Primus equivalent (listed per variant); "
            "130 / 143 interrupted or terminated (nothing written)."
        ),
    )
    p.add_argument("dir", metavar="DIR", help="folder of legacy launch scripts")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="OUTDIR",
                   help=f"output folder (default: ./{DEFAULT_OUTPUT})")
    add_target_option(p, DEFAULT_TARGET)
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="worker processes (default: min(2, CPUs)); 1 runs in this process")
    p.add_argument("--json", action="store_true", help="print batch_report.json to stdout, no progress bar")
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only scripts whose relative path matches (a pattern without / matches any file or folder name); "
        "repeatable",
    )
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out scripts whose relative path matches (same rules as --include); repeatable")
    p.add_argument("--knobs", metavar='"K=a,b K2=c"',
                   help="convert exactly these knob values (cartesian product) instead of the automatic variants")
    p.add_argument("--all-choices", action="store_true",
                   help="vary every knob the scripts compare with non-boolean literals (precision, optimizer, ...), "
                        "not only the model-selecting ones (MODEL, MODEL_SIZE, ...)")
    p.add_argument("--max-variants", type=int, default=None, metavar="N",
                   help="cap on variants per script (default 16); capped scripts are flagged")
    add_script_reading_options(p)  # --gpus-per-node, --legacy-schema, --accept-null-tokenizer, --entry-as
    p.add_argument("--script-args", action="append", default=[], metavar="GLOB=ARGS|@FILE",
                   help="positional arguments ($1 $2 ...) for the scripts matching GLOB (split like a shell "
                        "command line; the first matching GLOB wins); @FILE reads one GLOB=ARGS per line; repeatable")
    p.add_argument("--force", action="store_true", help="replace existing files in OUTDIR")
    p.set_defaults(func=run)


def exit_code(results) -> int:
    """1 internal error > 3 parity failed > 2 rejected > 4 unmapped flags > 0."""
    rows = [v for r in results for v in r.variants]
    reasons = [r.reason or "" for r in results if r.status == "rejected"] + [v.reason or "" for v in rows
                                                                               if v.status == "rejected"]
    if any(reason.startswith("internal error") for reason in reasons):
        return 1
    if any(v.parity_ok is False for v in rows):
        return 3
    if reasons:
        return 2
    if any(v.unmapped for v in rows):
        return 4
    return 0


def run(args: argparse.Namespace) -> int:
    from migrate.batch.backend import ConvertSettings
    from migrate.batch.categories import annotate
    from migrate.batch.report import JSON_NAME, MARKDOWN_NAME, build_json, render_json, render_markdown
    from migrate.batch.runner import BatchOptions, default_jobs, run_batch
    from migrate.batch.script_args import parse_script_args
    from migrate.batch.tree import assemble
    from migrate.batch.variants import DEFAULT_MAX_VARIANTS, parse_knobs_option
    from migrate.diagnostics import MigrateError
    from migrate.output import OutputTree

    if args.jobs is not None and args.jobs < 1:
        raise MigrateError("--jobs must be at least 1")
    if args.max_variants is not None and args.max_variants < 1:
        raise MigrateError("--max-variants must be at least 1")
    options = BatchOptions(
        settings=ConvertSettings(target=args.target, gpus_per_node=args.gpus_per_node,
                                 accept_null_tokenizer=args.accept_null_tokenizer,
                                 legacy_schema=_legacy_schema(args), entry_as=args.entry_as,
                                 assume_exists=tuple(args.assume_exists)),
        jobs=args.jobs or default_jobs(),
        include=args.include,
        exclude=args.exclude,
        knobs=parse_knobs_option(args.knobs) if args.knobs is not None else None,
        max_variants=args.max_variants or DEFAULT_MAX_VARIANTS,
        all_choices=args.all_choices,
        script_args=parse_script_args(args.script_args),
    )
    root = Path(args.dir)
    OutputTree(args.output)  # refuses an empty -o before any work (Path("") would be the current folder)
    out = Path(args.output)
    exclude_out = _output_inside(root, out)
    if exclude_out:
        options.exclude = [*options.exclude, exclude_out + "/*"]  # with a "/": that folder only

    with _progress(enabled=not args.json) as progress:
        results = run_batch(root, options, progress=progress.advance, on_discovered=progress.start)

    annotate(results, _batch_command(args))
    tree = assemble(results)
    report = build_json(results, tree, args.target, root.resolve().name or ".")
    if args.entry_as:  # the user's word that unknown entry scripts build what this family builds
        report["entry_as"] = args.entry_as
    staged = OutputTree(out, force=args.force)
    for path, text in tree.files.items():
        staged.add(path, text)
    staged.add(JSON_NAME, render_json(report))
    staged.add(MARKDOWN_NAME, render_markdown(report))
    staged.commit()

    if args.json:
        sys.stdout.write(render_json(report))
    else:
        _print_summary(report, out / MARKDOWN_NAME)
    return exit_code(results)


def _batch_command(args: argparse.Namespace) -> BatchCommand:
    """This run's command line as next steps repeat it: the options that change what converts, and the
    folders as typed (an absolute one becomes DIR / OUT: reports carry no machine paths)."""
    from migrate.batch.categories import BatchCommand

    shown = lambda path, placeholder: placeholder if Path(path).is_absolute() else path  # noqa: E731
    extra: list[str] = []
    if args.target != DEFAULT_TARGET:
        extra += ["--target", args.target]
    for flag in ("legacy_schema", "entry_as"):
        value = getattr(args, flag)
        if value:
            extra += [f"--{flag.replace('_', '-')}", shown(value, "SCHEMA") if flag == "legacy_schema" else value]
    if args.accept_null_tokenizer:
        extra.append("--accept-null-tokenizer")
    for path in args.assume_exists:  # a path on the machine the scripts run on, as the scripts name it
        extra += ["--assume-exists", path]
    return BatchCommand(shown(args.dir, "DIR"), shown(args.output, "OUT"), tuple(extra))


def _legacy_schema(args: argparse.Namespace) -> str | None:
    """--legacy-schema as given; else the checkout DIR sits in, whose table is extracted once, here."""
    from migrate.megatron.schema_choice import checkout_schema, find_checkout

    if args.legacy_schema:
        return args.legacy_schema
    checkout = find_checkout(Path(args.dir))
    if checkout is None:
        return None
    schema = checkout_schema(checkout)  # workers forked after this inherit it; each script still says so
    print(f"note: {args.dir} is inside the Megatron-LM checkout {checkout}: its scripts are read with that "
          f"checkout's option table ({len(schema.options)} options)", file=sys.stderr)
    return None


def _output_inside(root: Path, out: Path) -> str | None:
    """When OUTDIR lies inside DIR, its own files must not be discovered on a re-run."""
    try:
        return out.resolve().relative_to(root.resolve()).as_posix() or None
    except ValueError:
        return None


class _progress:
    """A rich progress bar on stderr, one tick per script; silent when disabled or not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(stderr=True)
            if console.is_terminal:
                self.bar = Progress(TextColumn("converting"), BarColumn(), MofNCompleteColumn(),
                                    TimeElapsedColumn(), TextColumn("{task.description}"),
                                    console=console, transient=True, auto_refresh=False)
                self.bar.__enter__()
        return self

    def start(self, total: int) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task("", total=total)
            self.bar.refresh()

    def advance(self, script: str, result) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, advance=1, description=script)
            self.bar.refresh()

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _print_summary(report: dict, markdown_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    summary = report["summary"]
    table = Table(title=f"primus-migrate batch: {report['source']} → {report['target']}")
    table.add_column("")
    for col in ("converted", "with warnings", "rejected", "skipped", "total"):
        table.add_column(col, justify="right")
    for kind in ("scripts", "variants"):
        c = summary[kind]
        table.add_row(kind, str(c["converted"]), str(c["converted_with_warnings"]), str(c["rejected"]),
                      str(c["skipped"]), str(c["total"]))
    console = Console()
    console.print(table)
    console.print(f"static parity: {summary['parity']['ok']} ok, {summary['parity']['failed']} failed",
                  soft_wrap=True)
    categories = report.get("categories") or []
    if categories:
        console.print("by category: " + ", ".join(f"{c['category']} {c['rows']}" for c in categories),
                      markup=False, highlight=False, soft_wrap=True)
        for c in categories[:3]:
            console.print(f"next ({c['category']}): {c['next_step']}", markup=False, highlight=False, soft_wrap=True)
    for script in report["scripts"]:
        for row in [script, *script["variants"]]:
            if row["status"] == "rejected" and row.get("reason"):
                label = f" [{row['label']}]" if "label" in row else ""
                where = row.get("location") or script["script"]
                console.print(f"{where}{label}: rejected [{row.get('category')}]: {row['reason']}", markup=False,
                              highlight=False,
                              soft_wrap=True)
        if script["capped"]:
            console.print(f"{script['script']}: warning: variants capped at {len(script['variants'])}; "
                          "choose them with --knobs or raise --max-variants", markup=False, highlight=False,
                          soft_wrap=True)
    first_run = next((v["run"] for s in report["scripts"] for v in s["variants"] if v.get("run")), None)
    if first_run:
        run_path = shlex.quote(str(markdown_path.parent / first_run))
        console.print(f"run: PRIMUS_PATH=/path/to/Primus bash {run_path} (each experiment has its .run.sh beside it)",
                      markup=False, highlight=False, soft_wrap=True)
    console.print(f"report: {markdown_path}", markup=False, highlight=False, soft_wrap=True)
