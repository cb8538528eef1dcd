"""`primus-migrate verify EXP.yaml --primus-path DIR`: a Primus checkout's own code judges `resolve`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from migrate.diagnostics import MigrateError

if TYPE_CHECKING:  # loaded only when the command runs
    from migrate.verify import Verdict, VerifyReport


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="load EXP.yaml with a Primus checkout's own code and compare with `resolve`, dest by dest",
        description="Load EXP.yaml with the Primus checkout's own config loader and its trainer's argument "
                    "updates (in a subprocess with the GPU stack stubbed, confined to a scratch folder) and "
                    "compare the Megatron namespace with the one `primus-migrate resolve --trainer` builds "
                    "for that checkout. Exit 0 when every dest agrees, 3 with the differences, 2 when DIR is "
                    "not a Primus checkout, its code cannot be loaded, or the experiment is bad.",
    )
    parser.add_argument("experiment", metavar="EXP.yaml")
    parser.add_argument("--primus-path", metavar="DIR", required=True,
                        help="the Primus checkout whose own code is the judge (the folder that holds primus/)")
    parser.add_argument("--runtime", choices=("auto", "legacy", "core"), default="auto",
                        help="which of the checkout's training runtimes builds the arguments (default: the one its "
                             "`train pretrain` picks, PRIMUS_TRAIN_RUNTIME included)")
    parser.add_argument("--json", action="store_true", help="print the verdict as a JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migrate.torchtitan.release import is_torchtitan_experiment
    from migrate.verify import verify_experiments

    if is_torchtitan_experiment(args.experiment):
        raise MigrateError(f"{args.experiment} is a torchtitan experiment: verify compares what a release hands "
                           "Megatron (framework: megatron)", hint="check it with `primus-migrate resolve`",
                           exit_code=2)
    report = verify_experiments([args.experiment], args.primus_path, runtime=args.runtime)
    verdict = report.verdicts[0]
    _refuse_unusable(verdict, args.primus_path)
    for note in _notes(report, verdict):
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        json.dump(_as_json(report, verdict), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_as_text(report, verdict))
    return 0 if verdict.agree else 3


def _refuse_unusable(verdict: Verdict, primus_path: str) -> None:
    """Exit 2: the checkout's code cannot run, or the experiment is bad (for us, or for both)."""
    where = "".join(f"\n    {line}" for line in verdict.theirs_where)
    if verdict.theirs_missing_module:
        raise MigrateError(f"the code of {primus_path} could not load {verdict.experiment} even with its GPU stack "
                           f"stubbed: module '{verdict.theirs_missing_module}' could not be imported "
                           f"({verdict.theirs_error}){where}",
                           hint="install that module in this Python environment, or run verify where the "
                                "checkout runs", exit_code=2)
    if verdict.theirs_out_of_memory:
        from migrate.limits import exceeded

        raise exceeded("verify_memory", f"the code of {primus_path} ran out of memory on {verdict.experiment}")
    if verdict.theirs_refused:
        raise MigrateError(f"stopped the code of {primus_path} on {verdict.experiment}: {verdict.theirs_error}",
                           hint="verify runs a checkout's code only inside its scratch folder, with no process "
                                "or network; this checkout's loader does more than load", exit_code=2)
    if verdict.ours_error:
        theirs = (f"the checkout's own code also stopped: {verdict.theirs_error}" if verdict.theirs_error
                  else "the checkout's own code loaded it: our model refuses what this release accepts")
        raise MigrateError(f"{verdict.ours_error}\n  ({theirs})", exit_code=2)


def _notes(report: VerifyReport, verdict: Verdict) -> list[str]:
    notes = list(report.notes)
    notes += [f"installed {path} among the checkout's model presets (in a scratch copy), as run.sh does"
              for path in report.installed_models]
    notes += [f"the checkout's code would create {path}; skipped (outside verify's scratch folder)"
              for path in report.skipped_mkdir]
    if verdict.trainer_skipped:
        notes.append(f"the checkout's trainer could not be imported ({verdict.trainer_skipped}): its argument "
                     "updates were not run, so the loader's namespace is compared with `resolve` without --trainer")
    if verdict.comparison is not None:
        from migrate.verify.compare import LAUNCHER_DESTS

        notes += [f"{dest} not compared: {why}" for dest, why in sorted(verdict.comparison.not_judged.items())
                  if dest not in LAUNCHER_DESTS]
        notes += verdict.comparison.notes
    return notes


def _as_json(report: VerifyReport, verdict: Verdict) -> dict[str, Any]:
    comparison = verdict.comparison
    return {
        "experiment": verdict.experiment, "primus_path": report.primus_path, "agree": verdict.agree,
        "release": report.release, "runtime": report.runtime, "target": report.target,
        "megatron_schema": report.megatron_schema, "megatron_defaults_of_checkout": report.megatron_defaults,
        "compared": comparison.compared if comparison else 0,
        "differences": [{"dest": d.dest, "ours": d.ours, "theirs": d.theirs}
                        for d in (comparison.differences if comparison else [])],
        "not_compared": dict(comparison.not_judged) if comparison else {},
        "theirs_error": verdict.theirs_error or None,
        "trainer_updates_compared": not verdict.trainer_skipped,
        "notes": _notes(report, verdict),
    }


def _as_text(report: VerifyReport, verdict: Verdict) -> str:
    who = (f"{report.primus_path}'s own Primus code (release {report.release}, {report.runtime} runtime; "
           f"ours: {report.target} rules, Megatron {report.megatron_schema})")
    if verdict.theirs_error:
        where = "".join(f"\n    {line}" for line in verdict.theirs_where)
        return (f"{verdict.experiment}: {who} stopped: {verdict.theirs_error}{where}\n"
                f"  primus-migrate resolves it: our model accepts what this release refuses\n")
    comparison = verdict.comparison
    assert comparison is not None, "a verdict with no comparison has an error, refused or shown above"
    scope = " (loader only: the trainer's argument updates could not be run)" if verdict.trainer_skipped else ""
    if verdict.agree:
        return f"ok: {comparison.compared} Megatron dests of {verdict.experiment} agree with {who}{scope}\n"
    rows = [("dest", "ours", "theirs")] + [(d.dest, _show(d.ours), _show(d.theirs)) for d in comparison.differences]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    table = "".join(f"  {a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}\n" for a, b, c in rows)
    return (f"{verdict.experiment}: {len(comparison.differences)} of {comparison.compared} Megatron dests differ "
            f"from {who}{scope}\n{table}")


def _show(value: Any) -> str:
    text = value if value == "<absent>" else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
