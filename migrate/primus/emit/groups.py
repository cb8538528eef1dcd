"""Which section of an experiment's `overrides:` a key belongs to.

Primus's own example experiments group their overrides under short comments
(`# log`, `# parallel`, `# data`, `# ckpt`, ...). We sort every override into
one of these sections, in this order, so a reviewer finds a key where a
maintainer would have put it.
"""

from __future__ import annotations

import re

# (title, exact keys, regex over the key). First match wins, in this order.
_SECTIONS: tuple[tuple[str, frozenset[str], str | None], ...] = (
    ("model architecture", frozenset(), None),  # filled by the emitter from ARCHITECTURE_KEYS
    (
        "parallelism",
        frozenset({
            "sequence_parallel", "use_distributed_optimizer", "use_torch_fsdp2", "use_custom_fsdp",
            "overlap_grad_reduce", "overlap_param_gather", "align_grad_reduce", "align_param_gather",
            "num_layers_per_virtual_pipeline_stage", "num_virtual_stages_per_pipeline_rank",
            "decoder_first_pipeline_num_layers", "decoder_last_pipeline_num_layers",
            "account_for_embedding_in_pipeline_split", "account_for_loss_in_pipeline_split",
            "tp_comm_overlap", "defer_embedding_wgrad_compute", "delay_wgrad_compute",
            "data_parallel_sharding_strategy", "ddp_bucket_size", "ddp_average_in_collective",
            "pipeline_model_parallel_layout", "expert_tensor_parallel_size", "cp_comm_type",
            "hierarchical_context_parallel_sizes", "overlap_p2p_comm", "distributed_backend",
            "distributed_timeout_minutes", "use_ring_exchange_p2p", "check_for_nan_in_loss_and_grad",
        }),
        r"(_model_parallel_|_parallel_size$|^tp_comm_|^ddp_|^overlap_|^fsdp|_fsdp)",
    ),
    (
        "batch and sequence",
        frozenset({
            "micro_batch_size", "global_batch_size", "rampup_batch_size", "seq_length",
            "decoder_seq_length", "encoder_seq_length", "train_iters", "train_samples",
            "exit_interval", "exit_duration_in_mins", "exit_signal_handler", "variable_seq_lengths",
        }),
        None,
    ),
    (
        "optimizer and learning-rate schedule",
        frozenset({
            "optimizer", "lr", "min_lr", "clip_grad", "weight_decay", "start_weight_decay",
            "end_weight_decay", "weight_decay_incr_style", "sgd_momentum", "decoupled_lr",
            "decoupled_min_lr", "override_opt_param_scheduler", "use_checkpoint_opt_param_scheduler",
            "use_precision_aware_optimizer", "optimizer_cpu_offload", "optimizer_offload_fraction",
        }),
        r"^(lr_|adam_|sgd_|optimizer_|muon_)",
    ),
    (
        "precision",
        frozenset({
            "bf16", "fp16", "attention_softmax_in_fp32", "accumulate_allreduce_grads_in_fp32",
            "apply_query_key_layer_scaling", "loss_scale", "initial_loss_scale", "min_loss_scale",
            "loss_scale_window", "hysteresis", "fp32_residual_connection", "grad_reduce_in_bf16",
            "main_grads_dtype", "main_params_dtype", "exp_avg_dtype", "exp_avg_sq_dtype",
            "first_last_layers_bf16", "num_layers_at_start_in_bf16", "num_layers_at_end_in_bf16",
            "params_dtype",
        }),
        r"^(fp8|fp4|te_fp8|mxfp|fp16_|bf16_)",
    ),
    (
        "recompute and memory",
        frozenset({"cpu_offloading", "cpu_offloading_num_layers", "empty_unused_memory_level",
                   "distribute_saved_activations", "check_weight_hash_across_dp_replicas_interval"}),
        r"^(recompute|activation_offload|offload_)",
    ),
    (
        "kernels and fusions",
        frozenset({
            "use_flash_attn", "transformer_impl", "attention_backend", "gradient_accumulation_fusion",
            "bias_gelu_fusion", "bias_swiglu_fusion", "bias_dropout_fusion", "masked_softmax_fusion",
            "apply_rope_fusion", "persist_layer_norm", "cross_entropy_loss_fusion",
            "cross_entropy_fusion_impl", "use_te_activation_func", "moe_permute_fusion",
            "no_persist_layer_norm", "use_legacy_models", "spec", "tp_comm_overlap_cfg",
            "deterministic_mode", "enable_cuda_graph", "cuda_graph_scope", "external_cuda_graph",
        }),
        r"(_fusion$|^use_te_|^te_|^use_turbo|^turbo_|^enable_primus_turbo)",
    ),
    (
        "checkpointing",
        frozenset({
            "save", "load", "save_interval", "finetune", "pretrained_checkpoint", "auto_detect_ckpt_format",
            "exit_on_missing_checkpoint", "use_checkpoint_args", "use_dist_ckpt", "dist_ckpt_format",
            "async_save", "non_persistent_save_interval", "non_persistent_ckpt_type",
            "non_persistent_global_ckpt_dir", "use_persistent_ckpt_worker", "retro_add_retriever",
            "auto_continue_train", "disable_last_saving", "save_retain_interval",
        }),
        r"^(ckpt_|no_load_|no_save_|dist_ckpt_|load_|save_)",
    ),
    (
        "data and tokenizer",
        frozenset({
            "data_path", "train_data_path", "valid_data_path", "test_data_path", "split", "mock_data",
            "data_cache_path", "num_workers", "dataloader_type", "eod_mask_loss", "reset_position_ids",
            "reset_attention_mask", "vocab_file", "merge_file", "vocab_size", "vocab_extra_ids",
            "make_vocab_size_divisible_by", "data_args_path", "per_split_data_args_path",
            "mmap_bin_files", "create_attention_mask_in_dataloader", "object_storage_cache_path",
            "sft", "sft_tokenizer_prompt_format", "full_validation", "multiple_validation_sets",
        }),
        r"^(tokenizer_|data_|dataset|train_data|valid_data|test_data)",
    ),
    (
        "evaluation",
        frozenset({"eval_iters", "eval_interval", "skip_train", "test_mode"}),
        r"^eval_",
    ),
    (
        "logging and profiling",
        frozenset({
            "profile", "profile_step_start", "profile_step_end", "profile_ranks", "use_pytorch_profiler",
            "record_memory_history", "memory_snapshot_path", "timing_log_level", "timing_log_option",
            "barrier_with_L1_time", "tensorboard_dir", "tensorboard_queue_size", "tensorboard_log_interval",
            "wandb_project", "wandb_exp_name", "wandb_save_dir", "wandb_entity", "one_logger_async",
            "stderr_sink_level", "disable_wandb", "disable_tensorboard", "log_interval",
            "logging_level", "straggler_minmax_count", "log_straggler", "disable_straggler_on_startup",
            "enable_one_logger", "one_logger_project", "one_logger_run_name",
        }),
        r"^(log_|tensorboard_|wandb_|profile_|timing_|logging_)",
    ),
    (
        "initialization and regularization",
        frozenset({"seed", "data_parallel_random_init", "init_method_xavier_uniform",
                   "attention_dropout", "hidden_dropout", "init_method_std"}),
        None,
    ),
)

ARCHITECTURE_SECTION = _SECTIONS[0][0]
OTHER_SECTION = "other"
SECTION_ORDER: tuple[str, ...] = tuple(title for title, _, _ in _SECTIONS) + (OTHER_SECTION,)

_COMPILED = [(title, keys, re.compile(pattern) if pattern else None) for title, keys, pattern in _SECTIONS]


def section_of(key: str, architecture_keys: frozenset[str] = frozenset()) -> str:
    """The overrides section a key is written under."""
    if key in architecture_keys:
        return ARCHITECTURE_SECTION
    for title, keys, pattern in _COMPILED:
        if key in keys or (pattern is not None and pattern.search(key)):
            return title
    if key.startswith("moe_") or key.startswith("num_experts"):
        return ARCHITECTURE_SECTION
    return OTHER_SECTION


def group_keys(keys: list[str], architecture_keys: frozenset[str] = frozenset()) -> list[tuple[str, list[str]]]:
    """Keys sorted into non-empty sections, section order fixed, key order kept within a section."""
    buckets: dict[str, list[str]] = {title: [] for title in SECTION_ORDER}
    for key in keys:
        buckets[section_of(key, architecture_keys)].append(key)
    return [(title, members) for title, members in buckets.items() if members]
