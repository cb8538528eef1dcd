"""Hostile input is bounded: time, memory and size limits, each a clear exit 2 naming the limit.

Every case runs the CLI in a subprocess under a wall-clock timeout and a data-size rlimit, so
that the code before these limits (which hung for minutes or grew to gigabytes) fails the test
instead of taking the machine down with it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers_shell import bash_value

REPO = Path(__file__).resolve().parent.parent
LAUNCH = ("torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
          "--seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 "
          "--lr 1e-4 --train-iters 10 --mock-data --tokenizer-type NullTokenizer --vocab-size 1000")
MEMORY_CAP = 1500 << 20  # the test process's own bound: far above what a bounded run needs


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_CAP, resource.RLIM_INFINITY))


def run_cli(tmp_path: Path, *argv: str, limits: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m migrate ARGV` in tmp_path (HOME, TMPDIR and the cache inside it), bounded."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(home),
           "PYTHONPATH": str(REPO), "PRIMUS_MIGRATE_NO_CACHE": "1", "LC_ALL": "C.UTF-8"}
    if limits:
        env["PRIMUS_MIGRATE_LIMITS"] = limits
    return subprocess.run([sys.executable, "-m", "migrate", *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=_cap_memory, check=False)


def script(tmp_path: Path, body: str, name: str = "train.sh") -> str:
    (tmp_path / name).write_text(f"#!/bin/bash\n{body}\n{LAUNCH}\n")
    return name


def assert_limit(proc: subprocess.CompletedProcess, limit: str, where: str) -> None:
    """Exit 2, located at `where`, naming the limit and how to raise it."""
    assert proc.returncode == 2, proc.stderr
    assert f"over the limit {limit}=" in proc.stderr, proc.stderr
    assert f"PRIMUS_MIGRATE_LIMITS={limit}=" in proc.stderr, proc.stderr
    assert proc.stderr.startswith(where), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


# -- regular expressions: linear time (bash answers these in milliseconds)
BACKTRACKING = "a" * 40 + "!"


def test_backtracking_regexes_in_grep_sed_and_conditions_answer_like_bash(tmp_path):
    body = (f"S={BACKTRACKING}\n"
            "G=$(echo $S | grep -E '(a+)+$' || echo none)\n"
            "E=$(echo $S | sed -E 's/(a+)+b/X/')\n"
            "if [[ $S =~ (a+)+$ ]]; then R=yes; else R=no; fi\n"
            "case $S in *a*a*a*a*a*a*a*a*a*a*a*a*b) C=yes;; *) C=no;; esac\n"
            "T=${S%%*a*a*a*a*a*a*a*a*a*a*a*b}")
    names = ["G", "E", "R", "C", "T"]
    expected = bash_value(body, names)  # the oracle: bash itself
    assert expected["G"] == "none" and expected["R"] == "no" and expected["C"] == "no"
    name = "train.sh"
    (tmp_path / name).write_text(f"#!/bin/bash\n{body}\n" + LAUNCH + ' --data-path "$G" "$E" "$R" "$C" "$T"\n')
    start = time.monotonic()
    proc = run_cli(tmp_path, "inspect", name, "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 30
    argv = json.loads(proc.stdout)["argv"]
    assert argv[-5:] == [expected[n] for n in names]


def test_a_back_reference_is_an_unknown_value_with_a_warning(tmp_path):
    name = script(tmp_path, "B=$(echo aa | grep '\\(a\\)\\1')")
    proc = run_cli(tmp_path, "inspect", name)
    assert proc.returncode == 0, proc.stderr
    assert f"{name}:2: warning: the output of `grep" in proc.stdout and "cannot be known statically" in proc.stdout


# -- input files
def test_a_script_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.sh"
    path.write_text("X=1\n" * 300_000 + LAUNCH + "\n")  # 1.2 MB (10 MB took 48 s and 2.4 GB before)
    start = time.monotonic()
    proc = run_cli(tmp_path, "inspect", "big.sh", timeout=60)
    assert_limit(proc, "script_bytes", "big.sh: error: script is 1")
    assert time.monotonic() - start < 20


def test_the_script_size_limit_can_be_lowered_and_raised(tmp_path):
    path = tmp_path / "long.sh"
    path.write_text("#" + "x" * 200_000 + "\n" + LAUNCH + "\n")  # a long comment: quick to parse
    assert_limit(run_cli(tmp_path, "inspect", "long.sh", limits="script_bytes=100K"), "script_bytes", "long.sh: error")
    assert run_cli(tmp_path, "inspect", "long.sh").returncode == 0


@pytest.mark.parametrize("command", [["inspect"], [], ["parity", "--static"]])
def test_a_named_pipe_or_a_device_as_the_script_is_refused_without_reading(tmp_path, command):
    os.mkfifo(tmp_path / "pipe.sh")
    for target in ("pipe.sh", "/dev/zero"):
        proc = run_cli(tmp_path, *command, target, *(["-o", "out"] if not command else []), timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
        assert "not a regular file" in proc.stderr and "not found" not in proc.stderr  # it exists: say what it is


def test_a_sourced_device_or_pipe_is_never_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.sh")
    name = script(tmp_path, "source /dev/zero\n. ./pipe.sh")
    proc = run_cli(tmp_path, "inspect", name, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "source: `/dev/zero` not found" in proc.stdout and "source: `./pipe.sh` not found" in proc.stdout


# -- string sizes
@pytest.mark.parametrize("body,where", [
    ("X=$(printf '%999999999d' 1)", "train.sh:2: error: printf's"),
    ("X=ab\n" + "X=$X$X\n" * 40, "train.sh:"),
    ("N=$(nvidia-smi --list-gpus | wc -l)", "train.sh:2: error: the modelled output for 100000000 GPUs"),
    ("X=$(for i in $(seq 1 100000); do printf '%500s' x; done)", "train.sh:2: error: the captured output"),
])
def test_values_past_the_string_limit_stop_with_a_located_error(tmp_path, body, where):
    name = script(tmp_path, body)
    start = time.monotonic()
    proc = run_cli(tmp_path, "inspect", name, "--gpus-per-node", "100000000", timeout=60)
    assert_limit(proc, "string_chars", where)
    assert time.monotonic() - start < 30


def test_the_string_limit_can_be_raised(tmp_path):
    name = script(tmp_path, "X=$(printf '%1500000d' 1)\nY=${#X}")
    assert run_cli(tmp_path, "inspect", name).returncode == 2
    assert run_cli(tmp_path, "inspect", name, limits="string_chars=2M").returncode == 0


# -- loops and total work
def test_an_endless_loop_growing_an_array_stops_at_the_work_limit(tmp_path):
    # each turn copies the whole array: quadratic, a minute at 10000 turns before
    # (the default, 2M words, stops it after about 2000 turns; a lower limit keeps the test short)
    name = script(tmp_path, "A=()\nwhile true; do A=(\"${A[@]}\" xxxxxxxxxxxxxxxx); done")
    start = time.monotonic()
    proc = run_cli(tmp_path, "inspect", name, limits="expansion_work=200K", timeout=60)
    assert_limit(proc, "expansion_work", "train.sh:3: error")
    assert time.monotonic() - start < 30


def test_a_doubling_array_stops_at_the_element_limit(tmp_path):
    name = script(tmp_path, "A=(x)\nwhile true; do A=(\"${A[@]}\" \"${A[@]}\"); done")
    assert_limit(run_cli(tmp_path, "inspect", name, timeout=60), "array_elements", "train.sh:3: error")


def test_total_evaluation_time_is_bounded(tmp_path):
    name = script(tmp_path, "while true; do while true; do X=1; done; done")
    start = time.monotonic()
    proc = run_cli(tmp_path, "inspect", name, limits="eval_seconds=2,loop_iterations=100000000,eval_steps=1G",
                   timeout=60)
    assert_limit(proc, "eval_seconds", "train.sh:")
    assert time.monotonic() - start < 30


def test_a_bad_limits_variable_is_bad_input(tmp_path):
    name = script(tmp_path, "")
    proc = run_cli(tmp_path, "inspect", name, limits="script_kb=3")
    assert proc.returncode == 2 and "unknown limit" in proc.stderr and "script_bytes" in proc.stderr


# -- YAML
def _experiment(folder: Path, extra: str = "", model: str = "llama3_8B.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = (REPO / "fixtures/primus/primus-26.5/llama3_8B-pretrain.yaml").read_text()
    path = folder / "exp.yaml"
    path.write_text(text.replace("model: llama3_8B.yaml", f"model: {model}") + extra)
    return path


def test_billion_laughs_aliases_are_refused(tmp_path):
    lines = ["lol0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    exp = _experiment(tmp_path / "y", "\n".join(lines) + "\n")
    start = time.monotonic()
    proc = run_cli(tmp_path, "resolve", str(exp), timeout=60)
    assert_limit(proc, "yaml_nodes", f"{exp}:")
    assert time.monotonic() - start < 20


def test_a_diamond_of_extends_resolves_quickly_and_a_long_chain_is_refused(tmp_path):
    folder = tmp_path / "d"
    exp = _experiment(folder)
    exp.write_text(exp.read_text().replace("work_group:", "extends: [d0.yaml]\nwork_group:", 1))
    depth = 28  # each file extends the next one twice: 2**28 paths through the diamond
    for i in range(depth):
        (folder / f"d{i}.yaml").write_text(f"extends: [d{i + 1}.yaml, d{i + 1}.yaml]\nk{i}: 1\n")
    (folder / f"d{depth}.yaml").write_text("leaf: 1\n")
    start = time.monotonic()
    proc = run_cli(tmp_path, "resolve", str(exp), "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 20
    proc = run_cli(tmp_path, "resolve", str(exp), limits="extends_depth=10", timeout=60)
    assert_limit(proc, "extends_depth", f"{folder}/d8.yaml:1: error")


def test_deeply_nested_yaml_is_refused_cleanly(tmp_path):
    exp = _experiment(tmp_path / "n150", "deep: " + "[" * 150 + "]" * 150 + "\n")
    assert_limit(run_cli(tmp_path, "resolve", str(exp)), "yaml_depth", f"{exp}:")
    exp = _experiment(tmp_path / "n20000", "deep: " + "[" * 20_000 + "]" * 20_000 + "\n")
    proc = run_cli(tmp_path, "resolve", str(exp), timeout=60)  # past what the parser itself can nest
    assert proc.returncode == 2 and "nested too deeply" in proc.stderr and "Traceback" not in proc.stderr


def test_a_yaml_file_over_the_size_limit_or_not_regular_is_refused(tmp_path):
    exp = _experiment(tmp_path / "s", "# " + "x" * 1_200_000 + "\n")
    assert_limit(run_cli(tmp_path, "resolve", str(exp)), "config_bytes", f"{exp}: error")
    os.mkfifo(tmp_path / "pipe.yaml")
    proc = run_cli(tmp_path, "resolve", "pipe.yaml", timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    extends = _experiment(tmp_path / "e")
    extends.write_text(extends.read_text().replace("work_group:", "extends: [../pipe.yaml]\nwork_group:", 1))
    proc = run_cli(tmp_path, "resolve", str(extends), timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


# -- the evaluator's budget is the one home of its limits
def test_eval_options_overrides_and_environment_reach_the_budget(monkeypatch):
    from migrate.shell.budget import EvalBudget
    from migrate.shell.evaluate import EvalOptions

    assert EvalBudget(EvalOptions()).loop_iterations == 10_000
    assert EvalBudget(EvalOptions(max_loop_iterations=7)).loop_iterations == 7
    monkeypatch.setenv("PRIMUS_MIGRATE_LIMITS", "loop_iterations=12, eval_steps=2K")
    budget = EvalBudget(EvalOptions())
    assert (budget.loop_iterations, budget.steps) == (12, 2048)


def test_a_torchtitan_job_config_that_is_a_pipe_or_a_device_is_refused_without_reading(tmp_path):
    os.mkfifo(tmp_path / "job.toml")
    code = ("import sys\nfrom pathlib import Path\nfrom migrate.diagnostics import MigrateError\n"
            "from migrate.torchtitan.jobconfig import load_toml\nfrom migrate.torchtitan.schema import load_schema\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n        load_toml(Path(name), load_schema('73a0e697'))\n"
            "    except MigrateError as exc:\n        print(exc.message)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "job.toml"), "/dev/zero"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
                          preexec_fn=_cap_memory, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("not a regular file") == 2, proc.stdout


@pytest.mark.slow
def test_memory_no_other_limit_catches_stops_at_the_evaluation_memory_cap(tmp_path):
    # each element stays under string_chars; joining 100000 of them would be 90 GB
    name = script(tmp_path, 'X=$(printf "%900000s" x)\nA=($(seq 1 100000))\nB=("${A[@]/1/$X}")\nY="${B[*]}"')
    start = time.monotonic()
    proc = run_cli(tmp_path, "inspect", name, limits="eval_memory=400M", timeout=120)
    assert_limit(proc, "eval_memory", f"{name}: error: evaluation ran out of memory")
    assert time.monotonic() - start < 60
