"""The bundled schema tables agree with Megatron-LM's source for the flags the ROCm scripts use.

Every expectation below was read in the Megatron-LM sources at the pinned commit
(`megatron/training/arguments.py`, and at d3528a21 also the config dataclasses
that `ArgumentGroupFactory` turns into options), not taken from our output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from migrate.megatron import bundled_schema_names, load_schema

ALL = ["rocm_dev", "5a676b36", "84778176", "3bec9aa9", "d3528a21"]

# (option, dest, action, default) true at every bundled version
COMMON_FACTS = [
    ("--no-masked-softmax-fusion", "masked_softmax_fusion", "store_false", True),
    ("--disable-bias-linear", "add_bias_linear", "store_false", True),
    ("--no-position-embedding", "add_position_embedding", "store_false", True),
    ("--eval-iters", "eval_iters", "store", 100),
    ("--lr-warmup-iters", "lr_warmup_iters", "store", 0),
    ("--weight-decay", "weight_decay", "store", 0.01),
    ("--rotary-base", "rotary_base", "store", 10000),
    ("--attention-softmax-in-fp32", "attention_softmax_in_fp32", "store_true", False),
    ("--swiglu", "swiglu", "store_true", False),
    ("--group-query-attention", "group_query_attention", "store_true", False),
    ("--num-query-groups", "num_query_groups", "store", 1),
    ("--sequence-parallel", "sequence_parallel", "store_true", False),
    ("--use-distributed-optimizer", "use_distributed_optimizer", "store_true", False),
    ("--bf16", "bf16", "store_true", False),
    ("--no-gradient-accumulation-fusion", "gradient_accumulation_fusion", "store_false", True),
    ("--make-vocab-size-divisible-by", "make_vocab_size_divisible_by", "store", 128),
    ("--untie-embeddings-and-output-weights", "untie_embeddings_and_output_weights", "store_true", False),
    ("--init-method-std", "init_method_std", "store", 0.02),
    ("--clip-grad", "clip_grad", "store", 1.0),
    ("--adam-beta2", "adam_beta2", "store", 0.999),
    ("--log-interval", "log_interval", "store", 100),
    ("--hidden-dropout", "hidden_dropout", "store", 0.1),
    ("--attention-dropout", "attention_dropout", "store", 0.1),
    ("--normalization", "normalization", "store", "LayerNorm"),
    ("--lr-decay-style", "lr_decay_style", "store", "linear"),
    ("--fp8-margin", "fp8_margin", "store", 0),
    ("--no-rope-fusion", "apply_rope_fusion", "store_false", True),
    ("--use-mcore-models", "deprecated_use_mcore_models", "store_true", False),
    ("--micro-batch-size", "micro_batch_size", "store", None),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("option,dest,action,default", COMMON_FACTS)
def test_common_flag_facts(name, option, dest, action, default):
    spec = load_schema(name).by_option[option]
    assert (spec.dest, spec.action, spec.default) == (dest, action, default)
    assert type(spec.default) is type(default)


@pytest.mark.parametrize("name", ALL)
def test_fp8_format_choices(name):
    spec = load_schema(name).by_option["--fp8-format"]
    assert spec.dest == "fp8" and spec.choices == ("e4m3", "hybrid") and spec.default is None


def test_norm_epsilon_dest_moved_to_layernorm_epsilon_at_d3528a21():
    assert load_schema("rocm_dev").by_option["--norm-epsilon"].dest == "norm_epsilon"
    assert load_schema("5a676b36").by_option["--norm-epsilon"].dest == "norm_epsilon"
    spec = load_schema("d3528a21").by_option["--norm-epsilon"]
    assert (spec.dest, spec.type, spec.default) == ("layernorm_epsilon", "float", 1e-5)


def test_async_allreduce_flag_removed_at_d3528a21():
    for name in ("rocm_dev", "5a676b36"):
        spec = load_schema(name).by_option["--no-async-tensor-model-parallel-allreduce"]
        assert spec.dest == "async_tensor_model_parallel_allreduce" and spec.action == "store_false"
    assert "--no-async-tensor-model-parallel-allreduce" not in load_schema("d3528a21").by_option


def test_pin_84778176_facts():
    """megatron/training/arguments.py@84778176: --norm-epsilon (l.1598) still stores to norm_epsilon;
    --rerun-mode defaults to 'validate_results' (l.2238); --eval-interval to 1000 (l.2707);
    --moe-aux-loss-coeff takes nargs='+' (l.3076); no --encoder-pipeline-model-parallel-size."""
    schema = load_schema("84778176")
    assert schema.by_option["--norm-epsilon"].dest == "norm_epsilon"
    assert schema.by_option["--rerun-mode"].default == "validate_results"
    assert schema.by_option["--eval-interval"].default == 1000
    assert schema.by_option["--moe-aux-loss-coeff"].nargs == "+"
    assert "--encoder-pipeline-model-parallel-size" not in schema.by_option
    assert "--encoder-pipeline-model-parallel-size" in load_schema("5a676b36").by_option


def test_pin_3bec9aa9_facts():
    """At 3bec9aa9 (core_r0.16.0) options come from config dataclasses: TransformerConfig.layernorm_epsilon
    (transformer_config.py:150, arg_names ['--norm-epsilon'], default 1e-5), TrainingConfig.eval_interval
    (training_config.py:98, default None), ResilienceConfig.rerun_mode (resilience_config.py:16,
    'validate_results'), ModelParallelConfig.async_tensor_model_parallel_allreduce (model_parallel_config.py:176,
    still there; gone at d3528a21)."""
    schema = load_schema("3bec9aa9")
    spec = schema.by_option["--norm-epsilon"]
    assert (spec.dest, spec.default) == ("layernorm_epsilon", 1e-5)
    assert schema.by_option["--eval-interval"].default is None
    assert schema.by_option["--rerun-mode"].default == "validate_results"
    assert "async_tensor_model_parallel_allreduce" in schema.by_dest
    assert "async_tensor_model_parallel_allreduce" not in load_schema("d3528a21").by_dest


def test_eval_interval_default_changed_at_d3528a21():
    assert load_schema("rocm_dev").by_option["--eval-interval"].default == 1000
    assert load_schema("d3528a21").by_option["--eval-interval"].default is None


def test_rocm_fork_allows_position_embedding_none():
    assert "none" in load_schema("rocm_dev").by_option["--position-embedding-type"].choices


def test_sources_record_the_pinned_commits():
    assert load_schema("5a676b36").source.startswith("NVIDIA/Megatron-LM@5a676b36")
    for pin in ("84778176", "3bec9aa9", "d3528a21"):
        assert load_schema(pin).source.startswith(f"NVIDIA/Megatron-LM@{pin}")
    assert load_schema("rocm_dev").source.startswith("ROCm/Megatron-LM@") and "rocm_dev" in load_schema("rocm_dev").source


def test_bundled_names():
    assert set(ALL) <= set(bundled_schema_names())


@pytest.mark.parametrize("name", ALL)
def test_option_strings_are_unique_per_schema(name):
    seen: set[str] = set()
    for spec in load_schema(name).options:
        for opt in spec.option_strings:
            assert opt not in seen, opt
            seen.add(opt)


@pytest.mark.slow
@pytest.mark.skipif(
    not (os.environ.get("MEGATRON_NVIDIA_GIT") and os.environ.get("MEGATRON_ROCM_GIT")),
    reason="set MEGATRON_NVIDIA_GIT and MEGATRON_ROCM_GIT to Megatron-LM git dirs to check the bundled tables",
)
def test_bundled_schemas_regenerate_identically(tmp_path):
    from migrate.megatron.bundle import regenerate
    from migrate.megatron.schema import SCHEMA_DIR

    repos = {"nvidia": Path(os.environ["MEGATRON_NVIDIA_GIT"]), "rocm": Path(os.environ["MEGATRON_ROCM_GIT"])}
    for path in regenerate(repos, out_dir=tmp_path):
        assert path.read_text() == (SCHEMA_DIR / path.name).read_text(), path.name


def test_schema_json_round_trips():
    from migrate.megatron.bundle import schema_to_text
    from migrate.megatron.schema import SCHEMA_DIR, Schema

    for name in ALL:
        text = (SCHEMA_DIR / f"{name}.json").read_text()
        assert schema_to_text(Schema.from_json(json.loads(text)).to_json()) == text
