"""ROCm Megatron-LM's DeepSeek-V2 entry, `examples/deepseek_v2/pretrain_deepseek.py`: refused.

Facts, read at ROCm Megatron-LM rocm_dev f712ab84 (the legacy schema's commit):
- model_provider builds `megatron.core.models.deepseekv2.model.GPTModel` (the standard
  TransformerBlock) with `deepseekv2.layer_specs.get_gpt_layer_with_transformer_engine_spec(
  num_experts, moe_grouped_gemm, qk_layernorm=True)`, whatever --multi-latent-attention or
  --qk-layernorm say; the config is `DeepSeekV2TransformerConfig` filled from the arguments by
  `core_transformer_config_from_args` (MLATransformerConfig with --multi-latent-attention).
- That spec always uses MLASelfAttention (q/kv low-rank projections with q/kv layer norms) and
  sets no `input_layernorm`: TransformerLayerSubmodules' default is IdentityOp, so nothing
  normalises the hidden state before attention. The MLP is a MoELayer (GroupedMLP experts,
  SharedExpertMLP) with a `pre_mlp_layernorm` when --num-experts is given, else a dense MLP.
- One layer spec for the whole block: every layer is a MoE layer; --moe-layer-freq is not read.
- MLASelfAttention reads q_lora_rank, kv_lora_rank, qk_head_dim, qk_pos_emb_head_dim,
  v_head_dim (the entry's --qk-nope-head-dim is never read; its --qk-rope-head-dim only widens
  TEDotProductAttentionMLA, which the spec does not use).
- MoELayer builds shared experts only when moe_shared_expert_intermediate_size is set, sized
  by it (SharedExpertMLP); MLP's `is_shared_expert` path, the only reader of
  --num-shared-experts (x --moe-ffn-hidden-size), has no caller, and --enable-shared-expert is
  read nowhere.

Primus builds MLA layers with megatron-core's gpt_layer_specs (v0.1.0-rc1 through
pretrain_gpt's model_provider at 5a676b36, v26.5.1 through its own gpt_layer_specs over
d3528a21): both put an input layer norm before MLA and follow moe_layer_freq. No Primus key
removes that norm, so neither release can train this entry's model: it is refused, never
converted to another (llama-like or DeepSeek preset) model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrate.entries.kind import ALL_TARGETS, EntryKind

PATH = "examples/deepseek_v2/pretrain_deepseek.py"


def built_options(args: Mapping[str, Any]) -> dict[str, Any]:
    """The megatron-core options the entry's model is built with (see the module facts)."""
    built: dict[str, Any] = {
        "multi_latent_attention": True,  # the spec is MLA whatever the flag says
        "qk_layernorm": True,  # qk_layernorm=True in model_provider
        "input_layernorm": None,  # no option: the spec has none (IdentityOp)
    }
    for dest in ("q_lora_rank", "kv_lora_rank", "qk_head_dim", "qk_pos_emb_head_dim", "v_head_dim",
                 "moe_shared_expert_intermediate_size"):
        built[dest] = args.get(dest)
    if args.get("num_experts"):
        built["moe_layer_freq"] = 1  # one spec for every layer
    return built


REASON = (
    "it builds its own DeepSeek-V2 layer (ROCm Megatron-LM rocm_dev): multi-latent attention with no "
    "layer norm before it and every layer MoE, whatever --multi-latent-attention and --moe-layer-freq say. "
    "Primus's pre-trainer builds MLA layers with an input layer norm and follows moe_layer_freq, and no "
    "Primus key removes that norm, so no Primus config trains the same model")

DEEPSEEK_V2 = EntryKind(
    key="rocm_deepseek_v2",
    paths=(PATH,),
    builds="ROCm's DeepSeek-V2 model (megatron.core.models.deepseekv2, MLA + MoE)",
    family=None,
    refused={ALL_TARGETS: REASON},
    read_from="ROCm Megatron-LM rocm_dev f712ab84: examples/deepseek_v2/pretrain_deepseek.py, "
              "megatron/core/models/deepseekv2/layer_specs.py, moe/moe_layer.py, moe/shared_experts.py",
    built_options=built_options,
)

HINT = ("to train DeepSeek-V2 with Primus, start from a Primus deepseek_v2 preset, or convert a launch of "
        "pretrain_gpt.py with --multi-latent-attention and the MLA/MoE options (that model has the input norm)")

KINDS = (DEEPSEEK_V2,)
