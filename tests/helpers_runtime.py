"""Hand-built derived namespaces for runtime tests (Megatron argparse defaults + a Llama/Mixtral shape)."""

from __future__ import annotations

from typing import Any

# Megatron-LM argparse defaults (megatron/training/arguments.py @ d3528a21) for the keys the
# runtime reads, as validate_args leaves them.
MEGATRON_DEFAULTS: dict[str, Any] = {
    "num_layers": None, "hidden_size": None, "ffn_hidden_size": None, "num_attention_heads": None,
    "group_query_attention": False, "num_query_groups": 1, "kv_channels": None,
    "seq_length": None, "max_position_embeddings": None, "position_embedding_type": "learned_absolute",
    "rotary_base": 10000, "rotary_percent": 1.0, "normalization": "LayerNorm", "norm_epsilon": 1e-5,
    "swiglu": False, "untie_embeddings_and_output_weights": False, "add_bias_linear": True,
    "hidden_dropout": 0.1, "attention_dropout": 0.1, "init_method_std": 0.02,
    "make_vocab_size_divisible_by": 128, "bf16": False, "fp16": False,
    "micro_batch_size": None, "global_batch_size": None, "train_iters": None,
    "lr": None, "min_lr": 0.0, "lr_decay_style": "linear", "lr_decay_iters": None, "lr_warmup_iters": 0,
    "lr_warmup_fraction": None, "lr_warmup_init": 0.0, "weight_decay": 0.01, "start_weight_decay": None,
    "end_weight_decay": None, "weight_decay_incr_style": "constant", "lr_wsd_decay_iters": None,
    "lr_wsd_decay_style": "exponential",
    "optimizer": "adam", "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_eps": 1e-8, "sgd_momentum": 0.9,
    "clip_grad": 1.0, "seed": 1234, "tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1,
    "context_parallel_size": 1, "expert_model_parallel_size": 1, "num_experts": None, "moe_router_topk": 2,
    "sequence_parallel": False, "mock_data": False, "data_path": None, "split": None, "log_interval": 100,
}


def llama_namespace(**overrides: Any) -> dict[str, Any]:
    """A small Llama-3-shaped run (GQA 4:1, swiglu, RMSNorm, rope, untied embeddings) on mock data."""
    ns = dict(MEGATRON_DEFAULTS)
    ns.update(
        num_layers=2, hidden_size=64, ffn_hidden_size=176, num_attention_heads=8,
        group_query_attention=True, num_query_groups=2, kv_channels=8,
        seq_length=64, max_position_embeddings=64, position_embedding_type="rope", rotary_base=500000,
        normalization="RMSNorm", swiglu=True, untie_embeddings_and_output_weights=True,
        add_bias_linear=False, hidden_dropout=0.0, attention_dropout=0.0,
        micro_batch_size=2, global_batch_size=8, train_iters=20, vocab_size=511,
        lr=3e-3, min_lr=3e-4, lr_decay_style="cosine", lr_warmup_iters=2, weight_decay=0.1,
        start_weight_decay=0.1, end_weight_decay=0.1, adam_beta2=0.95, mock_data=True, split="99,1,0",
    )
    ns.update(overrides)
    return ns


def mixtral_namespace(**overrides: Any) -> dict[str, Any]:
    """A small Mixtral-shaped run: 4 experts, top-2, aux loss, alltoall dispatcher."""
    ns = llama_namespace(num_experts=4, moe_router_topk=2, moe_aux_loss_coeff=1e-2,
                         moe_router_load_balancing_type="aux_loss", moe_token_dispatcher_type="alltoall",
                         moe_ffn_hidden_size=176)
    ns.update(overrides)
    return ns
