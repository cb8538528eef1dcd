"""Where the CPU time of `inspect --json` goes, stage by stage (the companion of bench_inspect.py).

Each stage is a fresh process, timed by its CPU time (user + system, from the kernel), which a
busy shared machine disturbs far less than wall time. The stages build on each other:

    python        `python -c pass`: the interpreter's own start-up
    stdlib        + importing the standard-library modules a repeat run ends up with (found by
                    running it once); what any Python tool with argparse, dataclasses, typing,
                    json, subprocess and hashlib pays
    migrate       + importing the modules of `migrate` the run needs (class bodies, dataclass
                    creation, compiled regexes)
    run           + the command itself: the parse cache read, the evaluation, the JSON written;
                    the process then ends with os._exit, for this measurement only
    inspect       the whole run as a user has it (with the interpreter's normal teardown)
    first sight   the same with an empty parse cache (shfmt runs; its tree is stored)

Also printed: bash running the script, and shfmt parsing it, the two floors of bench_inspect.py.

    python benchmarks/bench_inspect_cpu.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_inspect import long_script  # noqa: E402
from helpers_shell import BASH, make_stubs  # noqa: E402

ARGV = ["inspect", "train_long.sh", "MODEL_SIZE=8", "--json"]
RUN = ("import os, sys\nfrom migrate.cli import main\nsys.stdout = open(os.devnull, 'w')\n"
       f"code = main({ARGV!r})\n")


def cpu_ms(cmd: list[str], cwd: Path, env: dict[str, str], stdin: Path | None = None) -> float:
    """CPU milliseconds (user + system) of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdin or os.devnull, "rb") as source:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=source, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-800:]}")
    return 1000 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def stdlib_of_a_run(cwd: Path, env: dict[str, str]) -> list[str]:
    """The standard-library modules a repeat run has imported when it ends."""
    code = RUN + ("names = sorted(n for n in sys.modules if not n.startswith(('migrate', 're2', '_re2')) "
                  "and '.' not in n and not n.startswith('_'))\nprint(' '.join(names), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, check=True)
    return proc.stderr.decode().split()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from migrate.shell.syntax import _shfmt_env, shfmt_binary

    work = Path(tempfile.mkdtemp(prefix="bench_inspect_cpu_"))
    try:
        script = work / "train_long.sh"
        script.write_text(long_script())
        stubs = make_stubs(work)
        (work / "_record").mkdir()
        bash_env = {"PATH": f"{stubs}:/usr/bin:/bin", "LC_ALL": "C", "STUB_RECORD_DIR": str(work / "_record"),
                    "STUB_GPUS": "8", "HOME": str(work), "TMPDIR": str(work), "MODEL_SIZE": "8"}
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PRIMUS_MIGRATE_NO_CACHE")}
        env["PYTHONPATH"] = str(REPO)
        warm = dict(env, PRIMUS_MIGRATE_CACHE_DIR=str(work / "cache-warm"))
        first = dict(env, PRIMUS_MIGRATE_CACHE_DIR=str(work / "cache-first"))
        stdlib = stdlib_of_a_run(work, warm)
        console = Path(sys.executable).with_name("primus-migrate")
        entry = [str(console)] if console.is_file() else [sys.executable, "-m", "migrate"]
        py = sys.executable
        stages = {
            "python": ([py, "-c", "pass"], warm, None),
            "stdlib": ([py, "-c", "import " + ", ".join(stdlib)], warm, None),
            "migrate": ([py, "-c", "import migrate.cli, migrate.cli.inspect_cmd, migrate.shell, migrate.torchtitan"],
                        warm, None),
            "run": ([py, "-c", RUN + "os._exit(code)\n"], warm, None),
            "inspect": ([*entry, *ARGV], warm, None),
            "first sight": ([*entry, *ARGV], first, None),
            "bash": ([BASH, "train_long.sh"], bash_env, None),
            "shfmt": ([shfmt_binary(), "--to-json", "-ln", "bash", "--filename", "train_long.sh"], _shfmt_env(),
                      script),
        }
        for cmd, stage_env, stdin in stages.values():  # warm the OS file cache, the bytecode and the parse cache
            cpu_ms(cmd, work, stage_env, stdin)
        times: dict[str, list[float]] = {name: [] for name in stages}
        for _ in range(args.runs):
            for name, (cmd, stage_env, stdin) in stages.items():
                shutil.rmtree(work / "cache-first", ignore_errors=True)
                times[name].append(cpu_ms(cmd, work, stage_env, stdin))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"CPU ms, medians of {args.runs} interleaved rounds (user + system):")
    print(f"  python start-up        {med['python']:6.1f}")
    print(f"  + stdlib imports       {med['stdlib'] - med['python']:6.1f}   ({len(stdlib)} top-level modules)")
    print(f"  + migrate imports      {med['migrate'] - med['stdlib']:6.1f}")
    print(f"  + parse cache, evaluation, output {med['run'] - med['migrate']:6.1f}")
    print(f"  + interpreter teardown {med['inspect'] - med['run']:6.1f}")
    print(f"  = inspect, repeat      {med['inspect']:6.1f}   (bash running the script: {med['bash']:.1f}; "
          f"1.2x is {1.2 * med['bash']:.1f})")
    print(f"  inspect, first sight   {med['first sight']:6.1f}   (python + shfmt: {med['python'] + med['shfmt']:.1f}; "
          f"1.5x is {1.5 * (med['python'] + med['shfmt']):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
