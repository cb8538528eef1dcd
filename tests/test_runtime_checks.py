"""Bad input is refused before any process group starts; proxy shrinking keeps the structure."""

from __future__ import annotations

import pytest

from helpers_runtime import llama_namespace, mixtral_namespace
from migrate.diagnostics import MigrateError
from primus_runtime import RunOptions, train
from primus_runtime.launch import prepare
from primus_runtime.namespace import check_layout
from primus_runtime.proxy import shrink


def refused(ns: dict, **options) -> str:
    with pytest.raises(MigrateError) as info:
        train(ns, RunOptions(quiet=True, **options))
    assert info.value.exit_code == 2
    return info.value.message


def test_missing_key_is_named():
    ns = llama_namespace()
    del ns["global_batch_size"]
    assert "'global_batch_size'" in refused(ns)


def test_layout_must_divide_world_size():
    message = refused(llama_namespace(tensor_model_parallel_size=2, pipeline_model_parallel_size=2), nproc=2)
    assert "does not divide the world size 2" in message


def test_heads_must_divide_by_tensor_parallel():
    message = refused(llama_namespace(num_attention_heads=6, num_query_groups=3, kv_channels=8,
                                      tensor_model_parallel_size=2), nproc=2)
    assert "num_attention_heads=6" in message or "num_query_groups=3" in message


def test_query_groups_must_divide_by_tensor_parallel():
    message = refused(llama_namespace(num_query_groups=1, tensor_model_parallel_size=2), nproc=2)
    assert "num_query_groups=1 is not divisible by tensor_model_parallel_size=2" in message


def test_global_batch_must_divide_by_micro_times_data_parallel():
    message = refused(llama_namespace(micro_batch_size=3, global_batch_size=8), nproc=1)
    assert "global_batch_size=8 is not divisible by micro_batch_size=3 x data-parallel size=1" in message
    message = refused(llama_namespace(micro_batch_size=2, global_batch_size=6), nproc=2)
    assert "data-parallel size=2" in message


def test_experts_must_divide_by_expert_parallel():
    message = refused(mixtral_namespace(num_experts=3, moe_router_topk=2, expert_model_parallel_size=2), nproc=2)
    assert "num_experts=3 is not divisible by expert_model_parallel_size=2" in message


def test_data_path_required_without_mock_data():
    message = refused(llama_namespace(mock_data=False, data_path=None))
    assert "data_path is not set and mock_data is off" in message


def test_missing_indexed_files_are_named(tmp_path):
    prefix = str(tmp_path / "corpus_text_document")
    message = refused(llama_namespace(mock_data=False, data_path=[prefix]))
    assert f"{prefix}.bin" in message


def test_unsupported_optimizer_is_refused():
    assert "optimizer 'muon' is not supported" in refused(llama_namespace(optimizer="muon"))


# ---------------------------------------------------------------- proxy mode


def llama70b() -> dict:
    """Llama-3-70B's shape (Meta's published config: 80 layers, 8192 hidden, 64 heads / 8 KV heads)."""
    return llama_namespace(num_layers=80, hidden_size=8192, ffn_hidden_size=28672, num_attention_heads=64,
                           num_query_groups=8, kv_channels=128, seq_length=8192, max_position_embeddings=8192,
                           micro_batch_size=1, global_batch_size=128, train_iters=1000, lr_warmup_iters=100,
                           vocab_size=None, tokenizer_model="meta-llama/Llama-3.1-70B")


def test_proxy_keeps_gqa_ratio_and_gated_mlp():
    ns, shrinks = shrink(llama70b(), world_size=1)
    assert ns["num_attention_heads"] // ns["num_query_groups"] == 64 // 8
    assert ns["swiglu"] is True and ns["normalization"] == "RMSNorm"
    assert ns["num_layers"] == 2 and ns["hidden_size"] <= 256 and ns["seq_length"] <= 64
    assert ns["hidden_size"] == ns["num_attention_heads"] * ns["kv_channels"]
    assert any(line.startswith("num_layers: 80 -> 2") for line in shrinks)
    assert any(line.startswith("hidden_size: 8192 -> ") for line in shrinks)


def test_proxy_keeps_moe_topk_and_dense_first_layers():
    ns = mixtral_namespace(num_experts=256, moe_router_topk=8, moe_router_num_groups=8, moe_router_group_topk=4,
                           moe_layer_freq=[0, 0, 0] + [1] * 58, num_layers=61, multi_latent_attention=True,
                           q_lora_rank=1536, kv_lora_rank=512, qk_head_dim=128, qk_pos_emb_head_dim=64, v_head_dim=128)
    small, shrinks = shrink(ns, world_size=1)
    assert small["moe_router_topk"] == 8
    assert small["num_experts"] >= 8 and small["num_experts"] % 8 == 0
    assert small["moe_layer_freq"] == [0, 1]
    assert small["kv_lora_rank"] < 512 and small["multi_latent_attention"] is True
    assert any(line.startswith("num_experts: 256 -> ") for line in shrinks)


def test_proxy_shape_does_not_depend_on_layout():
    one, _ = shrink(llama70b(), world_size=1)
    two, _ = shrink(llama_namespace(**{**llama70b(), "tensor_model_parallel_size": 2}), world_size=2)
    keys = ("num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads", "num_query_groups",
            "seq_length", "padded_vocab_size", "global_batch_size", "micro_batch_size")
    assert {k: one[k] for k in keys} == {k: two[k] for k in keys}


def test_proxy_shortens_schedule_with_iters():
    ns, shrinks, _ = prepare(llama70b(), RunOptions(proxy=True, iters=20))
    assert ns["train_iters"] == 20
    assert ns["lr_warmup_iters"] == 2  # 100 of 1000 -> 2 of 20
    assert "lr_warmup_iters: 100 -> 2" in shrinks


def test_iters_without_proxy_keeps_the_configured_schedule():
    ns, shrinks, notes = prepare(llama70b(), RunOptions(iters=5))
    assert ns["train_iters"] == 5 and ns["lr_decay_iters"] == 1000 and ns["lr_warmup_iters"] == 100
    assert shrinks == [] and any("train_iters 1000 -> 5" in n for n in notes)


def test_vocabulary_from_tokenizer_table_without_download():
    ns, _, notes = prepare(llama70b(), RunOptions())
    assert ns["padded_vocab_size"] == 128256  # a multiple of 128 already
    assert any("128256" in n for n in notes)


def test_proxy_schedule_keeps_warmup_shorter_than_decay():
    ns, _, _ = prepare(llama70b(), RunOptions(proxy=True, iters=2))  # 100/1000 warmup of 2 iterations
    assert ns["lr_warmup_iters"] < (ns["lr_decay_iters"] or ns["train_iters"])


def test_moe_layer_freq_string_reads_as_megatrons_parser_does():
    from primus_runtime.namespace import layer_pattern

    assert layer_pattern("([0]*3+[1]*5)") == [0, 0, 0, 1, 1, 1, 1, 1]
    assert layer_pattern("([1]*3+[0]*1)*2") == [1, 1, 1, 0, 1, 1, 1, 0]
    assert layer_pattern("2") == 2 and layer_pattern(1) == 1
    with pytest.raises(MigrateError):
        layer_pattern("[__import__('os')]")


def test_proxy_fits_a_large_layout_into_the_processes_at_hand():
    ns = mixtral_namespace(tensor_model_parallel_size=8, pipeline_model_parallel_size=4,
                           expert_model_parallel_size=8, num_experts=64, sequence_parallel=True)
    small, shrinks = shrink(ns, world_size=2)
    assert (small["tensor_model_parallel_size"], small["pipeline_model_parallel_size"]) == (2, 1)
    assert small["expert_model_parallel_size"] == 1  # 2 ranks = expert TP 2 (follows TP) x EP 1
    assert "pipeline_model_parallel_size: 4 -> 1" in shrinks
    check_layout(small, 2)  # Megatron's constraints hold for the fitted layout


@pytest.mark.parametrize("key, flag", [("seq_length", "--seq-length"), ("num_layers", "--num-layers"), ("lr", "--lr")])
def test_unset_model_shape_is_named_not_a_type_error(key, flag):
    # a script that never passes --seq-length leaves Megatron's parser default: None
    message = refused(llama_namespace(**{key: None}), proxy=True)
    assert message.startswith(f"{key} is not set") and flag in message
