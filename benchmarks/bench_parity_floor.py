"""`primus-migrate parity --proxy --iters 20` against its floor: a process that only imports torch
and the megatron-core modules the runtime uses. Target: parity within 2.5x of the floor.

    python benchmarks/bench_parity_floor.py [--repeat 3] [--iters 20]

Each round runs, one after another in fresh processes: the import floor; parity as shipped (one
thread at proxy size, both sides); parity with OMP_NUM_THREADS=<cores> (torch's default threads,
the previous behaviour). Rounds are repeated and the ranges printed, so a busy shared machine shows
up as spread instead of as a wrong ratio. Both parity runs must hold and agree with each other in
lm loss (threads change the order of sums, so the two configurations may differ in the last bits;
each run's two sides always share one setting and are compared exactly).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "fixtures" / "parity" / "tiny_gpt.sh"
FLOOR = ("import primus_runtime, torch, torch.distributed; import megatron.core.models.gpt; "
         "import megatron.core.optimizer, megatron.core.pipeline_parallel, megatron.core.datasets.gpt_dataset")
TARGET = 2.5


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("OMP_NUM_THREADS", None)
    env.update(extra)
    return env


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    parity = [sys.executable, "-m", "migrate", "parity", str(SCRIPT), "NUM_LAYERS=2", "--proxy",
              "--iters", str(args.iters), "--json"]
    runs: dict[str, list[float]] = {"floor": [], "parity": [], f"parity, {cores} threads": []}
    reports: dict[str, str] = {}
    for _ in range(args.repeat):
        runs["floor"].append(_timed([sys.executable, "-c", FLOOR], _env())[0])
        seconds, reports["parity"] = _timed(parity, _env())
        runs["parity"].append(seconds)
        seconds, reports["threads"] = _timed(parity, _env(OMP_NUM_THREADS=str(cores)))
        runs[f"parity, {cores} threads"].append(seconds)
    print(f"cores: {cores}, load average (1 min) at the end: {os.getloadavg()[0]:.1f}; {args.repeat} rounds, interleaved")
    floor = runs["floor"]
    for name, values in runs.items():
        ratios = sorted(v / f for v, f in zip(values, floor))  # each against the floor of its own round
        shown = sorted(values)
        line = f"  {name:<22} {shown[0]:6.2f}-{shown[-1]:6.2f} s (median {shown[len(shown) // 2]:.2f})"
        if name != "floor":
            line += f"  / floor of its round: {ratios[0]:.2f}-{ratios[-1]:.2f}x (median {ratios[len(ratios) // 2]:.2f}x)"
        print(line)
    median = sorted(v / f for v, f in zip(runs["parity"], floor))[len(floor) // 2]
    print(f"parity / floor: median {median:.2f}x (target <= {TARGET}x) -> {'OK' if median <= TARGET else 'TOO SLOW'}")
    for name, report in reports.items():
        data = json.loads(report)
        print(f"  {name}: parity {'holds' if data['ok'] else 'FAILED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
