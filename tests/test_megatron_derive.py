"""One test per validate_args derivation rule; expected values worked out from Megatron's formulas by hand."""

from __future__ import annotations

import shlex

import pytest

from migrate.megatron import load_schema, parse_argv
from migrate.megatron.derive import RULES, derive, era_of

BASE = "--num-layers 32 --hidden-size 4096 --num-attention-heads 32 --seq-length 4096 --max-position-embeddings 4096 --micro-batch-size 1"


def d(extra: str = "", schema: str = "rocm_dev", world: int | None = 8, base: str = BASE) -> dict:
    parsed = parse_argv(load_schema(schema), shlex.split(base + " " + extra))
    return derive(parsed.args, schema, world_size=world)


def test_every_rule_has_a_docstring_and_a_test():
    names = {rule.__name__ for rule in RULES}
    assert all(rule.__doc__ for rule in RULES)
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert names <= tested, sorted(names - tested)


def test_derive_returns_a_new_dict():
    args = parse_argv(load_schema("rocm_dev"), shlex.split(BASE)).args
    before = dict(args)
    out = derive(args, "rocm_dev")
    assert args == before and out is not args


def test_world_size_and_rank():
    assert d(world=16)["world_size"] == 16 and d()["rank"] == 0
    parsed = parse_argv(load_schema("rocm_dev"), shlex.split(BASE)).args
    assert derive({**parsed, "world_size": 4}, "rocm_dev")["data_parallel_size"] == 4
    # no world size anywhere: the smallest world the layout fits, TP*PP*CP (one replica)
    assert derive(parsed, "rocm_dev")["world_size"] == 1
    parsed = parse_argv(load_schema("rocm_dev"), shlex.split(BASE + " --tensor-model-parallel-size 2 "
                                                               "--pipeline-model-parallel-size 2 --context-parallel-size 2")).args
    out = derive(parsed, "rocm_dev")
    assert out["world_size"] == 8 and out["data_parallel_size"] == 1 and out["global_batch_size"] == 1


def test_use_dist_ckpt_from_format():
    assert d()["use_dist_ckpt"] is True  # default torch_dist
    assert d("--ckpt-format torch")["use_dist_ckpt"] is False


def test_encoder_tp_follows_decoder_tp():
    out = d("--tensor-model-parallel-size 2 --encoder-pipeline-model-parallel-size 1", world=8)
    assert out["encoder_tensor_model_parallel_size"] == 2
    assert d("--tensor-model-parallel-size 2")["encoder_tensor_model_parallel_size"] == 0


def test_clamp_parallel_sizes_to_world():
    out = d("--tensor-model-parallel-size 8 --pipeline-model-parallel-size 4", world=4)
    assert out["tensor_model_parallel_size"] == 4 and out["pipeline_model_parallel_size"] == 1
    out = d("--tensor-model-parallel-size 8", schema="d3528a21", world=4)
    assert out["tensor_model_parallel_size"] == 8  # only the ROCm fork clamps


def test_transformer_pipeline_size():
    assert d("--pipeline-model-parallel-size 4")["transformer_pipeline_model_parallel_size"] == 4
    assert d("--pipeline-model-parallel-size 4 --standalone-embedding-stage")["transformer_pipeline_model_parallel_size"] == 3


@pytest.mark.parametrize("schema", ["rocm_dev", "5a676b36", "d3528a21"])
def test_data_parallel_size(schema):
    assert d("--tensor-model-parallel-size 2 --pipeline-model-parallel-size 2", schema, world=16)["data_parallel_size"] == 4
    assert d("--context-parallel-size 2", schema, world=8)["data_parallel_size"] == 4
    assert d("", schema, world=8)["data_parallel_size"] == 8


@pytest.mark.parametrize("schema", ["rocm_dev", "5a676b36"])
def test_split_rank_becomes_encoder_pipeline(schema):
    out = d("--pipeline-model-parallel-size 4 --pipeline-model-parallel-split-rank 1", schema, world=8)
    assert out["encoder_pipeline_model_parallel_size"] == 1 and out["pipeline_model_parallel_size"] == 3
    # the data-parallel size was computed before the split, as in validate_args
    assert out["data_parallel_size"] == 2


def test_expert_tp_defaults_to_tp():
    assert d("--tensor-model-parallel-size 4")["expert_tensor_parallel_size"] == 4
    assert d("--tensor-model-parallel-size 4 --expert-tensor-parallel-size 1")["expert_tensor_parallel_size"] == 1


def test_recompute_activations_means_selective():
    assert d("--recompute-activations")["recompute_granularity"] == "selective"
    assert d()["recompute_granularity"] is None


def test_cuda_graph_flags_pick_impl():
    assert d("--enable-cuda-graph", "d3528a21")["cuda_graph_impl"] == "local"
    assert d("--external-cuda-graph", "d3528a21")["cuda_graph_impl"] == "transformer_engine"
    assert d("", "d3528a21")["cuda_graph_impl"] == "none"


def test_entry_args_defaults():
    # pretrain_gpt.py passes args_defaults={'tokenizer_type': 'GPT2BPETokenizer'}: fills a None only
    parsed = parse_argv(load_schema("rocm_dev"), shlex.split(BASE)).args
    gpt2 = {"tokenizer_type": "GPT2BPETokenizer"}
    assert derive(parsed, "rocm_dev", args_defaults=gpt2)["tokenizer_type"] == "GPT2BPETokenizer"
    assert d("--tokenizer-type NullTokenizer --vocab-size 8")["tokenizer_type"] == "NullTokenizer"
    assert derive({**parsed, "tokenizer_type": "NullTokenizer"}, "rocm_dev", args_defaults=gpt2)["tokenizer_type"] == "NullTokenizer"
    assert derive(parsed, "rocm_dev", args_defaults={"not_a_dest": 3})["not_a_dest"] == 3  # setattr adds it


def test_legacy_split_default():
    assert d("--data-path x")["split"] == "969, 30, 1"
    assert d("--data-path x --split 98,2,0")["split"] == "98,2,0"
    assert d()["split"] is None


def test_global_batch_size_default():
    assert d("--micro-batch-size 2 --tensor-model-parallel-size 2", world=8)["global_batch_size"] == 8  # 2 * dp 4
    assert d("--global-batch-size 64")["global_batch_size"] == 64


@pytest.mark.parametrize("schema", ["rocm_dev", "5a676b36", "d3528a21"])
def test_virtual_pipeline_size(schema):
    # 32 layers over PP 4 = 8 per stage; 2 per virtual stage -> 4 virtual stages
    out = d("--pipeline-model-parallel-size 4 --num-layers-per-virtual-pipeline-stage 2", schema, world=8)
    assert out["virtual_pipeline_model_parallel_size"] == 4
    assert d("", schema)["virtual_pipeline_model_parallel_size"] is None


def test_virtual_pipeline_size_of_one_is_none_only_at_d3528a21():
    flags = "--pipeline-model-parallel-size 4 --num-layers-per-virtual-pipeline-stage 8"
    assert d(flags, "5a676b36")["virtual_pipeline_model_parallel_size"] == 1
    assert d(flags, "d3528a21")["virtual_pipeline_model_parallel_size"] is None
    assert d("--pipeline-model-parallel-size 4 --num-virtual-stages-per-pipeline-rank 2", "d3528a21")[
        "virtual_pipeline_model_parallel_size"] == 2


def test_non_interleaved_disables_p2p_overlap():
    assert load_schema("rocm_dev").by_option["--no-overlap-p2p-communication"].default is True
    assert d()["overlap_p2p_comm"] is False and d()["align_param_gather"] is False
    out = d("--pipeline-model-parallel-size 4 --num-layers-per-virtual-pipeline-stage 2")
    assert out["overlap_p2p_comm"] is True


def test_sharding_strategy_turns_on_overlap():
    out = d("--data-parallel-sharding-strategy optim_grads_params", "5a676b36")
    assert out["overlap_param_gather"] is True and out["overlap_grad_reduce"] is True
    out = d("--data-parallel-sharding-strategy optim_grads", "5a676b36")
    assert out["overlap_param_gather"] is False and out["overlap_grad_reduce"] is True
    assert d("--data-parallel-sharding-strategy optim_grads", "d3528a21")["overlap_grad_reduce"] is False


def test_megatron_fsdp_sets_custom_fsdp():
    assert d("--use-megatron-fsdp", "d3528a21")["use_custom_fsdp"] is True
    assert "use_custom_fsdp" not in d("", "d3528a21")  # no such option at d3528a21; Megatron adds it


def test_params_dtype_from_precision():
    assert d()["params_dtype"] == "float32"
    assert d("--fp16")["params_dtype"] == "float16"
    assert d("--bf16")["params_dtype"] == "bfloat16"


def test_dynamic_loss_scale_skips_nan_check():
    assert d("--fp16")["check_for_nan_in_loss_and_grad"] is False
    assert d("--fp16 --loss-scale 1024")["check_for_nan_in_loss_and_grad"] is True


@pytest.mark.parametrize("schema", ["rocm_dev", "5a676b36", "d3528a21"])
def test_bf16_accumulates_grads_in_fp32(schema):
    assert d("--bf16", schema)["accumulate_allreduce_grads_in_fp32"] is True
    assert d("", schema)["accumulate_allreduce_grads_in_fp32"] is False
    if schema != "rocm_dev":
        assert d("--bf16 --grad-reduce-in-bf16", schema)["accumulate_allreduce_grads_in_fp32"] is False


def test_dataloader_type_default():
    assert d()["dataloader_type"] == "single"
    assert d("--dataloader-type cyclic")["dataloader_type"] == "cyclic"


def test_consumed_samples_start_at_zero():
    out = d()
    assert (out["consumed_train_samples"], out["skipped_train_samples"], out["consumed_valid_samples"]) == (0, 0, 0)
    assert out["variable_seq_lengths"] is False


def test_encoder_num_layers_mirror():
    assert d()["encoder_num_layers"] == 32
    base = "--hidden-size 64 --num-attention-heads 4 --micro-batch-size 1"
    assert d("--encoder-num-layers 6", base=base)["num_layers"] == 6


@pytest.mark.parametrize("hidden,swiglu,expected", [
    (4096, False, 16384),
    (4096, True, 10880),   # int(4*4096*2/3 / 64) * 64 = int(170.67) * 64
    (8192, True, 21824),   # int(4*8192*2/3 / 64) * 64 = int(341.33) * 64
    (1000, True, 2624),    # int(2666.67 / 64) * 64 = 41 * 64
])
def test_ffn_hidden_size_default(hidden, swiglu, expected):
    out = d(("--swiglu" if swiglu else ""), base=f"--num-layers 2 --hidden-size {hidden} --num-attention-heads 8 --micro-batch-size 1")
    assert out["ffn_hidden_size"] == expected
    assert d("--swiglu --ffn-hidden-size 14336")["ffn_hidden_size"] == 14336


def test_kv_channels_default():
    assert d()["kv_channels"] == 128
    assert d("--kv-channels 64")["kv_channels"] == 64


def test_seq_length_mirror():
    assert d()["encoder_seq_length"] == 4096
    base = "--num-layers 2 --hidden-size 64 --num-attention-heads 4 --micro-batch-size 1"
    assert d("--encoder-seq-length 1024", base=base)["seq_length"] == 1024


def test_constant_weight_decay_bounds():
    out = d("--weight-decay 0.1")
    assert out["start_weight_decay"] == 0.1 and out["end_weight_decay"] == 0.1
    out = d("--weight-decay-incr-style linear --start-weight-decay 0.01 --end-weight-decay 0.1")
    assert out["start_weight_decay"] == 0.01


def test_no_weight_decay_cond_type():
    out = d("--no-weight-decay-cond-type apply_wd_to_qk_layernorm", "d3528a21")
    assert out["apply_wd_to_qk_layernorm"] is True and out["no_weight_decay_cond_type"] is None


def test_sequence_parallel_off_at_tp1():
    assert d("--sequence-parallel")["sequence_parallel"] is False
    assert d("--sequence-parallel --tensor-model-parallel-size 2")["sequence_parallel"] is True


def test_sequence_parallel_disables_async_allreduce():
    assert d("--sequence-parallel --tensor-model-parallel-size 2")["async_tensor_model_parallel_allreduce"] is False
    assert d("--tensor-model-parallel-size 2")["async_tensor_model_parallel_allreduce"] is True
    assert d("--sequence-parallel --tensor-model-parallel-size 2", "5a676b36")["async_tensor_model_parallel_allreduce"] is True


def test_no_bias_disables_bias_gelu_fusion():
    assert d("--disable-bias-linear")["bias_gelu_fusion"] is False
    assert d()["bias_gelu_fusion"] is True


def test_bias_linear_implies_qkv_bias():
    assert d()["add_qkv_bias"] is True
    assert d("--disable-bias-linear")["add_qkv_bias"] is False
    assert d("--disable-bias-linear --add-qkv-bias")["add_qkv_bias"] is True


def test_legacy_rope_flag():
    assert d("--use-rotary-position-embeddings")["position_embedding_type"] == "rope"


def test_rope_fusion_only_with_rope():
    assert d()["apply_rope_fusion"] is False
    assert d("--position-embedding-type rope")["apply_rope_fusion"] is True


def test_zero_experts_means_dense():
    assert d("--num-experts 0")["num_experts"] is None
    assert d("--num-experts 8")["num_experts"] == 8


def test_moe_ffn_hidden_size_default():
    assert d("--ffn-hidden-size 1024")["moe_ffn_hidden_size"] == 1024  # ROCm fork: always
    assert d("--ffn-hidden-size 1024", "d3528a21")["moe_ffn_hidden_size"] is None  # dense model
    assert d("--ffn-hidden-size 1024 --num-experts 8", "d3528a21")["moe_ffn_hidden_size"] == 1024
    assert d("--num-experts 8 --moe-ffn-hidden-size 512", "5a676b36")["moe_ffn_hidden_size"] == 512


def test_single_item_moe_lists():
    out = d("--moe-router-load-balancing-type aux_loss --moe-aux-loss-coeff 0.01", "d3528a21")
    assert out["moe_router_load_balancing_type"] == "aux_loss" and out["moe_aux_loss_coeff"] == 0.01


def test_qk_layer_scaling_implies_softmax_fp32():
    assert d("--apply-query-key-layer-scaling")["attention_softmax_in_fp32"] is True
    assert d()["attention_softmax_in_fp32"] is False


def test_async_save_needs_persistent_worker():
    assert d("--async-save", "d3528a21")["async_save"] is (
        load_schema("d3528a21").by_option["--use-persistent-ckpt-worker"].default is True)
    assert d("--async-save --use-persistent-ckpt-worker", "d3528a21")["async_save"] is True


def test_upcycling_skips_optimizer_and_rng_load():
    out = d("--moe-use-upcycling")
    assert out["no_load_optim"] is True and out["no_load_rng"] is True


def test_skip_train_skips_optimizer_load():
    assert d("--skip-train", "d3528a21")["no_load_optim"] is True


def test_replication_jump_needs_replication():
    assert d("--replication-jump 2", "d3528a21")["replication_jump"] is None
    assert d("--replication-jump 2", "5a676b36")["replication_jump"] is None
    assert d("--replication --replication-jump 2", "d3528a21")["replication_jump"] == 2


def test_cpu_offloading_from_layers():
    assert d("--cpu-offloading-num-layers 2", "d3528a21")["cpu_offloading"] is True


def test_cuda_graphs_need_te_rng_tracker():
    assert d("--cuda-graph-impl local", "d3528a21")["te_rng_tracker"] is True  # transformer_impl defaults to TE
    assert d("--cuda-graph-impl local --transformer-impl local", "d3528a21")["te_rng_tracker"] is False
    assert d("", "d3528a21")["te_rng_tracker"] is False


def test_full_cuda_graph_scope_is_empty():
    assert d("--cuda-graph-scope full", "d3528a21")["cuda_graph_scope"] == []
    assert d("--cuda-graph-scope attn", "d3528a21")["cuda_graph_scope"] == ["attn"]


def test_num_query_groups_only_with_gqa():
    assert d("--num-query-groups 8")["num_query_groups"] is None
    assert d("--group-query-attention --num-query-groups 8")["num_query_groups"] == 8


def test_era_guess_for_custom_schemas():
    assert era_of("my_fork", {"layernorm_epsilon": 1e-5}) == "new"
    assert era_of("my_fork", {"num_virtual_stages_per_pipeline_rank": None}) == "mid"
    assert era_of(None, {}) == "rocm"


# ---- the pins between: 84778176 (Primus v0.4.0..v0.7.0) and 3bec9aa9 (v26.2, v26.2.1). Expected values
# read in validate_args of megatron/training/arguments.py at each commit (line numbers of that function's
# body as printed by `git show PIN:megatron/training/arguments.py`).


def test_eras_of_the_bundled_pins():
    assert [era_of(p, {}) for p in ("rocm_dev", "5a676b36", "84778176", "3bec9aa9", "d3528a21")] == [
        "rocm", "mid", "late", "new", "new"]


def test_pin_84778176_has_some_of_the_new_rules():
    # VPP size 1 -> None ("if args.virtual_pipeline_model_parallel_size == 1: ... = None")
    flags = "--pipeline-model-parallel-size 4 --num-layers-per-virtual-pipeline-stage 8"
    assert d(flags, "84778176")["virtual_pipeline_model_parallel_size"] is None
    # "if args.use_megatron_fsdp: ... args.use_custom_fsdp = True"
    assert d("--use-megatron-fsdp", "84778176")["use_custom_fsdp"] is True
    # "MoE router check": a one-element list becomes its element
    out = d("--moe-router-load-balancing-type aux_loss --moe-aux-loss-coeff 0.01", "84778176")
    assert out["moe_router_load_balancing_type"] == "aux_loss" and out["moe_aux_loss_coeff"] == 0.01
    # "if args.enable_cuda_graph or args.external_cuda_graph: ... if args.transformer_impl ==
    # 'transformer_engine' and not args.te_rng_tracker: args.te_rng_tracker = True"
    assert d("--enable-cuda-graph", "84778176")["te_rng_tracker"] is True
    assert d("--external-cuda-graph", "84778176")["te_rng_tracker"] is True
    assert d("--enable-cuda-graph --transformer-impl local", "84778176")["te_rng_tracker"] is False
    assert d("--enable-cuda-graph", "5a676b36")["te_rng_tracker"] is False  # no such rule at 5a676b36


def test_pin_84778176_lacks_the_others():
    # no sharding-strategy overlap (5a676b36 sets it), no skip-train / async-save / cuda_graph_scope rules
    assert d("--data-parallel-sharding-strategy optim_grads", "84778176")["overlap_grad_reduce"] is False
    assert d("--skip-train", "84778176")["no_load_optim"] is None  # its parser default, left alone
    assert d("--async-save", "84778176")["async_save"] is True
    assert d("--cuda-graph-scope full", "84778176")["cuda_graph_scope"] == "full"


def test_pin_3bec9aa9_follows_the_new_rules():
    # "if args.skip_train and not args.no_load_optim"; "if args.cpu_offloading_num_layers > 0";
    # cuda_graph_scope "full" -> []; --enable-cuda-graph -> cuda_graph_impl local
    assert d("--skip-train", "3bec9aa9")["no_load_optim"] is True
    assert d("--cpu-offloading-num-layers 2", "3bec9aa9")["cpu_offloading"] is True
    assert d("--cuda-graph-scope full", "3bec9aa9")["cuda_graph_scope"] == []
    assert d("--enable-cuda-graph", "3bec9aa9")["cuda_graph_impl"] == "local"
