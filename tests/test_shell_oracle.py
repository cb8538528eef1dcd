"""Differential oracle: the static evaluator must agree with real bash, token for token.

Each fixture runs under bash in a scratch copy of the fixture tree with the
launchers and system tools stubbed (see helpers_shell.py); the evaluator runs
on the same copy. The argv, launcher words and exported environment must match.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers_shell import BASELINE_ENV, bash_launch, plan_words, run_bash
from migrate.shell import EvalOptions, evaluate_script

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "scripts"

# (script relative to fixtures/scripts, environment, script arguments)
CASES: list[tuple[str, dict[str, str], list[str]]] = [
    ("rocm/train_llama3.sh", {}, []),
    ("rocm/train_llama3.sh", {"TP": "1", "MBS": "2", "BS": "256", "TE_FP8": "1", "MODEL_SIZE": "8"}, []),
    ("rocm/train_llama3.sh", {}, ["TP=1", "MBS=2", "BS=256", "TE_FP8=1", "MODEL_SIZE=8"]),
    ("rocm/train_llama3.sh", {"MODEL_SIZE": "70", "RECOMPUTE": "1", "FSDP": "1"}, []),
    ("rocm/train_llama3.sh", {"MODEL_SIZE": "8", "MOCK_DATA": "1", "TEE_OUTPUT": "0", "ROPE_FUSION": "0"}, ["OPTIMIZER=sgd"]),
    ("rocm/train_llama3.sh", {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1"}, ["SEQ_LENGTH=16384"]),
    ("rocm/train_llama2.sh", {}, []),
    ("rocm/train_llama2.sh", {"MODEL_SIZE": "70", "TE_FP8": "1"}, []),
    ("rocm/train_llama2.sh", {}, ["MODEL_SIZE=70", "FSDP=1", "RECOMPUTE=1", "MOCK_DATA=0"]),
    ("rocm/train_llama2.sh", {"TOKENIZER_TYPE": "Llama2Tokenizer", "SEQ_PARALLEL": "0"}, []),
    ("rocm/train_mixtral_moe.sh", {}, []),
    ("rocm/train_mixtral_moe.sh", {"MODEL_NAME": "mixtral_8x22b", "TP": "2", "TE_FP8": "1"}, []),
    ("rocm/train_mixtral_moe.sh", {"WANDB_API_KEY": "k"}, ["MODEL_NAME=mixtral_tiny_test", "BS=16", "junk"]),
    ("rocm/train_deepseekv2.sh", {}, []),
    ("rocm/train_deepseekv2.sh", {"MODEL_SIZE": "236B", "TP": "2", "AC": "full", "PR": "fp8"}, []),
    ("rocm/train_deepseekv2.sh", {"MP_VP": "2", "PR": "fp16", "AC": "none", "TRAIN_ITERS": "100"}, []),
    ("rocm/train_deepseekv3.sh", {}, []),
    ("rocm/train_deepseekv3.sh", {"MODEL_SIZE": "671B", "PRECISION": "fp8-hybrid", "BS": "1024"}, ["--tp", "4"]),
    ("rocm/train_deepseekv3.sh", {"MODEL_SIZE": "proxy-small", "TOKENIZER_PATH": "tok/My-Model/t.json"},
     ["--pp=2", "--layers", "6", "--extra", "--no-bias", "--", "--seed", "7"]),
    ("nvidia/train_gpt3_distributed.sh", {}, ["ckpt", "tb", "vocab.json", "merges.txt", "data/my_text_document"]),
    ("nvidia/train_gpt3_distributed.sh", {"NUM_NODES": "4"}, ["c k p t", "tb"]),
    ("slurm/launch_llama3_slurm.sh", {}, []),
    ("slurm/launch_llama3_slurm.sh", {"SLURM_NNODES": "4", "SLURM_JOB_NODELIST": "node1,node2,node3,node4",
                                      "SLURM_JOB_ID": "4242", "MBS": "2"}, []),
    ("config/train_from_config.sh", {}, []),
    ("deepspeed/train_gpt_megatron_deepspeed.sh", {}, []),
    ("deepspeed/train_gpt_megatron_deepspeed.sh", {"PP": "1", "ZERO_STAGE": "1", "ACTIVATION_CHECKPOINT": "true"}, []),
    ("pai/run_mcore_llama3.sh", {}, ["dsw", "8B", "1", "32", "1e-5", "1e-6", "8192"]),
    ("pai/run_mcore_llama3.sh", {}, []),  # no arguments: `--lr --min-lr ...`, as bash gives it
    ("pai/run_mcore_llama3.sh", {}, ["dsw", "70B", "1", "64", "1e-5", "1e-6", "4096", "fp16", "4", "2", "full", "false", "true"]),
    ("config/train_from_config.sh", {"TP": "4", "SEQ_LENGTH": "4096", "NVTE_FUSED_ATTN": "0"}, []),
]


def _ids(case):
    script, env, args = case
    knobs = " ".join([f"{k}={v}" for k, v in env.items()] + ["--"] * bool(args) + list(args))
    return f"{script} {knobs}".strip()


HOST_DATA = "/root/.cache/data"  # the ROCm fixtures' default data folder


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the fixtures whose host data folder is moved inside the sandbox (and not created):
    bash and the evaluator both see a folder that does not exist, whatever this machine has."""
    shutil.copytree(FIXTURES, tmp_path / "scripts")
    data = str(tmp_path / "hostroot" / ".cache" / "data")
    for script in (tmp_path / "scripts").rglob("*.sh"):
        text = script.read_text()
        if HOST_DATA in text:
            script.write_text(text.replace(HOST_DATA, data))
    return tmp_path / "scripts"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_static_argv_matches_bash(case, tree: Path):
    script, env, args = case
    calls = run_bash(script, tree, env, args, gpus=8)
    launch = bash_launch(calls)
    assert launch is not None, f"bash made no training launch: {[c.words for c in calls]}"

    plan = evaluate_script(script, env, args, EvalOptions(gpus_per_node=8, cwd=str(tree)))

    assert plan_words(plan) == launch.words
    assert not any(t.unknown for t in plan.argv)
    for name, var in plan.env.items():
        assert launch.env.get(name) == var.value, name
    inherited = set(env) | {a.split("=", 1)[0] for a in args if "=" in a}
    exported_by_script = set(launch.env) - BASELINE_ENV - inherited
    assert exported_by_script <= set(plan.env), exported_by_script - set(plan.env)
