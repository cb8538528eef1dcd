"""YAML text: floats and strings read back by PyYAML's SafeLoader (how Primus reads) as written."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, strategies as st

from migrate.primus.emit.files import experiment_yaml, model_yaml
from migrate.primus.emit.groups import section_of
from migrate.primus.emit.overrides import Override
from migrate.primus.emit.yamltext import Entry, Group, format_float, render_entries, render_value


def _run(target):
    """The target release's run script facts (what run.sh calls, what it reads and forces)."""
    from migrate.primus import get_profile

    return get_profile(target).rules.run


def _read(text: str):
    return yaml.load(text, Loader=yaml.SafeLoader)


@pytest.mark.parametrize("value,text", [
    (1e-5, "1.0e-05"), (3e-4, "0.0003"), (1.0, "1.0"), (0.5, "0.5"), (1e20, "1.0e+20"),
    (-2.5e-7, "-2.5e-07"), (500000.0, "500000.0"), (1.5e-06, "1.5e-06"),
])
def test_floats_use_a_yaml11_float_spelling(value, text):
    assert format_float(value) == text
    loaded = _read(f"x: {text}")["x"]
    assert isinstance(loaded, float) and loaded == value


def test_pyyaml_reads_1e_minus_5_as_a_string_which_is_why_we_reformat():
    # the upstream fact the formatting exists for
    assert _read("x: 1e-5")["x"] == "1e-5"
    assert _read(f"x: {render_value(1e-5)}")["x"] == 1e-5


def test_special_floats():
    assert math.isinf(_read(f"x: {render_value(float('inf'))}")["x"])
    assert math.isnan(_read(f"x: {render_value(float('nan'))}")["x"])


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_round_trips_through_safeloader(value):
    loaded = _read(f"x: {render_value(value)}")["x"]
    assert isinstance(loaded, float) and loaded == value


@pytest.mark.parametrize("value", [
    "on", "yes", "no", "off", "null", "~", "true", "1e-5", "8", "0x10", "2025-01-01", "", "a: b", "#x",
    "meta-llama/Llama-3.1-8B", "RMSNorm", "${TP:8}", "with space", "trailing ", "1_000",
])
def test_strings_read_back_as_the_same_string(value):
    assert _read(f"x: {render_value(value)}")["x"] == value


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
def test_any_string_reads_back(value):
    assert _read(f"x: {render_value(value)}")["x"] == value


@pytest.mark.parametrize("value", [None, True, False, 0, -3, [1, 2], ["a", 1e-5], {"a": 1e-5, "b": "on"}, (1, 2)])
def test_other_values(value):
    expected = list(value) if isinstance(value, tuple) else value
    assert _read(f"x: {render_value(value)}")["x"] == expected


def test_entries_render_groups_with_blank_lines_and_comments():
    lines = render_entries([Group("parallelism", [Entry("tensor_model_parallel_size", 8, "train.sh:74")]),
                            Group("precision", [Entry("bf16", True, None)])], indent=2)
    assert lines[0] == "  # parallelism"
    assert lines[1].startswith("  tensor_model_parallel_size: 8") and lines[1].endswith("# train.sh:74")
    assert lines[2] == ""
    assert lines[3] == "  # precision"
    assert _read("\n".join(lines)) == {"tensor_model_parallel_size": 8, "bf16": True}


def test_experiment_yaml_has_primus_shape_and_reads_back():
    overrides = [
        Override("lr", 3e-4, "train.sh:80"),
        Override("tensor_model_parallel_size", 8, "train.sh:74", raw="${TP:8}", knob="TP"),
        Override("lr_warmup_iters", 0, "Megatron default"),
        Override("num_layers", 16, "train.sh:100"),
        Override("tokenizer_model", "meta-llama/Llama-3.1-8B", "train.sh:90"),
    ]
    text = experiment_yaml("my_exp", "llama3_8B.yaml", overrides, header="converted\nby us")
    data = _read(text)
    assert data["exp_name"] == "${PRIMUS_EXP_NAME:my_exp}"
    module = data["modules"]["pre_trainer"]
    assert module["framework"] == "megatron" and module["config"] == "pre_trainer.yaml"
    assert module["model"] == "llama3_8B.yaml"
    assert module["overrides"] == {"lr": 3e-4, "tensor_model_parallel_size": "${TP:8}", "lr_warmup_iters": 0,
                                   "num_layers": 16, "tokenizer_model": "meta-llama/Llama-3.1-8B"}
    assert text.startswith("# converted\n# by us\n")
    assert "      # parallelism\n      tensor_model_parallel_size: ${TP:8}" in text
    assert "# Megatron default" in text
    # sections in the fixed order
    assert text.index("# model architecture") < text.index("# parallelism") < text.index("# optimizer")


def test_experiment_without_overrides_is_valid():
    data = _read(experiment_yaml("e", "llama3_8B.yaml", []))
    assert data["modules"]["pre_trainer"]["overrides"] == {}


def test_model_yaml_inherits_and_reads_back():
    text = model_yaml("bases", "llama3_8B", {"num_layers": 16, "norm_epsilon": 1e-6, "tokenizer_model": "x/y"},
                      {"num_layers": "train.sh:3", "norm_epsilon": "Megatron default", "tokenizer_model": "t.sh:1"},
                      header="mine")
    data = _read(text)
    assert data == {"bases": ["llama3_8B.yaml"], "num_layers": 16, "norm_epsilon": 1e-6, "tokenizer_model": "x/y"}
    assert "norm_epsilon: 1.0e-06" in text


@pytest.mark.parametrize("key,section", [
    ("tensor_model_parallel_size", "parallelism"), ("sequence_parallel", "parallelism"),
    ("micro_batch_size", "batch and sequence"), ("lr_warmup_iters", "optimizer and learning-rate schedule"),
    ("adam_beta2", "optimizer and learning-rate schedule"), ("bf16", "precision"), ("fp8_format", "precision"),
    ("recompute_granularity", "recompute and memory"), ("save_interval", "checkpointing"),
    ("exit_on_missing_checkpoint", "checkpointing"), ("tokenizer_type", "data and tokenizer"),
    ("eval_iters", "evaluation"), ("log_interval", "logging and profiling"), ("profile", "logging and profiling"),
    ("no_such_key_anywhere", "other"), ("num_experts", "model architecture"),
])
def test_sections(key, section):
    assert section_of(key) == section


def test_environment_placement_and_secrets():
    from types import SimpleNamespace

    from migrate.primus.emit.runenv import SECRET_SHOWN, plan_environment
    from migrate.primus.emit.runscript import env_sh

    def var(value):
        return SimpleNamespace(value=value, origin="t.sh:3")

    env = {"NCCL_IB_HCA": var("mlx5_0"), "NCCL_CROSS_NIC": var("1"), "NCCL_PROTO": var("Simple"),
           "HF_TOKEN": var("hf_secret"), "TE_HIPBLASLT_TUNING_RUN_COUNT": var("10")}
    for target in ("primus-0.1", "primus-26.5"):
        out = plan_environment(_run(target), env, {"nproc_per_node": "4", "master_port": "$PORT"}, {})
        assert out.run_vars["NCCL_IB_HCA"] == "mlx5_0" and out.run_vars["GPUS_PER_NODE"] == "4"
        assert "MASTER_PORT" not in out.run_vars  # not a literal
        assert out.env_file["NCCL_PROTO"] == "Simple"
        assert "HF_TOKEN" not in out.env_file and out.secrets == ["HF_TOKEN"]
        placements = {p.name: p for p in out.placements}
        assert placements["HF_TOKEN"].value == SECRET_SHOWN
        assert "hf_secret" not in env_sh(out.env_file, "t.sh", out.secrets)
        assert out.guidance and "PRIMUS_HIPBLASLT_TUNING_STAGE" in out.guidance[0]
    # primus-0.1's run script forces NCCL_CROSS_NIC=0: reported, not silently dropped
    placements = {p.name: p for p in plan_environment(_run("primus-0.1"), env, {}, {}).placements}
    assert placements["NCCL_CROSS_NIC"].destination == "forced by run script"
    assert "no Primus equivalent" in placements["NCCL_CROSS_NIC"].note
    # primus-26.5 zeroes TE tuning unless PRIMUS_HIPBLASLT_TUNING=1
    assert plan_environment(_run("primus-26.5"), env, {}, {}).run_vars["PRIMUS_HIPBLASLT_TUNING"] == "1"


def test_env_sh_is_valid_bash(tmp_path):
    import subprocess

    from migrate.primus.emit.runscript import env_sh, run_sh

    path = tmp_path / "env.sh"
    path.write_text(env_sh({"A": "x y", "B": "$HOME'q"}, "t.sh", ["HF_TOKEN"]))
    sandbox = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}  # bash writes nowhere else
    proc = subprocess.run(["bash", "-c", f'export HF_TOKEN=t; source {path} && printf "%s|%s|%s" "$A" "$B" "$HF_TOKEN"'],
                          capture_output=True, text=True, env=sandbox, cwd=tmp_path)
    assert proc.stdout == "x y|$HOME'q|t", proc.stderr
    proc = subprocess.run(["bash", "-c", f"source {path}"], capture_output=True, text=True, env=sandbox, cwd=tmp_path)
    assert proc.returncode != 0 and "HF_TOKEN must be set" in proc.stderr
    run = run_sh("primus-26.5", "v26.5.1", _run("primus-26.5"), "t.sh", "e-pretrain.yaml", "models/megatron/e.yaml", {"NNODES": "2"}, True)
    assert subprocess.run(["bash", "-n"], input=run, text=True).returncode == 0
    assert '[ -n "${NNODES:-}" ] || NNODES=2; export NNODES' in run and "cp " in run


def test_launcher_options_are_all_accounted_for():
    from migrate.primus.emit.runenv import plan_environment

    out = plan_environment(_run("primus-26.5"), {}, {"nproc_per_node": "8", "rdzv_endpoint": "node0:29500",
                                               "rdzv_backend": "c10d", "nnodes": "$N"}, {}, [["srun", "-N2"]])
    assert out.run_vars == {"GPUS_PER_NODE": "8", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
    by_name = {p.name: p for p in out.placements}
    assert by_name["--rdzv_backend"].destination == "no Primus equivalent"
    assert by_name["NNODES"].destination == "not set"
    assert any("srun -N2" in g for g in out.guidance)
