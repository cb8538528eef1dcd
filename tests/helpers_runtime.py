"""Derived namespaces for runtime tests: Megatron's own defaults (the bundled d3528a21 schema)
plus a small Llama / Mixtral shape, as a migrated experiment would hand them to `train()`."""

from __future__ import annotations

from typing import Any

from migrate.megatron import load_schema


def megatron_defaults() -> dict[str, Any]:
    """argparse defaults of Megatron-LM d3528a21, derived when `migrate.megatron.derive` exists."""
    values = {k: (None if isinstance(v, dict) and "unevaluated" in v else v)
              for k, v in load_schema("d3528a21").defaults().items()}
    values["local_rank"] = 0
    return values


def _derived(values: dict[str, Any]) -> dict[str, Any]:
    from migrate.megatron import derive

    return derive(values, load_schema("d3528a21"))


LLAMA = dict(
    num_layers=2, hidden_size=64, ffn_hidden_size=176, num_attention_heads=8,
    group_query_attention=True, num_query_groups=2, kv_channels=8,
    seq_length=64, max_position_embeddings=64, position_embedding_type="rope", rotary_base=500000,
    normalization="RMSNorm", swiglu=True, untie_embeddings_and_output_weights=True,
    add_bias_linear=False, hidden_dropout=0.0, attention_dropout=0.0,
    micro_batch_size=2, global_batch_size=8, train_iters=20, vocab_size=511,
    lr=3e-3, min_lr=3e-4, lr_decay_style="cosine", lr_warmup_iters=2, weight_decay=0.1,
    adam_beta2=0.95, mock_data=True, split="99,1,0", tokenizer_type="NullTokenizer", log_interval=1,
)

MIXTRAL = dict(
    LLAMA, num_experts=4, moe_router_topk=2, moe_aux_loss_coeff=1e-2,
    moe_router_load_balancing_type="aux_loss", moe_token_dispatcher_type="alltoall", moe_ffn_hidden_size=176,
)


def llama_namespace(**overrides: Any) -> dict[str, Any]:
    """A small Llama-3-shaped run (GQA 4:1, swiglu, RMSNorm, rope, untied embeddings) on mock data."""
    values = megatron_defaults()
    values.update(LLAMA)
    values.update(overrides)
    return _derived(values)


def mixtral_namespace(**overrides: Any) -> dict[str, Any]:
    """A small Mixtral-shaped run: 4 experts, top-2, aux loss, all-to-all token dispatcher."""
    return llama_namespace(**{**MIXTRAL, **overrides})
