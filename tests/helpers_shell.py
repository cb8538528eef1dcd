"""Run scripts under real bash with the outside world stubbed, to check the evaluator against bash.

Launchers (torchrun, python, srun, deepspeed, ...) and system tools are replaced
by tiny bash scripts on PATH that record their arguments and environment. The
stubs answer machine queries with the same facts the evaluator assumes (GPU
count, a fixed date, `localhost`), so both sides see the same world.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BASH = shutil.which("bash") or "/bin/bash"
FIXED_EPOCH = 1704067200  # 2024-01-01 00:00:00 UTC, the evaluator's assumed `date`
ENTRY_RE = re.compile(r"(.*/)?(pretrain_[^/]*|[^/]*train[^/]*)\.py")

_RECORD = r'''rec="$STUB_RECORD_DIR"
n=$(cat "$rec/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$rec/count"
printf '%s\0' "${0##*/}" "$@" > "$rec/$n.args"
env -0 > "$rec/$n.env"
'''

STUBS: dict[str, str] = {
    "torchrun": _RECORD,
    "deepspeed": _RECORD,
    # srun records itself, then runs a `bash -c ...` / `bash script` it wraps, as the real one would
    "srun": _RECORD + 'i=0; for a in "$@"; do i=$((i+1)); case "$a" in bash|sh) exec "${@:i}";; esac; done\n',
    "mpirun": _RECORD,
    "python": r'''for a in "$@"; do case "$a" in *device_count*) echo "$STUB_GPUS"; exit 0;; esac; done
''' + _RECORD,
    "nvidia-smi": r'''case " $* " in
  *" -L "*|*" --list-gpus "*) for ((i=0;i<STUB_GPUS;i++)); do echo "GPU $i: Modelled GPU (UUID: GPU-$i)"; done;;
  *--query-gpu*) for ((i=0;i<STUB_GPUS;i++)); do echo "$i"; done;;
esac
''',
    "rocm-smi": r'''for ((i=0;i<STUB_GPUS;i++)); do printf 'GPU[%s]\t\t: Device ID: 0x74a1\n' "$i"; done
''',
    "date": 'exec /usr/bin/env -u TZ /bin/date -u -d @%d "$@"\n' % FIXED_EPOCH,
    "hostname": "echo localhost\n",
    "rdma": ":\n",
    "ibv_devices": ":\n",
    "tee": "cat > /dev/null\n",
    # relative directories are created (a later `>& dir/log` needs them); absolute ones never are
    "mkdir": 'for a in "$@"; do case "$a" in -*|/*) ;; *) /bin/mkdir -p -- "$a";; esac; done\n',
}
SEEN_ONLY = ["wget", "curl", "pip", "pip3", "rm", "touch", "cp", "mv", "ln", "chmod", "sleep",
             "git", "huggingface-cli", "apt-get", "nproc", "scontrol", "sbatch", "ray", "ls"]
BASELINE_ENV = {"PATH", "LC_ALL", "STUB_RECORD_DIR", "STUB_GPUS", "PWD", "SHLVL", "_", "OLDPWD", "HOME", "TMPDIR"}


@dataclass
class BashCall:
    words: list[str]  # program basename, then its arguments
    env: dict[str, str]


def make_stubs(root: Path) -> Path:
    stub_dir = root / "_stubs"
    stub_dir.mkdir(parents=True, exist_ok=True)
    for name in list(STUBS) + SEEN_ONLY + ["python3"]:
        body = STUBS.get(name if name != "python3" else "python", ":\n")
        path = stub_dir / name
        path.write_text("#!" + BASH + "\n" + body)
        path.chmod(0o755)
    return stub_dir


def run_bash(script: str, cwd: Path, env: dict[str, str] | None = None, args: list[str] | tuple = (),
             gpus: int = 8, timeout: float = 30) -> list[BashCall]:
    """Run `env bash script args` in cwd; the launcher-like calls it made, in order."""
    stub_dir = make_stubs(cwd)
    record = cwd / "_record"
    if record.exists():
        shutil.rmtree(record)
    record.mkdir()
    (cwd / "_home").mkdir(exist_ok=True)
    (cwd / "_tmp").mkdir(exist_ok=True)
    full_env = {"PATH": f"{stub_dir}:/usr/bin:/bin", "LC_ALL": "C", "STUB_RECORD_DIR": str(record),
                "STUB_GPUS": str(gpus), "HOME": str(cwd / "_home"), "TMPDIR": str(cwd / "_tmp")}
    full_env.update(env or {})
    subprocess.run([BASH, script, *args], cwd=cwd, env=full_env, capture_output=True, timeout=timeout, check=False)
    calls = []
    count = int((record / "count").read_text()) if (record / "count").exists() else 0
    for n in range(1, count + 1):
        words = (record / f"{n}.args").read_bytes().decode().split("\0")[:-1]
        env_items = (record / f"{n}.env").read_bytes().decode().split("\0")[:-1]
        calls.append(BashCall(words, dict(item.split("=", 1) for item in env_items if "=" in item)))
    return calls


def bash_launch(calls: list[BashCall]) -> BashCall | None:
    for call in calls:
        if any(ENTRY_RE.fullmatch(w) for w in call.words[1:]):
            return call
    return None


def plan_words(plan) -> list[str]:
    """The launch as one command line: wrappers, launcher, entry, argv."""
    words = [t.value for w in plan.launcher.wrappers for t in w]
    words += [t.value for t in plan.launcher.argv] + [plan.entry] + plan.argv_values()
    words[0] = os.path.basename(words[0])
    return words


def bash_value(snippet: str, names: list[str], env: dict[str, str] | None = None,
               args: list[str] | tuple = ()) -> dict[str, str | None]:
    """Run a snippet under bash and return the values of variables (None when unset)."""
    dump = "".join(
        f'\nif [ -n "${{{n}+x}}" ]; then printf "%s\\0%s\\0" {n} "${{{n}}}"; else printf "%s\\0\\1\\0" {n}; fi'
        for n in names
    )
    script = f"trap '{dump.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}' EXIT\n{snippet}"
    import tempfile

    with tempfile.TemporaryDirectory() as sandbox:  # its own cwd, HOME and TMPDIR: nothing lands elsewhere
        proc = subprocess.run([BASH, "-c", script, "snippet", *args], capture_output=True, cwd=sandbox,
                              env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": sandbox, "TMPDIR": sandbox,
                                   **(env or {})}, timeout=10, check=False)
    items = proc.stdout.decode().split("\0")[:-1]
    out: dict[str, str | None] = {}
    for key, value in zip(items[::2], items[1::2]):
        out[key] = None if value == "\x01" else value
    return out


def static_values(snippet: str, names: list[str], tmp_path: Path, env: dict[str, str] | None = None,
                  args: list[str] | tuple = (), gpus: int = 8) -> dict[str, str | None]:
    """The evaluator's values of variables after a snippet (None when unset)."""
    from migrate.shell.evaluate import EvalOptions, Evaluator, ExitScript
    from migrate.shell.text import to_str

    script = tmp_path / "snippet.sh"
    script.write_text(snippet + "\n")
    ev = Evaluator(script, str(script), dict(env or {}), list(args), EvalOptions(gpus_per_node=gpus, cwd=str(tmp_path)))
    try:
        ev.run_file(script, str(script))
    except ExitScript:
        pass
    out: dict[str, str | None] = {}
    for name in names:
        var = ev.state.lookup(name)
        out[name] = None if var is None else to_str(var.scalar())
    return out
