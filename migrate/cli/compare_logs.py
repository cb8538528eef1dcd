"""`primus-migrate compare-logs LEGACY.log PRIMUS.log`: parity of two real training logs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from migrate.diagnostics import MigrateError

EPILOG = """\
Both logs are parsed per iteration (Megatron-LM `iteration N/M | ...` lines, plain or behind
Primus's logger header), aligned by iteration number and compared on lm loss, grad norm and
learning rate: exactly as printed by default, or within --rtol (Megatron's functional tests use
0.05 in approximate mode). Iterations only one log has are listed, not compared. Throughput is
reported in tokens/s/GPU (printed by Primus; derived for Megatron as global batch size x seq
length / iteration time / world size) and never decides the exit code.

exit codes: 0 parity holds; 2 unusable input (missing file, no iteration lines, no lm loss,
logs covering different iterations or logged at different intervals); 3 parity failed (a value
differs, or a loss is NaN in either log).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare-logs",
        help="compare a legacy Megatron-LM log with a Primus log, iteration by iteration",
        description="Compare per-iteration loss and throughput of a legacy and a Primus training log.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("legacy", metavar="LEGACY.log", help="log of the legacy Megatron-LM run (the reference)")
    p.add_argument("primus", metavar="PRIMUS.log", help="log of the Primus run")
    p.add_argument("--rtol", type=float, default=0.0,
                   help="relative tolerance (default 0: values must be equal as printed)")
    p.add_argument("--plot", metavar="OUT.png", help="write both runs' lm loss, grad norm and lr curves to this PNG")
    p.add_argument("--golden", metavar="OUT.json",
                   help="write the legacy log's values as Megatron functional-test golden values")
    p.add_argument("--golden-interval", type=int, default=1, metavar="N",
                   help="step_interval of the golden values (default 1)")
    p.add_argument("--seq-length", type=int, help="sequence length, to derive tokens/s/GPU when not printed")
    p.add_argument("--world-size", type=int, help="number of GPUs, to derive tokens/s/GPU when not printed")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--force", action="store_true", help="overwrite --plot/--golden files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migrate.output import OutputTree
    from migrate.parity import golden
    from migrate.parity.logcompare import compare_logs
    from migrate.parity.logs import parse_log_file
    from migrate.parity.report import failure_summary, json_safe, render_log_comparison
    from migrate.parity.series import Tolerance

    if args.rtol < 0:
        raise MigrateError(f"--rtol must be >= 0, got {args.rtol}")
    if args.golden_interval < 1:
        raise MigrateError(f"--golden-interval must be >= 1, got {args.golden_interval}")
    legacy = parse_log_file(args.legacy)
    primus = parse_log_file(args.primus)
    comparison = compare_logs(legacy, primus, Tolerance(args.rtol), args.seq_length, args.world_size)

    outputs: list[tuple[Path, str | bytes]] = []
    if args.plot:
        from migrate.parity.plot import PANELS, parity_plot_png

        png = parity_plot_png({m: legacy.series(m) for m, _ in PANELS}, {m: primus.series(m) for m, _ in PANELS},
                              f"{Path(args.legacy).name} vs {Path(args.primus).name}",
                              comparison.result.first_divergence)
        outputs.append((Path(args.plot), png))
    if args.golden:
        values = golden.golden_values({m: legacy.series(m) for m in golden.GOLDEN_METRICS},
                                      step_interval=args.golden_interval)
        outputs.append((Path(args.golden), golden.dumps(values)))
    for path, content in outputs:
        tree = OutputTree(path.parent if str(path.parent) else Path("."), force=args.force)
        tree.add(path.name, content)
        tree.check()
    for path, content in outputs:
        tree = OutputTree(path.parent if str(path.parent) else Path("."), force=args.force)
        tree.add(path.name, content)
        tree.commit()

    if args.json:
        data = comparison.to_json()
        data["written"] = [str(p) for p, _ in outputs]
        print(json.dumps(json_safe(data), indent=2, allow_nan=False))
    else:
        print(render_log_comparison(comparison))
        for path, _ in outputs:
            print(f"wrote {path}")
    if not comparison.ok:
        print(failure_summary(comparison.result), file=sys.stderr)
        return 3
    return 0
