"""Development-time check: our "would Megatron start this run?" agrees with Megatron-LM's own code.

For each bundled schema's pinned commit, Megatron-LM's parse_args, validate_args and
get_optimizer_param_scheduler run on argv cases in a subprocess (tests/megatron_validate_probe.py,
missing optional packages stubbed), inside a throwaway folder. Skipped unless MEGATRON_ROCM_GIT
and MEGATRON_NVIDIA_GIT name Megatron-LM git dirs holding the pinned commits (as for
test_megatron_schemas' regeneration check).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.diagnostics import MigrateError
from migrate.megatron import load_schema, parse_argv
from migrate.megatron.derive import era_of, fill_args_defaults
from migrate.megatron.required import missing_values, rejected_values, rocm_sp_quirk

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (os.environ.get("MEGATRON_NVIDIA_GIT") and os.environ.get("MEGATRON_ROCM_GIT")),
                       reason="set MEGATRON_NVIDIA_GIT and MEGATRON_ROCM_GIT to Megatron-LM git dirs"),
]

PROBE = Path(__file__).parent / "megatron_validate_probe.py"
BASE = ["--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4", "--seq-length", "128",
        "--max-position-embeddings", "128", "--micro-batch-size", "1", "--lr", "1e-4", "--train-iters", "10"]


def _drop(argv: list[str], *flags: str) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        if argv[i] in flags:
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


CASES: list[list[str]] = [
    BASE,
    *[_drop(BASE, flag) for flag in BASE[::2]],
    _drop(BASE, "--num-layers") + ["--encoder-num-layers", "2"],
    _drop(BASE, "--seq-length") + ["--encoder-seq-length", "128"],
    _drop(BASE, "--train-iters") + ["--train-samples", "40"],
    _drop(BASE, "--lr", "--train-iters", "--num-layers"),
    BASE + ["--min-lr", "1e-3"],
    BASE + ["--max-position-embeddings", "64"],
    BASE + ["--hidden-size", "66"],
    BASE + ["--hidden-size", "66", "--kv-channels", "16"],
    BASE + ["--save", "ckpt"],
    BASE + ["--save", "ckpt", "--save-interval", "5"],
    BASE + ["--micro-batch-size", "0"],
    BASE + ["--overlap-param-gather"],
    BASE + ["--overlap-param-gather", "--overlap-grad-reduce"],
    BASE + ["--overlap-param-gather", "--use-distributed-optimizer"],
    BASE + ["--overlap-param-gather", "--overlap-grad-reduce", "--use-distributed-optimizer"],
    BASE + ["--num-layers", "two"],  # argparse: invalid int value
    BASE + ["--not-an-option", "1"],  # argparse: unrecognized argument
    BASE + ["--use-torch-fsdp2"],  # gradient accumulation fusion is on by default
    BASE + ["--use-torch-fsdp2", "--no-gradient-accumulation-fusion", "--untie-embeddings-and-output-weights"],
    BASE + ["--use-torch-fsdp2", "--no-gradient-accumulation-fusion", "--untie-embeddings-and-output-weights",
            "--use-distributed-optimizer"],
    BASE + ["--use-torch-fsdp2", "--no-gradient-accumulation-fusion", "--untie-embeddings-and-output-weights",
            "--ckpt-format", "torch"],
]
ARGS_DEFAULTS = {"tokenizer_type": "GPT2BPETokenizer"}  # pretrain_gpt.py's


# Rejections outside our model, by what Megatron says: the world size depends on the cluster the
# run is started on (nnodes, WORLD_SIZE), not on the script alone.
NOT_MODELLED = ("is not divisible by total_model_size",)


def _ours(schema_name: str, argv: list[str], world_size: int = 1) -> str:
    """"reject" when we refuse the argv or flag it with a warning (rocm_sp_quirk), else "ok"."""
    try:
        args = dict(parse_argv(load_schema(schema_name), argv).args)
    except MigrateError:
        return "reject"
    fill_args_defaults(args, ARGS_DEFAULTS)
    era = era_of(schema_name, args)
    flagged = missing_values(args) or rejected_values(args, era) or rocm_sp_quirk(args, era, world_size)
    return "reject" if flagged else "ok"


def _agree(ours: str, verdict: str) -> bool:
    return ours == verdict.split(":", 1)[0] or any(text in verdict for text in NOT_MODELLED)


def _export(git_dir: str, commit: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", commit, "megatron"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _upstream(root: Path, work: Path, argvs: list[list[str]], world_sizes: list[int] | None = None,
              nvidia: bool = False, namespace: bool = False) -> list:
    """Megatron's verdict per argv ("ok" / "reject: ..."); with `namespace`, the namespace validate_args
    left instead of "ok"."""
    cases = work / "cases.json"
    sizes = world_sizes or [1] * len(argvs)
    # the NVIDIA pins refuse FSDP2 with CUDA_DEVICE_MAX_CONNECTIONS=1 (an environment value we do not check)
    envs = [{"CUDA_DEVICE_MAX_CONNECTIONS": "8"} if nvidia and "--use-torch-fsdp2" in argv else {} for argv in argvs]
    cases.write_text(json.dumps([{"argv": argv, "args_defaults": ARGS_DEFAULTS, "world_size": size, "env": env}
                                 for argv, size, env in zip(argvs, sizes, envs)]))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work), "TMPDIR": str(work), "STUBS": "six",
           **({"PROBE_NAMESPACE": "1"} if namespace else {})}
    for _ in range(12):  # stub each optional package the environment lacks, one at a time
        run = subprocess.run([sys.executable, str(PROBE), str(root), str(cases)], cwd=work, env=env,
                             capture_output=True, text=True, timeout=600, check=False)
        verdicts = [line for line in run.stdout.splitlines() if line.startswith("VERDICTS ")]
        if verdicts:
            return json.loads(verdicts[-1][len("VERDICTS "):])
        missing = re.search(r"No module named '([^'.]+)", run.stderr)
        assert missing, run.stderr[-3000:]
        env["STUBS"] += "," + missing.group(1)
    raise AssertionError("too many missing packages")


def _pinned_tree(schema_name: str, repo_env: str, tmp_path: Path) -> Path:
    commit = load_schema(schema_name).source.split("@", 1)[1].split()[0]
    git_dir = os.environ[repo_env]
    if subprocess.run(["git", "--git-dir", git_dir, "cat-file", "-e", f"{commit}^{{commit}}"], check=False).returncode:
        pytest.skip(f"{git_dir} lacks {commit}")
    return _export(git_dir, commit, tmp_path / "megatron-lm")


@pytest.mark.parametrize("schema_name,repo_env", [("rocm_dev", "MEGATRON_ROCM_GIT"),
                                                  ("5a676b36", "MEGATRON_NVIDIA_GIT"),
                                                  ("84778176", "MEGATRON_NVIDIA_GIT"),
                                                  ("3bec9aa9", "MEGATRON_NVIDIA_GIT"),
                                                  ("d3528a21", "MEGATRON_NVIDIA_GIT")])
def test_refusals_agree_with_megatron(schema_name, repo_env, tmp_path):
    root = _pinned_tree(schema_name, repo_env, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    theirs = _upstream(root, work, CASES, nvidia=schema_name != "rocm_dev")
    assert "ok" in theirs and len(set(theirs)) > 10  # the cases reach many different checks
    for argv, verdict in zip(CASES, theirs):
        assert _agree(_ours(schema_name, argv), verdict), (argv, verdict)


def test_every_fixture_variant_starts_exactly_when_megatron_says(tmp_path):
    """The legacy fixtures' argv (every knob variant), at the launch's world size, at rocm_dev:
    the ones Megatron-LM starts are the ones we do not refuse."""
    from helpers_convert import fixture_scripts, knob_variants, script_args

    from migrate.megatron.view import world_size_of
    from migrate.shell import evaluate_script

    argvs, sizes, names = [], [], []
    for script in fixture_scripts():
        for env in knob_variants(script):
            plan = evaluate_script(script, env, script_args(script))
            argvs.append([t.value for t in plan.argv])
            sizes.append(world_size_of(plan))
            names.append(f"{script.name} {env}")
    root = _pinned_tree("rocm_dev", "MEGATRON_ROCM_GIT", tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    theirs = _upstream(root, work, argvs, sizes)
    assert len(theirs) == len(argvs) > 20
    mismatches = [(name, verdict) for name, argv, size, verdict in zip(names, argvs, sizes, theirs)
                  if not _agree(_ours("rocm_dev", argv, size), verdict)]
    assert mismatches == []
