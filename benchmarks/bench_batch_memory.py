"""Memory of a batch worker over a long run: resident size after every 100 scripts.

    python benchmarks/bench_batch_memory.py [--scripts 1000] [--unbounded]

A batch worker converts one script after another (`migrate.batch.worker.process_script`, all
variants of each); this runs that same loop in this process over a generated repository
(`bench_batch.generate`: the fixture repository's launchers with varied knob defaults) and prints
the resident set size as it goes. Target: flat, i.e. no growth per script once the bounded caches
are full. `--unbounded` lets the shell's per-file tree cache keep every script (the previous
behaviour) for comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", type=int, default=1000)
    parser.add_argument("--unbounded", action="store_true")
    args = parser.parse_args()
    import bench_batch

    with tempfile.TemporaryDirectory(prefix="bench-batch-memory-") as tmp:
        repo = Path(tmp) / "repo"
        bench_batch.generate(repo, args.scripts)
        os.environ["PRIMUS_MIGRATE_CACHE_DIR"] = str(Path(tmp) / "parse-cache")
        from migrate.batch.backend import ConvertSettings, PipelineBackend
        from migrate.batch.discover import discover
        from migrate.batch.worker import ScriptJob, process_script
        from migrate.shell import syntax

        if args.unbounded:
            syntax.FILE_CACHE_SIZE = 10**9
        backend, settings = PipelineBackend(), ConvertSettings()
        backend.warm_up(settings)
        jobs = [c for c in discover(repo, [], []) if not c.skip_reason]
        marks = []
        for i, cand in enumerate(jobs, 1):
            process_script(ScriptJob(str(repo.resolve()), cand.relpath, settings), backend)
            if i % 100 == 0 or i == len(jobs):
                marks.append((i, rss_mb()))
                print(f"  after {i:5} scripts: {marks[-1][1]:6.0f} MB", flush=True)
    if len(marks) >= 3:
        (a, ra), (b, rb) = marks[1], marks[-1]
        print(f"growth from script {a} to {b}: {(rb - ra) / (b - a) * 1000:.0f} kB per script"
              f" ({'unbounded tree cache' if args.unbounded else 'as shipped'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
