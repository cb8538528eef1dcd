"""The value changes Megatron-LM's `validate_args` makes after parsing.

Megatron never trains with the parsed namespace as is: `validate_args` fills
`ffn_hidden_size`, `kv_channels`, the data-parallel size, switches sequence
parallelism off at TP=1, and so on. Parity must compare what Megatron trains
with, so both sides of a comparison go through `derive`.

One small function per rule, applied in `validate_args` order. A rule reads
and writes a plain dict and skips itself when a dest it needs does not exist
in the schema at hand (custom forks). Assertions of `validate_args` are not
repeated here: we derive values, we do not refuse runs. Rules that differ
between versions look at `ctx.era`:

- "rocm":  ROCm Megatron-LM rocm_dev (2025-02), the legacy scripts' parser;
- "mid":   NVIDIA 5a676b36 (2025-05, Primus v0.1.0-rc1 .. v0.3.0);
- "late":  NVIDIA 84778176 (2025-10, Primus v0.4.0 .. v0.7.0): the encoder pipeline options are
           gone, a virtual pipeline size of 1 becomes None, --use-megatron-fsdp, one-element MoE
           lists and CUDA graphs (--enable-cuda-graph / --external-cuda-graph) as "new"; the
           sharding-strategy overlap of "mid" is gone; none of "new"'s --cuda-graph-impl,
           async-save, --skip-train, CPU-offloading and weight-decay-condition rules yet;
- "new":   NVIDIA d3528a21 (2026-03, Primus v26.3 .. v26.5.1) and 3bec9aa9 (core_r0.16.0,
           2026-02, Primus v26.2, v26.2.1), whose validate_args agree on every rule below
           (3bec9aa9 has no --hybrid-layer-pattern, which the rule reading it then never sees).

Dtypes are named by strings ("float32", "float16", "bfloat16") so nothing
imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from migrate.megatron.schema import Schema

DEFAULT_WORLD_SIZE = 1  # Megatron reads WORLD_SIZE from the environment, defaulting to 1
WORLD_SIZE_KEY = "world_size"  # an args key the caller may set (nnodes * nproc_per_node)


def minimal_world_size(args: Mapping[str, Any]) -> int:
    """TP * PP * CP: the smallest world the layout runs on (one data-parallel replica).

    Used when no world size is known: Megatron's own fallback (1) would fail its
    divisibility assertion for any TP/PP/CP above 1.
    """
    size = 1
    for dest in ("tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size"):
        size *= max(_int(args.get(dest), 1), 1)
    return size

ERA_BY_SCHEMA = {"rocm_dev": "rocm", "5a676b36": "mid", "84778176": "late", "3bec9aa9": "new", "d3528a21": "new"}


@dataclass
class DeriveContext:
    era: str
    world_size: int
    interleaved: bool = False  # set by the virtual-pipeline rule, read by the p2p-overlap rule
    # the entry script's `args_defaults` (Schema.entry_args_defaults); {} for a Primus namespace,
    # whose release-side defaults are trainer rewrites (migrate.primus.handoff)
    args_defaults: Mapping[str, Any] = field(default_factory=dict)


Rule = Callable[[dict[str, Any], DeriveContext], None]


def _has(a: Mapping[str, Any], *dests: str) -> bool:
    return all(d in a for d in dests)


def _int(value: Any, fallback: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


# --------------------------------------------------------------------------- parallel layout


def world_size_and_rank(a: dict[str, Any], ctx: DeriveContext) -> None:
    """parse_args: `world_size` from WORLD_SIZE (our explicit parameter), `rank` 0 (the printing rank)."""
    a["world_size"] = ctx.world_size
    a["rank"] = 0


def use_dist_ckpt_from_format(a: dict[str, Any], ctx: DeriveContext) -> None:
    """update_use_dist_ckpt: distributed checkpointing unless --ckpt-format torch."""
    if _has(a, "ckpt_format"):
        a["use_dist_ckpt"] = a["ckpt_format"] != "torch"


def encoder_tp_follows_decoder_tp(a: dict[str, Any], ctx: DeriveContext) -> None:
    """rocm/mid: an encoder pipeline without its own TP size uses the decoder's TP size."""
    if ctx.era not in ("rocm", "mid"):
        return
    if not _has(a, "encoder_pipeline_model_parallel_size", "encoder_tensor_model_parallel_size"):
        return
    if _int(a["encoder_pipeline_model_parallel_size"], 0) > 0 and _int(a["encoder_tensor_model_parallel_size"], 0) == 0:
        a["encoder_tensor_model_parallel_size"] = a["tensor_model_parallel_size"]


def clamp_parallel_sizes_to_world(a: dict[str, Any], ctx: DeriveContext) -> None:
    """rocm only: TP = min(TP, world size); PP = min(PP, world size // TP)."""
    if ctx.era != "rocm":
        return
    tp = min(_int(a.get("tensor_model_parallel_size"), 1), ctx.world_size)
    a["tensor_model_parallel_size"] = tp
    a["pipeline_model_parallel_size"] = min(
        _int(a.get("pipeline_model_parallel_size"), 1), ctx.world_size // max(tp, 1)
    )


def transformer_pipeline_size(a: dict[str, Any], ctx: DeriveContext) -> None:
    """transformer_pipeline_model_parallel_size = PP (rocm: minus one with --standalone-embedding-stage)."""
    pp = _int(a.get("pipeline_model_parallel_size"), 1)
    if ctx.era == "rocm" and a.get("standalone_embedding_stage"):
        pp -= 1
    a["transformer_pipeline_model_parallel_size"] = pp


def data_parallel_size(a: dict[str, Any], ctx: DeriveContext) -> None:
    """data_parallel_size = world // (TP * PP * CP); at "mid" the encoder's TP*PP*CP is added to the divisor."""
    tp = _int(a.get("tensor_model_parallel_size"), 1)
    pp = _int(a.get("pipeline_model_parallel_size"), 1)
    cp = _int(a.get("context_parallel_size"), 1)
    model = tp * pp * cp
    if ctx.era == "mid":
        model += (
            _int(a.get("encoder_tensor_model_parallel_size"), 0)
            * _int(a.get("encoder_pipeline_model_parallel_size"), 0)
            * cp
        )
    a["data_parallel_size"] = ctx.world_size // model if model > 0 else 0


def split_rank_becomes_encoder_pipeline(a: dict[str, Any], ctx: DeriveContext) -> None:
    """rocm/mid: --pipeline-model-parallel-split-rank N means N encoder pipeline stages taken out of PP."""
    split = a.get("pipeline_model_parallel_split_rank")
    if ctx.era not in ("rocm", "mid") or not isinstance(split, int) or "encoder_pipeline_model_parallel_size" not in a:
        return
    a["encoder_pipeline_model_parallel_size"] = split
    a["pipeline_model_parallel_size"] = _int(a.get("pipeline_model_parallel_size"), 1) - split


def expert_tp_defaults_to_tp(a: dict[str, Any], ctx: DeriveContext) -> None:
    """expert_tensor_parallel_size defaults to the tensor-parallel size."""
    if _has(a, "expert_tensor_parallel_size") and a["expert_tensor_parallel_size"] is None:
        a["expert_tensor_parallel_size"] = a.get("tensor_model_parallel_size")


def recompute_activations_means_selective(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--recompute-activations is shorthand for --recompute-granularity selective."""
    if a.get("recompute_activations"):
        a["recompute_granularity"] = "selective"


def cuda_graph_flags_pick_impl(a: dict[str, Any], ctx: DeriveContext) -> None:
    """new: --enable-cuda-graph → cuda_graph_impl local; --external-cuda-graph → transformer_engine."""
    if ctx.era != "new" or not _has(a, "cuda_graph_impl"):
        return
    if a.get("enable_cuda_graph"):
        a["cuda_graph_impl"] = "local"
    if a.get("external_cuda_graph"):
        a["cuda_graph_impl"] = "transformer_engine"


def entry_args_defaults(a: dict[str, Any], ctx: DeriveContext) -> None:
    """The entry script's args_defaults fill the dests still None (a value the run set wins).

    validate_args does this after the deprecated-flag rewrites and before the split,
    dataloader and model-shape defaults, so e.g. a `dataloader_type` default comes first.
    A key that is not a dest is set anyway, as setattr does.
    """
    fill_args_defaults(a, ctx.args_defaults)


def fill_args_defaults(a: dict[str, Any], args_defaults: Mapping[str, Any]) -> list[str]:
    """Set each args_defaults key whose value in `a` is None (or absent); returns the keys set."""
    filled = []
    for key, value in args_defaults.items():
        if a.get(key) is None:
            a[key] = value
            filled.append(key)
    return filled


def legacy_split_default(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--data-path without --split uses the legacy split '969, 30, 1'."""
    if a.get("data_path") is not None and _has(a, "split") and a["split"] is None:
        a["split"] = "969, 30, 1"


def global_batch_size_default(a: dict[str, Any], ctx: DeriveContext) -> None:
    """global_batch_size defaults to micro_batch_size * data_parallel_size (one micro-batch per step)."""
    if a.get("global_batch_size") is None and isinstance(a.get("micro_batch_size"), int):
        a["global_batch_size"] = a["micro_batch_size"] * a["data_parallel_size"]


def virtual_pipeline_size(a: dict[str, Any], ctx: DeriveContext) -> None:
    """virtual_pipeline_model_parallel_size from --num-layers-per-virtual-pipeline-stage.

    (layers per pipeline stage) // (layers per virtual stage). mid/new also accept
    --num-virtual-stages-per-pipeline-rank and count embedding/loss layers when asked;
    late/new turn a size of 1 into None. Without either option: None. The schedule is interleaved
    (ctx.interleaved) when either option is given; at late/new, when the size is not None (their
    validate_args tests `args.virtual_pipeline_model_parallel_size is not None`).
    """
    _set_virtual_pipeline_size(a, ctx)
    if ctx.era in ("late", "new"):
        ctx.interleaved = a.get("virtual_pipeline_model_parallel_size") is not None


def _set_virtual_pipeline_size(a: dict[str, Any], ctx: DeriveContext) -> None:
    per_vstage = a.get("num_layers_per_virtual_pipeline_stage")
    vstages = a.get("num_virtual_stages_per_pipeline_rank") if ctx.era != "rocm" else None
    if per_vstage is None and vstages is None:
        ctx.interleaved = False
        if ctx.era == "new" and a.get("hybrid_layer_pattern") is not None:
            return  # new: a hybrid layer pattern may already have set it
        a["virtual_pipeline_model_parallel_size"] = None
        return
    ctx.interleaved = True
    if vstages is not None:
        a["virtual_pipeline_model_parallel_size"] = vstages
    else:
        layers = a.get("num_layers") if a.get("num_layers") is not None else a.get("decoder_num_layers")
        if not isinstance(layers, int) or not isinstance(per_vstage, int) or per_vstage <= 0:
            return
        if ctx.era != "rocm":
            layers += int(bool(a.get("account_for_embedding_in_pipeline_split")))
            layers += int(bool(a.get("account_for_loss_in_pipeline_split")))
        stages = max(_int(a.get("transformer_pipeline_model_parallel_size"), 1), 1)
        a["virtual_pipeline_model_parallel_size"] = (layers // stages) // per_vstage
    if ctx.era in ("late", "new") and a["virtual_pipeline_model_parallel_size"] == 1:
        a["virtual_pipeline_model_parallel_size"] = None


def non_interleaved_disables_p2p_overlap(a: dict[str, Any], ctx: DeriveContext) -> None:
    """Without the interleaved schedule, overlap_p2p_comm and align_param_gather are off."""
    if not ctx.interleaved:
        for dest in ("overlap_p2p_comm", "align_param_gather"):
            if dest in a:
                a[dest] = False


def sharding_strategy_turns_on_overlap(a: dict[str, Any], ctx: DeriveContext) -> None:
    """mid: --data-parallel-sharding-strategy optim_grads(_params) switches on grad-reduce (and
    param-gather) overlap."""
    if ctx.era != "mid":
        return
    strategy = a.get("data_parallel_sharding_strategy")
    if strategy == "optim_grads_params":
        a["overlap_param_gather"] = True
        a["overlap_grad_reduce"] = True
    elif strategy == "optim_grads":
        a["overlap_grad_reduce"] = True


def megatron_fsdp_sets_custom_fsdp(a: dict[str, Any], ctx: DeriveContext) -> None:
    """late/new: --use-megatron-fsdp also sets the deprecated use_custom_fsdp."""
    if ctx.era in ("late", "new") and a.get("use_megatron_fsdp"):
        a["use_custom_fsdp"] = True


# --------------------------------------------------------------------------- precision


def params_dtype_from_precision(a: dict[str, Any], ctx: DeriveContext) -> None:
    """params_dtype: float16 with --fp16, bfloat16 with --bf16, float32 otherwise."""
    dtype = "float32"
    if a.get("fp16"):
        dtype = "float16"
    if a.get("bf16"):
        dtype = "bfloat16"
    a["params_dtype"] = dtype


def dynamic_loss_scale_skips_nan_check(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--fp16 without --loss-scale (dynamic scaling): check_for_nan_in_loss_and_grad off."""
    if a.get("fp16") and not a.get("loss_scale") and "check_for_nan_in_loss_and_grad" in a:
        a["check_for_nan_in_loss_and_grad"] = False


def bf16_accumulates_grads_in_fp32(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--bf16: gradients accumulate/all-reduce in fp32 (mid/new: unless --grad-reduce-in-bf16 or
    non-fp32 main grads)."""
    if not a.get("bf16") or "accumulate_allreduce_grads_in_fp32" not in a:
        return
    if ctx.era == "rocm":
        a["accumulate_allreduce_grads_in_fp32"] = True
        return
    if a.get("grad_reduce_in_bf16"):
        a["accumulate_allreduce_grads_in_fp32"] = False
    elif not a["accumulate_allreduce_grads_in_fp32"] and a.get("main_grads_dtype", "fp32") in ("fp32", "float32"):
        a["accumulate_allreduce_grads_in_fp32"] = True


# --------------------------------------------------------------------------- data & schedule


def dataloader_type_default(a: dict[str, Any], ctx: DeriveContext) -> None:
    """dataloader_type defaults to 'single'."""
    if "dataloader_type" in a and a["dataloader_type"] is None:
        a["dataloader_type"] = "single"


def consumed_samples_start_at_zero(a: dict[str, Any], ctx: DeriveContext) -> None:
    """A fresh run: consumed/skipped sample counters 0, variable_seq_lengths False."""
    a["consumed_train_samples"] = 0
    a["skipped_train_samples"] = 0
    a["consumed_valid_samples"] = 0
    a["variable_seq_lengths"] = False


# --------------------------------------------------------------------------- model shape


def encoder_num_layers_mirror(a: dict[str, Any], ctx: DeriveContext) -> None:
    """encoder_num_layers = num_layers (or num_layers = encoder_num_layers when only that is given)."""
    if "encoder_num_layers" not in a:
        return
    if a.get("num_layers") is not None:
        a["encoder_num_layers"] = a["num_layers"]
    elif a["encoder_num_layers"] is not None:
        a["num_layers"] = a["encoder_num_layers"]


def ffn_hidden_size_default(a: dict[str, Any], ctx: DeriveContext) -> None:
    """ffn_hidden_size defaults to 4*hidden; with --swiglu to int(4*hidden*2/3 / 64) * 64."""
    hidden = a.get("hidden_size")
    if a.get("ffn_hidden_size") is not None or not isinstance(hidden, int):
        return
    if a.get("swiglu"):
        a["ffn_hidden_size"] = int((4 * hidden * 2 / 3) / 64) * 64
    else:
        a["ffn_hidden_size"] = 4 * hidden


def kv_channels_default(a: dict[str, Any], ctx: DeriveContext) -> None:
    """kv_channels defaults to hidden_size // num_attention_heads."""
    hidden, heads = a.get("hidden_size"), a.get("num_attention_heads")
    if a.get("kv_channels") is None and isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        a["kv_channels"] = hidden // heads


def seq_length_mirror(a: dict[str, Any], ctx: DeriveContext) -> None:
    """encoder_seq_length = seq_length (or the reverse when only encoder_seq_length is given)."""
    if "encoder_seq_length" not in a:
        return
    if a.get("seq_length") is not None:
        a["encoder_seq_length"] = a["seq_length"]
    elif a["encoder_seq_length"] is not None:
        a["seq_length"] = a["encoder_seq_length"]


def constant_weight_decay_bounds(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--weight-decay-incr-style constant: start and end weight decay = weight_decay."""
    if a.get("weight_decay_incr_style") == "constant":
        a["start_weight_decay"] = a.get("weight_decay")
        a["end_weight_decay"] = a.get("weight_decay")


def no_weight_decay_cond_type(a: dict[str, Any], ctx: DeriveContext) -> None:
    """new: --no-weight-decay-cond-type apply_wd_to_qk_layernorm becomes apply_wd_to_qk_layernorm=True."""
    if ctx.era != "new" or a.get("no_weight_decay_cond_type") is None:
        return
    if a["no_weight_decay_cond_type"] == "apply_wd_to_qk_layernorm":
        a["apply_wd_to_qk_layernorm"] = True
    a["no_weight_decay_cond_type"] = None


def sequence_parallel_off_at_tp1(a: dict[str, Any], ctx: DeriveContext) -> None:
    """Sequence parallelism is switched off when TP = 1."""
    if a.get("tensor_model_parallel_size") == 1 and "sequence_parallel" in a:
        a["sequence_parallel"] = False


def sequence_parallel_disables_async_allreduce(a: dict[str, Any], ctx: DeriveContext) -> None:
    """rocm: sequence parallelism turns async_tensor_model_parallel_allreduce off."""
    if ctx.era == "rocm" and a.get("sequence_parallel") and "async_tensor_model_parallel_allreduce" in a:
        a["async_tensor_model_parallel_allreduce"] = False


def no_bias_disables_bias_gelu_fusion(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--disable-bias-linear turns bias_gelu_fusion off."""
    if "add_bias_linear" in a and not a["add_bias_linear"] and "bias_gelu_fusion" in a:
        a["bias_gelu_fusion"] = False


def bias_linear_implies_qkv_bias(a: dict[str, Any], ctx: DeriveContext) -> None:
    """With linear biases on, add_qkv_bias is on too."""
    if a.get("add_bias_linear") and "add_qkv_bias" in a:
        a["add_qkv_bias"] = True


def legacy_rope_flag(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--use-rotary-position-embeddings means --position-embedding-type rope."""
    if a.get("use_rotary_position_embeddings"):
        a["position_embedding_type"] = "rope"


def rope_fusion_only_with_rope(a: dict[str, Any], ctx: DeriveContext) -> None:
    """apply_rope_fusion is off unless the position embedding is rope."""
    if a.get("position_embedding_type") != "rope" and "apply_rope_fusion" in a:
        a["apply_rope_fusion"] = False


def zero_experts_means_dense(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--num-experts 0 is stored as None (a dense model)."""
    if a.get("num_experts") == 0:
        a["num_experts"] = None


def moe_ffn_hidden_size_default(a: dict[str, Any], ctx: DeriveContext) -> None:
    """moe_ffn_hidden_size defaults to ffn_hidden_size (rocm: always; mid/new: only for MoE models)."""
    if "moe_ffn_hidden_size" not in a or a["moe_ffn_hidden_size"] is not None:
        return
    if ctx.era == "rocm" or a.get("num_experts") is not None:
        a["moe_ffn_hidden_size"] = a.get("ffn_hidden_size")


def single_item_moe_lists(a: dict[str, Any], ctx: DeriveContext) -> None:
    """late/new: a one-element --moe-router-load-balancing-type / --moe-aux-loss-coeff list becomes its element."""
    if ctx.era not in ("late", "new"):
        return
    for dest in ("moe_router_load_balancing_type", "moe_aux_loss_coeff"):
        value = a.get(dest)
        if isinstance(value, (list, tuple)) and len(value) == 1:
            a[dest] = value[0]


def qk_layer_scaling_implies_softmax_fp32(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--apply-query-key-layer-scaling turns attention_softmax_in_fp32 on."""
    if a.get("apply_query_key_layer_scaling"):
        a["attention_softmax_in_fp32"] = True


def async_save_needs_persistent_worker(a: dict[str, Any], ctx: DeriveContext) -> None:
    """new: asynchronous distributed saves without the persistent checkpoint worker are turned off."""
    if (
        ctx.era == "new"
        and a.get("use_dist_ckpt")
        and a.get("async_save")
        and not a.get("use_persistent_ckpt_worker", True)
    ):
        a["async_save"] = False


def upcycling_skips_optimizer_and_rng_load(a: dict[str, Any], ctx: DeriveContext) -> None:
    """--moe-use-upcycling: do not load optimizer or RNG state."""
    if a.get("moe_use_upcycling"):
        a["no_load_optim"] = True
        a["no_load_rng"] = True


def skip_train_skips_optimizer_load(a: dict[str, Any], ctx: DeriveContext) -> None:
    """new: --skip-train does not load optimizer state."""
    if ctx.era == "new" and a.get("skip_train"):
        a["no_load_optim"] = True


def replication_jump_needs_replication(a: dict[str, Any], ctx: DeriveContext) -> None:
    """mid/new: replication_jump is ignored (None) without --replication."""
    if ctx.era != "rocm" and not a.get("replication") and a.get("replication_jump"):
        a["replication_jump"] = None


def cpu_offloading_from_layers(a: dict[str, Any], ctx: DeriveContext) -> None:
    """new: --cpu-offloading-num-layers > 0 turns cpu_offloading on."""
    if ctx.era == "new" and _int(a.get("cpu_offloading_num_layers"), 0) > 0:
        a["cpu_offloading"] = True


def cuda_graphs_need_te_rng_tracker(a: dict[str, Any], ctx: DeriveContext) -> None:
    """new: CUDA graphs with Transformer Engine (as model or graph implementation) turn te_rng_tracker on;
    late: --enable-cuda-graph or --external-cuda-graph with the Transformer Engine model do."""
    if "te_rng_tracker" not in a:
        return
    if ctx.era == "late" and (a.get("enable_cuda_graph") or a.get("external_cuda_graph")):
        if a.get("transformer_impl") == "transformer_engine":
            a["te_rng_tracker"] = True
    if ctx.era != "new" or a.get("cuda_graph_impl", "none") == "none":
        return
    if "transformer_engine" in (a.get("transformer_impl"), a.get("cuda_graph_impl")):
        a["te_rng_tracker"] = True


def full_cuda_graph_scope_is_empty(a: dict[str, Any], ctx: DeriveContext) -> None:
    """new: the deprecated cuda_graph_scope "full" is stored as [] (capture the whole layer)."""
    scope = a.get("cuda_graph_scope")
    if ctx.era == "new" and (scope == "full" or (isinstance(scope, list) and "full" in scope)):
        a["cuda_graph_scope"] = []


def num_query_groups_only_with_gqa(a: dict[str, Any], ctx: DeriveContext) -> None:
    """Without --group-query-attention the model uses no query groups (core_transformer_config_from_args).

    Megatron leaves `args.num_query_groups` at its parsed value but builds the
    model with None; we store None so configs differing only in an unused
    num_query_groups compare equal.
    """
    if "group_query_attention" in a and not a["group_query_attention"] and "num_query_groups" in a:
        a["num_query_groups"] = None


RULES: tuple[Rule, ...] = (
    world_size_and_rank,
    use_dist_ckpt_from_format,
    encoder_tp_follows_decoder_tp,
    clamp_parallel_sizes_to_world,
    transformer_pipeline_size,
    data_parallel_size,
    split_rank_becomes_encoder_pipeline,
    expert_tp_defaults_to_tp,
    recompute_activations_means_selective,
    cuda_graph_flags_pick_impl,
    entry_args_defaults,
    legacy_split_default,
    global_batch_size_default,
    virtual_pipeline_size,
    non_interleaved_disables_p2p_overlap,
    sharding_strategy_turns_on_overlap,
    megatron_fsdp_sets_custom_fsdp,
    params_dtype_from_precision,
    dynamic_loss_scale_skips_nan_check,
    bf16_accumulates_grads_in_fp32,
    dataloader_type_default,
    consumed_samples_start_at_zero,
    encoder_num_layers_mirror,
    ffn_hidden_size_default,
    kv_channels_default,
    seq_length_mirror,
    constant_weight_decay_bounds,
    no_weight_decay_cond_type,
    sequence_parallel_off_at_tp1,
    sequence_parallel_disables_async_allreduce,
    no_bias_disables_bias_gelu_fusion,
    bias_linear_implies_qkv_bias,
    legacy_rope_flag,
    rope_fusion_only_with_rope,
    zero_experts_means_dense,
    moe_ffn_hidden_size_default,
    single_item_moe_lists,
    qk_layer_scaling_implies_softmax_fp32,
    async_save_needs_persistent_worker,
    upcycling_skips_optimizer_and_rng_load,
    skip_train_skips_optimizer_load,
    replication_jump_needs_replication,
    cpu_offloading_from_layers,
    cuda_graphs_need_te_rng_tracker,
    full_cuda_graph_scope_is_empty,
    num_query_groups_only_with_gqa,
)


def era_of(schema: Schema | str | None, args: Mapping[str, Any]) -> str:
    """Which version family's validate_args applies: by schema name, else guessed from the dests."""
    name = schema.name if isinstance(schema, Schema) else schema
    if name in ERA_BY_SCHEMA:
        return ERA_BY_SCHEMA[name]
    if "layernorm_epsilon" in args:
        return "new"
    if "num_virtual_stages_per_pipeline_rank" in args:
        return "mid"
    return "rocm"


def derive(args: Mapping[str, Any], schema: Schema | str | None = None, *, world_size: int | None = None,
           args_defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A new dict: `args` after validate_args' value derivations at `schema`'s version.

    World size: the `world_size` parameter, else `args["world_size"]`, else
    `minimal_world_size(args)` (TP*PP*CP, data-parallel size 1). Both sides of
    a parity comparison must be derived with the same world size.
    `args_defaults`: what the entry script passes to pretrain() (Schema.entry_args_defaults).
    """
    a = dict(args)
    if world_size is None:
        world_size = _int(args.get(WORLD_SIZE_KEY), 0) or minimal_world_size(args)
    ctx = DeriveContext(era=era_of(schema, args), world_size=max(int(world_size), 1),
                        args_defaults=dict(args_defaults or {}))
    for rule in RULES:
        rule(a, ctx)
    return a
