"""Cold `primus-migrate convert` against a cold `primus-migrate inspect --json` of the same script.
Target: convert within 1.5x of inspect.

    python benchmarks/bench_convert_cold.py [--runs 7]

Fresh processes (the console script's module, as users run it), interleaved: inspect, convert
with the preset index (as shipped), convert with the index ignored (every preset YAML parsed, the
previous behaviour). The script's tree is in a parse cache shared by all three (parsed once
before timing), so the comparison is of what happens after the parse. Medians and ranges are
printed; each ratio is taken within its own round, so the machine's load weighs on all alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "fixtures" / "scripts" / "rocm" / "train_llama3.sh"
TARGET = 1.5
NO_INDEX = "import migrate.primus.emit.emitter as e; e._indexed_presets = lambda p, n: None; "


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time is what the command costs, whatever else the
    machine runs meanwhile; wall time is what a user waits."""
    start, cpu = time.perf_counter(), _cpu()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr[-1500:]}")
    return took, _cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", metavar="DIR",
                        help="also time `convert` with the package from DIR (e.g. `git worktree add DIR main`), "
                             "interleaved with the rest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        env = dict(os.environ, PRIMUS_MIGRATE_CACHE_DIR=str(Path(tmp) / "cache"),
                   PYTHONPATH=str(REPO) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled modules, as an installed package has them
        words = [str(SCRIPT), "MODEL_SIZE=8", "TP=1"]
        out = str(Path(tmp) / "out")
        commands = {
            "inspect": [sys.executable, "-m", "migrate", "inspect", *words, "--json"],
            "convert": [sys.executable, "-m", "migrate", *words, "-o", out, "--force"],
            "convert, no index": [sys.executable, "-c",
                                  NO_INDEX + "import sys; from migrate.cli import main; sys.exit(main())",
                                  *words, "-o", out, "--force"],
        }
        if args.baseline:  # the same command with another checkout's package first on the path
            commands["convert, baseline"] = [sys.executable, "-c",
                                             f"import sys; sys.path.insert(0, {str(Path(args.baseline).resolve())!r}); "
                                             "from migrate.cli import main; sys.exit(main())",
                                             *words, "-o", out, "--force"]
        for argv in commands.values():  # warm-up: parse cache, bytecode
            _run(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                wall, cpu = _run(argv, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"cores: {len(os.sched_getaffinity(0))}, load average (1 min): {os.getloadavg()[0]:.1f}; {args.runs} rounds")
    for label, times in (("wall", walls), ("CPU", cpus)):
        print(f"{label} time:")
        for name, values in times.items():
            line = (f"  {name:<18} median {statistics.median(values) * 1000:6.0f} ms  "
                    f"({min(values) * 1000:.0f}-{max(values) * 1000:.0f})")
            if name != "inspect":
                ratios = [v / i for v, i in zip(values, times["inspect"])]
                line += (f"  / inspect of its round: median {statistics.median(ratios):.2f}x "
                         f"({min(ratios):.2f}-{max(ratios):.2f})")
            print(line)
    for label, times in (("wall", walls), ("CPU", cpus)):
        ratio = statistics.median(v / i for v, i in zip(times["convert"], times["inspect"]))
        print(f"convert / inspect ({label}): {ratio:.2f}x (target <= {TARGET}x) -> {'OK' if ratio <= TARGET else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
