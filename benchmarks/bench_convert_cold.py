"""Cold `primus-migrate convert` against a cold `primus-migrate inspect --json` of the same script.
Target: convert within 1.5x of inspect.

    python benchmarks/bench_convert_cold.py [--runs 7] [--baseline DIR] [--breakdown]

Fresh processes (the console script's module, as users run it), interleaved: inspect, convert
with the preset index (as shipped), convert with the index ignored (every preset YAML parsed, the
previous behaviour). The script's tree is in a parse cache shared by all three (parsed once
before timing), so the comparison is of what happens after the parse. Medians and ranges are
printed; each ratio is taken within its own round, so the machine's load weighs on all alike.
`--breakdown` also runs one convert under cProfile and says where it goes: how many times the
release's loader resolves an experiment, how many YAML texts and Megatron schemas are parsed, and
each phase's share (cProfile slows Python code about twofold: read shares and counts, not ms).
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


# (label, where cProfile finds the function: file name suffix, function name) for --breakdown
PHASES = (
    ("imports (also inside the phases below)", "importlib._bootstrap>", "_find_and_load"),
    ("evaluate the script (as inspect does)", "migrate/shell/evaluate.py", "evaluate_script"),
    ("legacy argv + schema choice", "migrate/pipeline.py", "parse_legacy_args"),
    ("translate + derive at the target pin", "migrate/pipeline.py", "translate_to_target"),
    ("emit: preset shortlist (preset index)", "migrate/primus/emit/emitter.py", "shortlist"),
    ("emit: shortlisted presets resolved", "migrate/primus/emit/emitter.py", "preset_baselines"),
    ("emit: experiment written, resolved, checked", "migrate/primus/emit/emitter.py", "_write_and_check"),
    ("emit, all of it", "migrate/primus/emit/emitter.py", "emit"),
    ("run.sh / env.sh", "migrate/pipeline.py", "add_launch_files"),
    ("report", "migrate/pipeline.py", "build_report"),
    ("loader: one experiment resolved", "migrate/primus/loader.py", "resolve_experiment"),
    ("YAML texts parsed", "migrate/primus/yamlio.py", "_load_uncached"),
    ("Megatron schema JSON files loaded", "migrate/megatron/schema.py", "_load_path"),
)
# A convert under cProfile; prints {(file, function): (calls, cumulative s)} and the profiled total.
_PROFILED = """
import cProfile, pstats, sys
profile = cProfile.Profile()
profile.enable()
from migrate.cli import main
code = main(sys.argv[1:])
profile.disable()
stats = pstats.Stats(profile).stats
total = sum(row[2] for row in stats.values())
print(repr((total, {(f, name): (row[1], row[3]) for (f, _, name), row in stats.items()})))
sys.exit(code)
"""


def breakdown(words: list[str], out: str, env: dict[str, str]) -> None:
    """One convert under cProfile: calls and share of the time per phase (PHASES)."""
    import ast

    done = subprocess.run([sys.executable, "-c", _PROFILED, *words, "-o", out, "--force"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"breakdown failed ({done.returncode}): {done.stderr[-1500:]}")
    total, stats = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    print(f"one convert under cProfile ({total * 1000:.0f} ms; read shares and counts):")
    for label, suffix, name in PHASES:
        found = [v for (f, n), v in stats.items() if n == name and f.endswith(suffix)]
        calls, spent = found[0] if found else (0, 0.0)
        print(f"  {label:<46} {calls:4d} call(s)  {spent / total:6.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", metavar="DIR",
                        help="also time `convert` with the package from DIR (e.g. `git worktree add DIR main`), "
                             "interleaved with the rest")
    parser.add_argument("--breakdown", action="store_true",
                        help="also profile one convert: loader resolves, YAML and schema parses, phase shares")
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
        if args.breakdown:
            breakdown(words, out, env)
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
