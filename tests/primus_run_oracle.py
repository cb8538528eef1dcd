"""Real bash as the judge of a Primus tag's run script: which variables it reads and which it forces.

The tag's `examples/` and `runner/` are exported to a throwaway folder and its run script is run
twice under real bash, with HOME, TMPDIR and the working directory inside that folder and every
command that would reach outside (pip, python, apt-get, mktemp under /tmp, ...) stubbed: once with
an empty environment, once with every variable the script names (and every name we claim) set to
its own number. `torchrun` is a shell function that dumps the shell's variables (`declare -p`) when
the script launches training, so what is compared is exactly what the launch would see:

- read: the script names the variable and the value from the environment reaches the launch
  (alone, or as one `:`-separated part of it, as PYTHONPATH is extended);
- forced: the launch gets an exported value whatever the environment held (the value with an empty
  environment; None when it is computed from other variables, as HIP_VISIBLE_DEVICES is).

The default path is the one judged (no USING_AINIC, no PRIMUS_DETERMINISTIC, Megatron backend).
TE_HIPBLASLT_TUNING_* are left out: the tuning gate (`RunFacts.tuning_gate`) models them.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

BASH_OWN = frozenset({"PIPESTATUS", "HOSTNAME", "RANDOM", "BASH_SOURCE", "LINENO", "FUNCNAME", "SECONDS", "PWD",
                      "HOME", "PATH", "OLDPWD", "SHLVL", "TMPDIR", "EXP", "PRIMUS_PATH", "ORACLE_DUMP"})
STUBS = ("python", "python3", "pip", "pip3", "apt-get", "rocm-smi", "amd-smi", "ibv_devinfo", "ibv_devices", "ip",
         "lspci", "nvidia-smi", "git", "sudo", "numactl", "rdma", "ifconfig", "mpirun", "wget", "curl")
DUMP = 'torchrun() { declare -p > "$ORACLE_DUMP"; return 0; }'
TUNING_PREFIX = "TE_HIPBLASLT_TUNING"


def _export(repo: str, tag: str, dest: Path) -> None:
    names = subprocess.run(["git", f"--git-dir={repo}", "ls-tree", "-r", "--name-only", f"refs/tags/{tag}", "--",
                            "examples", "runner"], check=True, capture_output=True, text=True).stdout.split()
    names = [n for n in names if n.endswith((".sh", ".py", ".txt"))]
    data = subprocess.run(["git", f"--git-dir={repo}", "archive", f"refs/tags/{tag}", *names], check=True,
                          capture_output=True).stdout
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=data, check=True)


def _scalars(declared: str, sandbox: Path) -> dict[str, tuple[str, bool]]:
    """name -> (value, exported) of each scalar variable in `declare -p` output (arrays left out)."""
    out = {}
    for m in re.finditer(r"^declare -(\S+) (\w+)(?:=(.*))?$", declared, re.M):
        flags, name, raw = m.groups()
        if raw is None or "a" in flags or "A" in flags:
            continue
        value = subprocess.run(["bash", "-c", f'X={raw}; printf %s "$X"'], capture_output=True, text=True,
                               cwd=sandbox, env={"PATH": "/usr/bin:/bin", "HOME": str(sandbox),
                                                 "TMPDIR": str(sandbox)}).stdout
        out[name] = (value, "x" in flags)
    return out


def _launch(tree: Path, script: str, sandbox: Path, env_extra: dict[str, str]) -> dict[str, tuple[str, bool]]:
    stubs = sandbox / "bin"
    stubs.mkdir(parents=True)
    for name in STUBS:
        (stubs / name).write_text("#!/bin/sh\nexit 0\n")
        (stubs / name).chmod(0o755)
    (stubs / "mktemp").write_text(f'#!/bin/sh\necho "{sandbox}/tmpfile"\n')
    (stubs / "mktemp").chmod(0o755)
    exp = sandbox / "exp.yaml"
    exp.write_text("x: 1\n")
    dump = sandbox / "dump.txt"
    env = {**env_extra, "PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(sandbox), "TMPDIR": str(sandbox),
           "EXP": str(exp), "ORACLE_DUMP": str(dump)}
    done = subprocess.run(["bash", "-c", f'{DUMP}; export -f torchrun; source "$0"', str(tree / script)],
                   env=env, cwd=tree, capture_output=True, text=True, timeout=120)
    if not dump.exists():
        raise AssertionError(f"{script} never reached torchrun in the oracle: "
                             f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return _scalars(dump.read_text(), sandbox)


def _named(tree: Path, script: str) -> set[str]:
    """Variables the script (and the files it sources from the checkout) reads or assigns."""
    text = (tree / script).read_text()
    for m in re.finditer(r'source "\$\{PRIMUS_PATH\}/([^"]+)"', text):
        if (tree / m.group(1)).is_file():
            text += "\n" + (tree / m.group(1)).read_text()
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    refs = set(re.findall(r"\$\{?[#!]?([A-Z][A-Z0-9_]*)", text))
    assigned = set(re.findall(r"(?:^|[\s;(])(?:export\s+|local\s+)?([A-Z][A-Z0-9_]*)\+?=", text, re.M))
    return refs | assigned


def run_script_facts(repo: str, tag: str, script: str, claimed: frozenset[str] = frozenset(),
                     stopping: frozenset[str] = frozenset()) -> tuple[set[str], dict[str, str | None], set[str]]:
    """(variables read, variables forced -> value, those of `stopping` that do stop the script when set)
    of `script` at `tag`, by real bash; `stopping` are left unset in the run with every variable set."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tree = root / "primus"
        _export(repo, tag, tree)
        names = sorted((_named(tree, script) | set(claimed)) - BASH_OWN - set(stopping))
        names = [n for n in names if not n.startswith(TUNING_PREFIX)]
        marks = {name: str(9001 + i) for i, name in enumerate(names)}
        for name in names:  # a path the script may test: an existing, non-empty folder of its own
            if name.endswith(("_PATH", "_DIR", "_HOME")):
                marks[name] = str(root / "marks" / marks[name])
                (root / "marks" / marks[name]).mkdir(parents=True)
                (root / "marks" / marks[name] / "file").write_text("")
        empty = _launch(tree, script, root / "empty", {})
        marked = _launch(tree, script, root / "marked", marks)
        stops = set()
        for i, name in enumerate(sorted(stopping)):
            try:
                _launch(tree, script, root / f"stop{i}", {name: str(root / "marks")})
            except AssertionError:
                stops.add(name)
    kept = {n for n in names if marks[n] in marked.get(n, ("", False))[0].split(":")}
    forced = {n: (empty[n][0] if empty[n][0] == marked.get(n, ("", False))[0] else None)
              for n in names if n in empty and empty[n][1] and n not in kept}
    return kept, forced, stops
