"""Launch forms and modelled command substitutions, each checked against bash with stubs."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_shell import bash_launch, plan_words, run_bash
from migrate.shell import EvalOptions, evaluate_script

LAUNCHES = {
    "torchrun-tee": 'torchrun --nproc_per_node 2 pretrain_gpt.py --a 1 2>&1 | tee log.txt\n',
    "python-plain": 'python3 -u pretrain_bert.py --num-layers 2\n',
    "python-module-run": 'python -m torch.distributed.run --nproc_per_node=4 pretrain_gpt.py --x\n',
    "python-module-launch": 'python -m torch.distributed.launch --use_env pretrain_t5.py --y\n',
    "deepspeed": 'deepspeed --num_gpus 8 --master_port 29500 pretrain_gpt.py --deepspeed --zero-stage 1\n',
    "srun-wrapper": 'srun -N 2 --ntasks-per-node=1 torchrun --nnodes 2 pretrain_gpt.py --tp 2\n',
    "srun-bash-c": 'A="--lr 1e-4"\nsrun -N 1 bash -c "torchrun pretrain_gpt.py $A --seed \\$SEED"\n',
    "exec": 'export SEED=3\nexec torchrun --standalone pretrain_gpt.py --seed $SEED\n',
    "env-prefix": 'NCCL_DEBUG=INFO OMP_NUM_THREADS=4 torchrun pretrain_gpt.py --z\n',
    "function-wrapper": 'launch() { local entry=$1; shift; torchrun --nproc_per_node 8 "$entry" "$@"; }\n'
                        'launch pretrain_gpt.py --num-layers 4 "--name x"\n',
    "after-other-python": 'python tools/checkpoint_util.py --help\npython3 train.py --cfg a.yaml\n',
    "child-script": 'export TP=2\nbash ./child.sh --extra\n',
}
CHILD = 'torchrun pretrain_gpt.py --tensor-model-parallel-size $TP "$@"\n'


@pytest.mark.parametrize("name", list(LAUNCHES))
def test_launch_forms_match_bash(name, tmp_path: Path):
    (tmp_path / "s.sh").write_text(LAUNCHES[name])
    (tmp_path / "child.sh").write_text(CHILD)
    launch = bash_launch(run_bash("s.sh", tmp_path, {"SEED": "11"}))
    assert launch is not None
    plan = evaluate_script("s.sh", {"SEED": "11"}, options=EvalOptions(cwd=str(tmp_path)))
    if name == "srun-bash-c":  # bash records srun and the torchrun inside it separately
        assert [t.value for t in plan.launcher.wrappers[0]] == ["srun", "-N", "1"]
        plan.launcher.wrappers = []
    assert plan_words(plan) == launch.words
    for var, value in plan.env.items():
        assert launch.env.get(var) == value.value


def test_launcher_kinds(tmp_path: Path):
    kinds = {}
    for name in ("python-plain", "python-module-run", "python-module-launch", "deepspeed", "srun-wrapper"):
        (tmp_path / f"{name}.sh").write_text(LAUNCHES[name])
        kinds[name] = evaluate_script(tmp_path / f"{name}.sh").launcher.kind
    assert kinds == {"python-plain": "python", "python-module-run": "torch.distributed.run",
                     "python-module-launch": "torch.distributed.launch", "deepspeed": "deepspeed",
                     "srun-wrapper": "torchrun"}


def test_prefix_assignments_are_launch_env(tmp_path: Path):
    (tmp_path / "s.sh").write_text(LAUNCHES["env-prefix"])
    plan = evaluate_script(tmp_path / "s.sh")
    assert {k: v.value for k, v in plan.env.items()} == {"NCCL_DEBUG": "INFO", "OMP_NUM_THREADS": "4"}


SUBSTITUTIONS = [
    ("gpu-python", 'G=`python3 -c "import torch; print(torch.cuda.device_count())"`'),
    ("gpu-nvidia-smi", 'G=$(nvidia-smi -L | wc -l)'),
    ("gpu-nvidia-query", 'G=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)'),
    ("gpu-rocm-smi", "G=$(rocm-smi --showid | grep -c 'GPU\\[')"),
    ("date-formats", 'G="$(date +%Y%m%d_%H%M%S)-$(date +"%Y-%m-%d_%H-%M-%S")-$(date -u +%s)"'),
    ("hostname", 'G=$(hostname)'),
    ("rdma", "G=x$(rdma link | awk '{print $2}')y$(ibv_devices)z"),
    ("pwd-dirname", 'G="$(cd "$(dirname "$0")" && pwd)/$(basename $0 .sh)"'),
    ("text-pipelines", "G=$(echo 'a:b:c' | cut -d: -f2-)-$(echo ' x  y ' | xargs)-$(echo AbC | tr '[:upper:]' '[:lower:]')"
                       "-$(printf '%s_%s' p q)-$(echo v1.2.3 | sed -E 's/v([0-9]+)\\..*/\\1/')-$(seq 3 | tail -n 1)"),
    ("expr-head", "G=$(expr 6 \\* 7)-$(printf 'l1\\nl2\\n' | head -n 1)-$(echo 'k=v' | awk -F= '{print $2}')"),
    ("function-output", 'f() { echo "out-$1"; }\nG=$(f 7)'),
]


@pytest.mark.parametrize("name,snippet", SUBSTITUTIONS, ids=[s[0] for s in SUBSTITUTIONS])
@pytest.mark.parametrize("gpus", [8, 2])
def test_modelled_substitutions_match_stubbed_bash(name, snippet, gpus, tmp_path: Path):
    (tmp_path / "s.sh").write_text(snippet + '\ntorchrun pretrain_gpt.py --value "$G"\n')
    launch = bash_launch(run_bash("s.sh", tmp_path, gpus=gpus))
    plan = evaluate_script("s.sh", options=EvalOptions(cwd=str(tmp_path), gpus_per_node=gpus))
    assert plan.argv_values() == launch.words[2:]
    assert not any(t.unknown for t in plan.argv)
