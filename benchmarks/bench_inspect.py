"""`primus-migrate inspect --json` on a ~400-line launch script against the floor of its design.

Targets (issue #16), each a fresh process as a user runs it (the venv's console script):
- first sight of the script (empty parse cache): within 1.5x of Python's own start-up plus shfmt
  parsing the same script to JSON (`python -c pass` + `shfmt --to-json`, the two things such a run
  cannot avoid);
- a repeat (the tree in the parse cache, `migrate/shell/parse_cache.py`): within 1.2x of bash
  running the script with its launchers and tools stubbed.

    python benchmarks/bench_inspect.py [--runs N] [--compare OTHER_CHECKOUT]

`--compare` times another checkout of primus-migrate (e.g. an older commit, via `git worktree`)
in the same rounds, for a before/after on the same machine state.

All commands run interleaved, round after round, so load from other processes on a shared machine
weighs on all of them alike. Printed: the medians, and the range (min..max) of each round's ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers_shell import BASH, make_stubs  # noqa: E402


def long_script() -> str:
    """train_llama3.sh plus generated blocks of the same idioms, about 400 lines in all."""
    base = (REPO / "fixtures/scripts/rocm/train_llama3.sh").read_text().splitlines()
    launch_at = next(i for i, line in enumerate(base) if line.startswith("run_cmd="))
    blocks: list[str] = []
    for i in range(4):
        blocks += [
            f'OPT_{i}="${{OPT_{i}:-{i % 2}}}"',
            f'if [ "$OPT_{i}" -eq 1 ] && [[ $MODEL_SIZE -eq 8 ]]; then',
            f'    EXTRA_ARGS="$EXTRA_ARGS --opt-{i} $(( {i} * MBS + 1 ))"',
            'elif [[ "$OPTIMIZER" == adam* ]]; then',
            f'    EXTRA_ARGS="$EXTRA_ARGS --alt-{i}=${{OPTIMIZER^^}}"',
            "else",
            f'    : "${{UNUSED_{i}:=x}}"',
            "fi",
            f"tag_{i}() {{ local v=$1; shift; echo \"${{v%%_*}}-$#\"; }}",
            f'TAG_{i}=$(tag_{i} llama_{i} a b)',
            f'case "$TAG_{i}" in llama-2) EXTRA_ARGS+=" --tag-{i}";; *) ;; esac',
            f'ARR_{i}=(--a{i} "$TAG_{i}" ${{ARR_{i}_EXTRA:-}})',
            f'EXTRA_ARGS="$EXTRA_ARGS ${{ARR_{i}[*]}}"',
            f'LEN_{i}=${{#EXTRA_ARGS}}',
            f'for k in 1 2 3; do COUNT_{i}=$(( ${{COUNT_{i}:-0}} + k )); done',
            f'[ -n "$DEBUG_{i}" ] && echo debug {i} || true',
            f'echo "block {i}: $TAG_{i} $LEN_{i}" > /dev/null',
            f'export NCCL_OPT_{i}=$(echo "v{i}=1" | cut -f2 -d=)',
            f'WORKDIR_{i}=$(dirname "$0")/work_{i}',
            f'mkdir -p "$WORKDIR_{i}"',
            f'SUFFIX_{i}=$(date +%s)_{i}',
            f'RUN_{i}="${{EXP_NAME}}_${{SUFFIX_{i}//_/-}}"',
            f"(( COUNT_{i} > 3 )) && EXTRA_ARGS+=\" --count-{i} $COUNT_{i}\"",
            "",
        ]
    lines = base[:launch_at] + blocks + base[launch_at:]
    return "\n".join(lines) + "\n"


def timed(cmd: list[str], cwd: Path, env: dict[str, str], stdin: Path | None = None) -> float:
    with open(stdin or os.devnull, "rb") as source:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=source, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-800:]}")
    return elapsed


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}x, range {min(values):.2f}..{max(values):.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", type=Path, help="another checkout to time in the same rounds")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from migrate.shell.syntax import _shfmt_env, shfmt_binary

    work = Path(tempfile.mkdtemp(prefix="bench_inspect_"))
    try:
        script = work / "train_long.sh"
        script.write_text(long_script())
        n_lines = len(script.read_text().splitlines())
        stubs = make_stubs(work)
        record = work / "_record"
        record.mkdir()
        bash_env = {"PATH": f"{stubs}:/usr/bin:/bin", "LC_ALL": "C", "STUB_RECORD_DIR": str(record),
                    "STUB_GPUS": "8", "HOME": str(work), "TMPDIR": str(work), "MODEL_SIZE": "8"}
        # an installed tool has its bytecode compiled; let this run cache it the same way
        py_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        py_env["PYTHONPATH"] = str(REPO)
        py_env.pop("PRIMUS_MIGRATE_NO_CACHE", None)
        console = Path(sys.executable).with_name("primus-migrate")
        entry = [str(console)] if console.is_file() else [sys.executable, "-m", "migrate"]
        inspect = [*entry, "inspect", "train_long.sh", "MODEL_SIZE=8", "--json"]
        warm_env = dict(py_env, PRIMUS_MIGRATE_CACHE_DIR=str(work / "cache-warm"))
        first_env = dict(py_env, PRIMUS_MIGRATE_CACHE_DIR=str(work / "cache-first"))
        shfmt = [shfmt_binary(), "--to-json", "-ln", "bash", "--filename", "train_long.sh"]
        commands = {
            "bash": ([BASH, "train_long.sh"], bash_env, None),
            "first": (inspect, first_env, None),
            "repeat": (inspect, warm_env, None),
            "python": ([sys.executable, "-c", "pass"], py_env, None),
            "shfmt": (shfmt, _shfmt_env(), script),
        }
        if args.compare:
            other = dict(py_env, PYTHONPATH=str(args.compare.resolve()))
            first_other = dict(other, PRIMUS_MIGRATE_CACHE_DIR=str(work / "cache-first"))  # emptied every time
            commands["first (other)"] = (inspect, first_other, None)
            commands["repeat (other)"] = (inspect, dict(other, PRIMUS_MIGRATE_CACHE_DIR=str(work / "cache-other")), None)
        for cmd, env, stdin in commands.values():  # warm the OS file cache and the bytecode cache
            timed(cmd, work, env, stdin)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so a busy machine slows every command alike
            for name, (cmd, env, stdin) in commands.items():
                shutil.rmtree(work / "cache-first", ignore_errors=True)  # first sight: nothing parsed before
                times[name].append(timed(cmd, work, env, stdin))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(values) for name, values in times.items()}
    floor = [p + s for p, s in zip(times["python"], times["shfmt"])]
    first_ratio = [f / fl for f, fl in zip(times["first"], floor)]
    repeat_ratio = [r / b for r, b in zip(times["repeat"], times["bash"])]
    ms = {name: f"{value * 1000:7.1f} ms" for name, value in med.items()}
    print(f"script: {n_lines} lines, {args.runs} interleaved rounds, {' '.join(entry[-1:])}; medians:")
    print(f"  bash with stubs:        {ms['bash']}")
    print(f"  python -c pass:         {ms['python']}")
    print(f"  shfmt --to-json:        {ms['shfmt']}")
    print(f"  inspect, first sight:   {ms['first']}   vs python + shfmt: {_spread(first_ratio)} (target <= 1.5x)")
    print(f"  inspect, repeat:        {ms['repeat']}   vs bash: {_spread(repeat_ratio)} (target <= 1.2x)")
    if args.compare:
        other_first = [f / fl for f, fl in zip(times["first (other)"], floor)]
        other_repeat = [r / b for r, b in zip(times["repeat (other)"], times["bash"])]
        print(f"  {args.compare}: first sight {ms['first (other)']} ({_spread(other_first)}), "
              f"repeat {ms['repeat (other)']} ({_spread(other_repeat)})")
    met = statistics.median(first_ratio) <= 1.5 and statistics.median(repeat_ratio) <= 1.2
    print("targets met (medians)" if met else "targets NOT met (medians)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
