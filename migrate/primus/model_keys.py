"""Which keys define a model: what a Primus model preset is about, as opposed to the run.

A Primus model YAML describes the network, not the run. The set of keys is explicit (below) so the
choice of preset, what goes in the model file versus the experiment's overrides, and the preset
index (`migrate.primus.preset_index`) never depend on what a preset happens to contain.
"""

from __future__ import annotations

# Keys that change the network's shape or its numerics. A mismatch on any of
# them means the preset is a different model.
STRUCTURE_KEYS: frozenset[str] = frozenset({
    # transformer shape
    "num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads",
    "group_query_attention", "num_query_groups", "kv_channels",
    # norms and activations
    "normalization", "norm_epsilon", "layernorm_epsilon", "apply_layernorm_1p", "qk_layernorm",
    "swiglu", "squared_relu", "openai_gelu", "onnx_safe", "apply_residual_connection_post_layernorm",
    # positions
    "position_embedding_type", "rotary_base", "rotary_percent", "rotary_interleaved",
    "rotary_seq_len_interpolation_factor", "use_rope_scaling", "rope_scaling_factor",
    "max_position_embeddings", "no_position_embedding",
    # embeddings, biases
    "untie_embeddings_and_output_weights", "add_bias_linear", "add_qkv_bias",
    "make_vocab_size_divisible_by", "vocab_size",
    # mixture of experts
    "num_experts", "moe_router_topk", "moe_ffn_hidden_size", "moe_shared_expert_intermediate_size",
    "moe_layer_freq", "moe_router_load_balancing_type", "moe_aux_loss_coeff", "moe_z_loss_coeff",
    "moe_router_score_function", "moe_router_pre_softmax", "moe_router_topk_scaling_factor",
    "moe_router_enable_expert_bias", "moe_router_num_groups", "moe_router_group_topk",
    "moe_shared_expert_overlap", "moe_router_bias_update_rate", "moe_input_jitter_eps",
    # multi-latent attention
    "multi_latent_attention", "q_lora_rank", "kv_lora_rank", "qk_head_dim", "qk_pos_emb_head_dim",
    "v_head_dim", "rotary_scaling_factor", "mscale", "mscale_all_dim", "original_max_position_embeddings",
    "beta_fast", "beta_slow",
    # multi-token prediction
    "mtp_num_layers",
})

# The tokenizer belongs with the model in Primus presets, but a different
# tokenizer (same weights layout, another way to fetch it) does not make a
# different architecture: it breaks ties between presets and is written as an
# override.
TOKENIZER_KEYS: frozenset[str] = frozenset({"tokenizer_type", "tokenizer_model", "vocab_file", "merge_file"})

ARCHITECTURE_KEYS: frozenset[str] = STRUCTURE_KEYS | TOKENIZER_KEYS
