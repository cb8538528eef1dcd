"""Memory estimate, layout shrinking, reproducibility notes."""

from __future__ import annotations

from migrate.parity import layout as layouts
from migrate.parity.layout import Layout
from migrate.parity.memory import bytes_per_param, count_params, estimate
from migrate.parity.repro import nondeterminism_notes, reproducibility

LLAMA3_8B = {
    "hidden_size": 4096, "num_layers": 32, "num_attention_heads": 32, "group_query_attention": True,
    "num_query_groups": 8, "ffn_hidden_size": 14336, "padded_vocab_size": 128256, "swiglu": True,
    "untie_embeddings_and_output_weights": True, "add_bias_linear": False, "position_embedding_type": "rope",
    "bf16": True, "optimizer": "adam",
}


def test_llama3_8b_parameter_count_matches_the_published_size():
    params, assumed = count_params(LLAMA3_8B)
    assert not assumed
    assert abs(params - 8.03e9) / 8.03e9 < 0.002  # Meta publishes Llama 3 8B as 8.03B parameters


def test_bytes_per_param_mixed_precision_adam_and_fp32():
    assert bytes_per_param(LLAMA3_8B) == 2 + 4 + 4 + 8
    assert bytes_per_param({"optimizer": "adam"}) == 4 + 4 + 8
    assert bytes_per_param({"optimizer": "sgd", "bf16": True}) == 2 + 4 + 4 + 4


def test_estimate_counts_data_parallel_copies_and_unknown_vocab():
    one = estimate({**LLAMA3_8B, "padded_vocab_size": None}, replicas=1)
    two = estimate({**LLAMA3_8B, "padded_vocab_size": None}, replicas=2)
    assert one.vocab_assumed and two.bytes == 2 * one.bytes
    assert "assumed" in one.describe()


def test_shrink_caps_tp_and_pp_and_fills_dp():
    cfg = {"tensor_model_parallel_size": 8, "pipeline_model_parallel_size": 4, "num_attention_heads": 32,
           "num_layers": 32, "global_batch_size": 64, "micro_batch_size": 1}
    run, notes = layouts.shrink(cfg, 8)
    assert run == Layout(tp=2, pp=2, dp=2)
    assert notes and "TP=8 PP=4 shrunk to TP=2 PP=2" in notes[0]


def test_shrink_respects_head_and_layer_divisibility():
    cfg = {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 2, "num_attention_heads": 3,
           "num_layers": 3}
    run, _ = layouts.shrink(cfg, 4)
    assert (run.tp, run.pp, run.dp) == (1, 1, 4)


def test_shrink_keeps_batch_split_even():
    cfg = {"tensor_model_parallel_size": 1, "global_batch_size": 6, "micro_batch_size": 2}
    run, notes = layouts.shrink(cfg, 4)
    assert run.dp == 3 and run.world == 3 and any("only 3 of 4" in n for n in notes)


def test_shrink_single_process_is_tp1():
    run, _ = layouts.shrink({"tensor_model_parallel_size": 8, "num_attention_heads": 32}, 1)
    assert run == Layout()


def test_apply_updates_derived_sizes_and_drops_sequence_parallel_at_tp1():
    cfg = {"tensor_model_parallel_size": 8, "sequence_parallel": True, "global_batch_size": 16,
           "micro_batch_size": 2, "num_micro_batches": 1, "virtual_pipeline_model_parallel_size": 2}
    out = layouts.apply(cfg, Layout(tp=1, pp=1, dp=2))
    assert out["sequence_parallel"] is False
    assert out["world_size"] == 2 and out["data_parallel_size"] == 2
    assert out["num_micro_batches"] == 4
    assert out["virtual_pipeline_model_parallel_size"] is None
    assert cfg["tensor_model_parallel_size"] == 8  # input untouched


def test_legacy_layout_from_world_size():
    assert layouts.legacy_layout({"tensor_model_parallel_size": 2, "world_size": 16}) == Layout(tp=2, dp=8)


def test_gemm_tuning_and_tunableop_are_flagged():
    notes = nondeterminism_notes({"deterministic_mode": True},
                                 {"TE_HIPBLASLT_TUNING_RUN_COUNT": "10", "PYTORCH_TUNABLEOP_ENABLED": "1"})
    assert len(notes) == 2
    assert "TE_HIPBLASLT_TUNING_RUN_COUNT=10" in notes[0] and "TunableOp" in notes[1]


def test_tuning_switched_off_is_not_flagged():
    notes = nondeterminism_notes({"deterministic_mode": True},
                                 {"TE_HIPBLASLT_TUNING_RUN_COUNT": "0", "PYTORCH_TUNABLEOP_ENABLED": "0"})
    assert notes == []


def test_flash_attention_without_deterministic_mode_is_flagged():
    notes = nondeterminism_notes({"use_flash_attn": True}, {})
    assert any("flash attention" in n for n in notes) and any("--deterministic-mode" in n for n in notes)
    assert not any("flash" in n for n in nondeterminism_notes({"use_flash_attn": True,
                                                                "deterministic_mode": True}, {}))


def test_nondeterministic_te_algo_env_is_flagged():
    notes = nondeterminism_notes({"deterministic_mode": True}, {"NVTE_ALLOW_NONDETERMINISTIC_ALGO": "1"})
    assert notes and "NVTE_ALLOW_NONDETERMINISTIC_ALGO=1" in notes[0]


def test_reproducibility_keeps_only_relevant_env_and_settings():
    r = reproducibility({"seed": 42, "lr": 1e-4, "deterministic_mode": False},
                        {"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "NCCL_IB_HCA": "rdma0"}, {"device": "cpu"})
    assert r.settings == {"seed": 42, "deterministic_mode": False}
    assert r.env == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    assert r.to_json()["run"] == {"device": "cpu"}


def test_missing_dataset_switches_both_sides_to_synthetic_tokens(tmp_path):
    from migrate.parity.data import choose_data

    cfg = {"mock_data": False, "data_path": ["1.0", str(tmp_path / "corpus_text_document")]}
    legacy, primus, note = choose_data(cfg, dict(cfg))
    assert legacy["mock_data"] and primus["mock_data"] and legacy["data_path"] is None
    assert "corpus_text_document.bin is not on this machine" in note


def test_present_dataset_is_kept(tmp_path):
    from migrate.parity.data import choose_data

    prefix = tmp_path / "corpus"
    (tmp_path / "corpus.bin").write_bytes(b"")
    (tmp_path / "corpus.idx").write_bytes(b"")
    cfg = {"mock_data": False, "data_path": f"0.5 {prefix} 0.5 {prefix}"}
    legacy, _, note = choose_data(cfg, dict(cfg))
    assert legacy == cfg and "script's dataset" in note


def test_mock_data_script_stays_mock():
    from migrate.parity.data import choose_data

    legacy, _, note = choose_data({"mock_data": True}, {"mock_data": True})
    assert legacy == {"mock_data": True} and "--mock-data" in note


def test_legacy_layout_from_the_launcher_world():
    # torchrun --nproc_per_node 8 --nnodes 2 with TP=4: 16 processes / 4 = 4 data-parallel ranks
    world = layouts.launcher_world({"nproc_per_node": "8", "nnodes": "2"})
    assert world == 16
    assert layouts.legacy_layout({"tensor_model_parallel_size": 4, "world_size": 1}, world) == Layout(tp=4, dp=4)
    assert layouts.launcher_world({"nproc_per_node": "$GPUS"}) is None


def test_layout_runs_turn_dropout_off_on_both_sides():
    a, b, note = layouts.without_dropout({"attention_dropout": 0.1, "hidden_dropout": 0.1, "lr": 1.0},
                                         {"attention_dropout": 0.1, "hidden_dropout": 0.0, "lr": 1.0})
    assert a == b == {"attention_dropout": 0.0, "hidden_dropout": 0.0, "lr": 1.0}
    assert "attention_dropout=0.1" in note
    assert layouts.without_dropout({"hidden_dropout": 0.0}, {"hidden_dropout": 0.0})[2] is None


def test_padded_vocab_follows_megatrons_rule():
    # 50257 (GPT-2) padded to a multiple of 128 x TP
    assert layouts.padded_vocab(50257, 128, 1) == 50304
    assert layouts.padded_vocab(50257, 128, 8) == 51200
    assert layouts.padded_vocab(513, 128, 2) == 768


def test_layout_runs_share_one_padded_vocab():
    a, b, note = layouts.pin_padded_vocab({"make_vocab_size_divisible_by": 128}, {}, 513, Layout(tp=2))
    assert a["padded_vocab_size"] == b["padded_vocab_size"] == 768 and "TP=2" in note
    kept = layouts.pin_padded_vocab({"padded_vocab_size": 640}, {}, 513, Layout(tp=2))
    assert kept[0]["padded_vocab_size"] == 640 and kept[2] is None


def test_tp1_layout_needs_no_vocab_pin():
    assert layouts.pin_padded_vocab({}, {}, 513, Layout(pp=2))[2] is None
