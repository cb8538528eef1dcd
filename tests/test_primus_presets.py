"""The bundled preset snapshots, checked against values read from the upstream release files.

Every expected value below was read from the Primus sources at the named tag
(file@tag), not from our loader's output.
"""

import re

import pytest

from helpers_primus import FIXTURES, snapshot_profile
from migrate.primus import get_profile, resolve_experiment
from migrate.primus.presets import presets_root


REQUIRED = ["llama_base", "llama2_base", "llama2_7B", "llama2_70B", "llama3_base", "llama3_8B", "llama3_70B",
            "llama3.1_8B", "llama3.1_70B", "llama3.3_70B", "llama3.1_405B", "mixtral_base", "mixtral_8x7B_v0.1",
            "mixtral_8x22B_v0.1", "deepseek_v2_base", "deepseek_v2_lite", "deepseek_v2", "deepseek_v3_base",
            "deepseek_v3", "qwen2.5_base", "qwen2.5_7B", "qwen2.5_72B", "language_model", "primus_megatron_model"]
TARGETS = ["primus-0.1", "primus-26.5"]


@pytest.mark.parametrize("target", TARGETS)
def test_required_model_presets_present(target):
    assert set(REQUIRED) <= set(get_profile(target).model_presets())


@pytest.mark.parametrize("target", TARGETS)
def test_every_model_preset_loads(target):
    profile = get_profile(target)
    for name in profile.model_presets():
        if target == "primus-26.5" and name.startswith(("mamba", "zebra", "minimax")):
            continue  # these still say `bases:`, plain data at 26.5
        assert profile.load_model_preset(name), name


@pytest.mark.parametrize("target", sorted(p.parent.name for p in presets_root().glob("*/target.json")))
def test_snapshot_files_carry_no_upstream_text(target):
    """Values only (migrate/primus/values_yaml.py writes them): not one comment; where a file came
    from is said once, in the target's target.json."""
    for path in (presets_root() / target).rglob("*.yaml"):
        lines = path.read_text().splitlines()
        assert not any(re.match(r"\s*#", line) for line in lines), path
        assert not any(" #" in line for line in lines), path


def test_inheritance_structure_kept():
    # llama3_8B.yaml@both tags: bases/extends [llama3_base.yaml]; language_model.yaml: includes/extends
    # [primus_megatron_model.yaml]; pre_trainer.yaml -> trainer_base.yaml
    v01 = (presets_root() / "primus-0.1" / "models/megatron/llama3_8B.yaml").read_text()
    v26 = (presets_root() / "primus-26.5" / "models/megatron/llama3_8B.yaml").read_text()
    assert "bases:\n  - llama3_base.yaml" in v01 and "extends:\n  - llama3_base.yaml" in v26
    assert "includes:\n  - primus_megatron_model.yaml" in (
        presets_root() / "primus-0.1" / "models/megatron/language_model.yaml").read_text()


# Values read from primus/configs/... at v0.1.0-rc1 and v26.5.1 (identical at both tags):
#   modules/megatron/pre_trainer.yaml: lr_warmup_iters 40, weight_decay 0.0, eval_iters 0, finetune true,
#     use_distributed_optimizer true, lr 2.0e-05
#   modules/megatron/trainer_base.yaml: exit_on_missing_checkpoint true
#   models/megatron/llama3_base.yaml: rotary_base 500000, norm_epsilon 1.0e-05
#   models/megatron/llama_base.yaml: attention_softmax_in_fp32 true
#   models/megatron/language_model.yaml: sequence_parallel true
#   models/megatron/llama3_8B.yaml: num_layers 32, hidden_size 4096, ffn_hidden_size 14336, num_query_groups 8
UPSTREAM_LLAMA3_8B = {
    "lr_warmup_iters": 40, "weight_decay": 0.0, "eval_iters": 0, "finetune": True,
    "use_distributed_optimizer": True, "exit_on_missing_checkpoint": True, "rotary_base": 500000,
    "attention_softmax_in_fp32": True, "num_layers": 32, "hidden_size": 4096,
}
# megatron/training/arguments.py@5a676b36 argparse defaults of the same dests
MEGATRON_DEFAULTS = {
    "lr_warmup_iters": 0, "weight_decay": 0.01, "eval_iters": 100, "finetune": False,
    "use_distributed_optimizer": False, "exit_on_missing_checkpoint": False, "rotary_base": 10000,
    "attention_softmax_in_fp32": False,
}


@pytest.mark.parametrize("target", TARGETS)
def test_llama3_8B_fixture_resolves_to_documented_preset_differences(target):
    resolved = resolve_experiment(FIXTURES / "primus" / target / "llama3_8B-pretrain.yaml",
                                  snapshot_profile(target), env={})
    for key, value in UPSTREAM_LLAMA3_8B.items():
        assert resolved.values[key] == value and type(resolved.values[key]) is type(value), key
    for key, megatron_default in MEGATRON_DEFAULTS.items():
        assert resolved.values[key] != megatron_default, key
    # overrides from the fixture itself
    assert resolved.values["micro_batch_size"] == 2 and resolved.values["train_iters"] == 50
    assert resolved.values["lr"] == 3.0e-04
    # language_model.yaml says sequence_parallel: true, but the trainer turns it off at TP=1
    # (trainer.py@v0.1.0-rc1 update_primus_config; sequence_parallel_tp1_patches.py@v26.5.1)
    assert get_profile(target).load_model_preset("llama3_8B")["sequence_parallel"] is True
    assert resolved.values["tensor_model_parallel_size"] == 1 and resolved.values["sequence_parallel"] is True
    assert resolved.trainer_rewrites["sequence_parallel"] == (True, False, "no_sequence_parallel_at_tp1")
    after = resolve_experiment(FIXTURES / "primus" / target / "llama3_8B-pretrain.yaml",
                               snapshot_profile(target), env={}, trainer_rewrites=True)
    assert after.values["sequence_parallel"] is False
    assert "no_sequence_parallel_at_tp1" in str(after.origins["sequence_parallel"])
    assert after.values == resolved.with_trainer_rewrites()


def test_llama3_8B_epsilon_at_each_target():
    v01 = resolve_experiment(FIXTURES / "primus/primus-0.1/llama3_8B-pretrain.yaml", snapshot_profile("primus-0.1"), env={})
    v26 = resolve_experiment(FIXTURES / "primus/primus-26.5/llama3_8B-pretrain.yaml", snapshot_profile("primus-26.5"), env={})
    assert v01.values["norm_epsilon"] == 1.0e-05
    assert "norm_epsilon" in v26.primus_only and "norm_epsilon" not in v26.values


def test_preset_origins_name_snapshot_file_and_line():
    preset = get_profile("primus-26.5").load_model_preset("llama3_8B")
    origin = preset.origins["rotary_base"]
    assert origin.file.endswith("primus-26.5/models/megatron/llama3_base.yaml")
    lines = (presets_root() / "primus-26.5/models/megatron/llama3_base.yaml").read_text().splitlines()
    assert lines[origin.line - 1] == "rotary_base: 500000"


def test_trainer_base_lr_written_with_exponent_is_a_float_but_1e_style_would_not_be():
    # trainer_base.yaml@v26.5.1 writes `lr: 2.5e-4` (dot + signed exponent: a YAML 1.1 float)
    base = get_profile("primus-26.5").load_module_preset("trainer_base.yaml")
    assert base["lr"] == 2.5e-4


def test_mock_data_forces_null_tokenizer_only_at_26_5():
    # mock_data_patches.py@v26.5.1: NullTokenizer, vocab_size 131072 when unset; v0.1 clears data paths only
    v01 = resolve_experiment(FIXTURES / "primus/primus-0.1/llama3_8B-pretrain.yaml", snapshot_profile("primus-0.1"),
                             env={}, trainer_rewrites=True)
    v26 = resolve_experiment(FIXTURES / "primus/primus-26.5/llama3_8B-pretrain.yaml", snapshot_profile("primus-26.5"),
                             env={}, trainer_rewrites=True)
    assert v26.values["tokenizer_type"] == "NullTokenizer" and v26.values["vocab_size"] == 131072
    assert v01.values["tokenizer_type"] == "Llama3Tokenizer"  # llama3_8B.yaml@v0.1.0-rc1
    assert v01.values["vocab_size"] is None  # language_model.yaml@v0.1.0-rc1: vocab_size: null
