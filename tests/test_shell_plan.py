"""What the LaunchPlan says beyond the argv: provenance, knobs, launcher, environment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrate.shell import EvalOptions, evaluate_script

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "scripts"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "scripts")
    return tmp_path / "scripts"


def plan_of(tree: Path, script: str, env=None, args=(), **options):
    return evaluate_script(script, env or {}, list(args), EvalOptions(cwd=str(tree), **options))


def source_line(tree: Path, origin) -> str:
    return (tree / origin.file).read_text().splitlines()[origin.line - 1]


@pytest.mark.parametrize("script,env,args", [
    ("rocm/train_llama3.sh", {"TE_FP8": "1", "RECOMPUTE": "1", "MODEL_SIZE": "8"}, []),
    ("rocm/train_llama2.sh", {"MODEL_SIZE": "70"}, []),
    ("rocm/train_mixtral_moe.sh", {"TP": "2"}, []),
    ("rocm/train_deepseekv2.sh", {}, []),
    ("rocm/train_deepseekv3.sh", {}, []),
    ("config/train_from_config.sh", {}, []),
    ("slurm/launch_llama3_slurm.sh", {}, []),
])
def test_every_flag_points_at_the_line_that_wrote_it(tree, script, env, args):
    plan = plan_of(tree, script, env, args)
    flags = [t for t in plan.argv if t.value.startswith("--")]
    assert flags
    for token in flags:
        name = token.value.split("=", 1)[0]
        if script.endswith("deepseekv3.sh"):
            name = name[2:]  # written as `add_flag num-layers`, the dashes come from the helper
        assert name in source_line(tree, token.origin), (token.value, str(token.origin))


def test_flag_origins_are_inside_the_argument_strings_not_the_torchrun_line(tree):
    plan = plan_of(tree, "rocm/train_llama3.sh", {"MODEL_SIZE": "8"})
    by_flag = {t.value: t.origin for t in plan.argv}
    text = (tree / "rocm/train_llama3.sh").read_text().splitlines()
    torchrun_line = next(i for i, line in enumerate(text, 1) if line.strip().startswith("torchrun"))
    assert by_flag["--micro-batch-size"].line != torchrun_line
    assert text[by_flag["--micro-batch-size"].line - 1].strip() == "--micro-batch-size $MBS \\"
    # the value token comes from the knob's default line
    mbs_value = plan.argv[plan.argv_values().index("--micro-batch-size") + 1]
    assert text[mbs_value.origin.line - 1].startswith('MBS="${MBS:-2}"')
    # both --eval-iters of the duplicated pair are present, each with its own line
    evals = [t for t in plan.argv if t.value == "--eval-iters"]
    assert len(evals) == 2 and evals[0].origin.line != evals[1].origin.line


def test_knobs_defaults_values_and_sources(tree):
    plan = plan_of(tree, "rocm/train_llama3.sh", {"TP": "1"}, ["MODEL_SIZE=8", "MBS=4"])
    size, tp, bs, mbs = plan.knob("MODEL_SIZE"), plan.knob("TP"), plan.knob("BS"), plan.knob("MBS")
    assert (size.default, size.value, size.source) == ("70", "8", "arg")
    assert (tp.default, tp.value, tp.source) == ("8", "1", "env")
    assert (bs.default, bs.value, bs.source) == ("8", "8", "default")
    assert (mbs.value, mbs.source) == ("4", "arg")
    assert sorted(size.compared_with, key=int) == ["8", "70"]
    text = (tree / "rocm/train_llama3.sh").read_text().splitlines()
    assert text[size.defined_at.line - 1].startswith('MODEL_SIZE="${MODEL_SIZE:-70}"')
    # loop variables of the KEY=VALUE parser are the script's own, not knobs
    assert plan.knob("KEY") is None and plan.knob("ARGUMENT") is None


def test_case_patterns_are_knob_variants(tree):
    plan = plan_of(tree, "rocm/train_llama2.sh")
    assert plan.knob("MODEL_SIZE").compared_with == ["7", "7B", "70", "70B"]
    mixtral = plan_of(tree, "rocm/train_mixtral_moe.sh")
    assert mixtral.knob("MODEL_NAME").compared_with == ["mixtral_8x7b", "mixtral_8x22b"]


def test_string_comparisons_are_variants(tree):
    plan = plan_of(tree, "rocm/train_deepseekv2.sh")
    assert plan.knob("MODEL_SIZE").compared_with == ["236B", "16B"]
    assert plan.knob("PR").compared_with == ["fp16", "bf16", "fp8"]


def test_launcher_split(tree):
    plan = plan_of(tree, "rocm/train_llama3.sh", {"NNODES": "2"})
    assert plan.launcher.kind == "torchrun"
    assert plan.launcher.options() == {"nproc_per_node": "8", "nnodes": "2", "node_rank": "0",
                                       "master_addr": "localhost", "master_port": "6000"}
    assert plan.entry == "pretrain_gpt.py"
    assert plan.env["NCCL_SOCKET_IFNAME"].value == "ens51np0"

    ds3 = plan_of(tree, "rocm/train_deepseekv3.sh", {"GPUS": "4"})
    assert ds3.launcher.kind == "torch.distributed.run"
    assert ds3.launcher.options()["nproc_per_node"] == "4"

    slurm = plan_of(tree, "slurm/launch_llama3_slurm.sh", {"SLURM_NNODES": "2"})
    assert [t.value for t in slurm.launcher.wrappers[0]][:2] == ["srun", "--nodes=2"]
    assert slurm.launcher.kind == "torchrun"


def test_gpus_per_node_option_is_the_assumed_device_count(tree):
    plan = plan_of(tree, "rocm/train_llama3.sh", gpus_per_node=4)
    assert plan.launcher.options()["nproc_per_node"] == "4"
    mixtral = plan_of(tree, "rocm/train_mixtral_moe.sh", gpus_per_node=2)
    assert mixtral.launcher.options()["nproc_per_node"] == "2"
    notes = [d.message for d in plan.diagnostics if "GPUs per node" in d.message]
    assert notes and "4" in notes[0]


def test_exported_env_at_launch(tree):
    plan = plan_of(tree, "rocm/train_llama3.sh")
    env = {k: v.value for k, v in plan.env.items()}
    assert env["NCCL_IB_GID_INDEX"] == "3"
    assert env["HSA_NO_SCRATCH_RECLAIM"] == "1"
    assert env["TE_HIPBLASLT_TUNING_RUN_COUNT"] == "10"
    assert "TP" not in env  # knobs handed in from outside are not the script's environment
    assert "NCCL_SOCKET_IFNAME" not in env  # set only for NNODES > 1


def test_json_shape(tree):
    data = plan_of(tree, "nvidia/train_gpt3_distributed.sh", args=["ck", "tb", "v", "m", "d"]).to_json()
    assert {"launcher", "entry", "argv", "env", "knobs"} <= set(data)
    assert data["argv"][:2] == ["--num-layers", "32"]  # the fixture's first array is its model, 32 layers
    assert "--attention-backend" in data["argv"] and "#" not in " ".join(data["argv"])


def test_thresholds_and_toggles_are_listed(tree):
    plan = plan_of(tree, "rocm/train_llama3.sh")
    assert plan.knob("TP").compared_with == ["1"]  # `[ "$TP" -gt 1 ]`
    assert plan.knob("SEQ_LENGTH").compared_with == ["8192"]  # `-le 8192`
    assert plan.knob("TE_FP8").compared_with == ["1"]
    assert plan.knob("OPTIMIZER").compared_with == ["adam"]
