"""Dynamic parity of a 2-layer proxy, 20 iterations, both sides. Target: <= 60 s on 2 cores.

    python benchmarks/bench_parity.py [--iters 20] [--script fixtures/parity/tiny_gpt.sh]

Prints the wall time of the whole parity run and of each side's training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_SECONDS = 60.0


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children: comparable across busy machines."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--script", default=str(REPO / "fixtures" / "parity" / "tiny_gpt.sh"))
    parser.add_argument("--target", default="primus-26.5")
    args = parser.parse_args()

    from migrate.diagnostics import MigrateError
    from migrate.parity.dynamic import ParityOptions, run_parity

    options = ParityOptions(target=args.target, iters=args.iters, proxy=True, device="cpu")
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    try:
        run = run_parity(args.script, {"NUM_LAYERS": "2"}, [], options)
    except (ImportError, MigrateError) as exc:
        print(f"bench_parity: cannot run: {exc}", file=sys.stderr)
        return 2
    total = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    print(f"cores available: {len(os.sched_getaffinity(0))}, load average (1 min): {os.getloadavg()[0]:.1f}")
    print(f"CPU time used (this process and its children): {cpu:.1f} s")
    print(f"dynamic parity, 2-layer proxy, {args.iters} iterations, both sides: {total:.1f} s "
          f"(target <= {TARGET_SECONDS:.0f} s) -> {'OK' if total <= TARGET_SECONDS else 'TOO SLOW'}")
    for side in run.sides.values():
        how = " (both sides in shared workers; an even share)" if side.shared else ""
        print(f"  {side.name:<9} training {side.seconds:.1f} s{how}")
    print(f"  parity {'holds' if run.ok else 'FAILED'} ({run.comparison.tolerance.mode})")
    return 0 if run.ok else 3


if __name__ == "__main__":
    sys.exit(main())
