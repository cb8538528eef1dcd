"""Proxy mode: the same architecture at a size that trains on two CPU cores in seconds.

Each rule keeps a structural property (GQA ratio, gated MLP, MoE top-k and routing
groups, MLA, dense-then-MoE layer pattern) and shrinks a size. The shrunk values do
not depend on the parallel layout (for TP, PP, EP, DP up to 2), so a TP=2 proxy run
trains the same model as the TP=1 proxy run. A layout larger than the processes at
hand is reduced to fit them (TP=8 on one process trains at TP=1). Every change is returned as a line
of text, printed by the caller and kept in RunResult.shrinks.
"""

from __future__ import annotations

from typing import Any

HEAD_DIM = 16
PROXY_VOCAB = 512
PROXY_SEQ = 64


def _set(ns: dict[str, Any], shrinks: list[str], key: str, value: Any) -> None:
    if key in ns and ns[key] != value:
        shrinks.append(f"{key}: {ns[key]} -> {value}")
        ns[key] = value


def fit_layout(ns: dict[str, Any], world_size: int, shrinks: list[str]) -> None:
    """Reduce TP/PP/CP/EP (each to a divisor of what it was) until the layout fits `world_size`."""
    from math import gcd

    keys = ("tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size")
    left = world_size
    for key in keys:
        size = int(ns.get(key) or 1)
        fitted = gcd(size, left)
        _set(ns, shrinks, key, fitted)
        left //= fitted
    tp, pp = int(ns["tensor_model_parallel_size"]), int(ns["pipeline_model_parallel_size"])
    etp = int(ns.get("expert_tensor_parallel_size") or tp)
    if ns.get("expert_tensor_parallel_size") is not None:
        etp = gcd(etp, world_size // pp)
        _set(ns, shrinks, "expert_tensor_parallel_size", etp)
    ep = int(ns.get("expert_model_parallel_size") or 1)
    _set(ns, shrinks, "expert_model_parallel_size", gcd(ep, world_size // (pp * etp)))
    if ns.get("sequence_parallel") and tp == 1:
        _set(ns, shrinks, "sequence_parallel", False)


def shrink(config: dict[str, Any], world_size: int) -> tuple[dict[str, Any], list[str]]:
    ns = dict(config)
    shrinks: list[str] = []
    fit_layout(ns, world_size, shrinks)
    tp = int(ns.get("tensor_model_parallel_size") or 1)
    pp = int(ns.get("pipeline_model_parallel_size") or 1)
    ep = int(ns.get("expert_model_parallel_size") or 1)

    hidden = _shrink_attention(ns, shrinks, tp)
    _shrink_layers(ns, shrinks, pp)
    _shrink_experts(ns, shrinks, ep, hidden)
    _shrink_latent_attention(ns, shrinks)
    _shrink_sequence_vocabulary_batch(config, ns, shrinks, tp * pp, world_size)
    return ns, shrinks


def _shrink_attention(ns: dict[str, Any], shrinks: list[str], tp: int) -> int:
    """Keep the query-per-group ratio over two query groups (four heads without GQA); the new hidden size."""
    heads = int(ns["num_attention_heads"])
    groups = int(ns["num_query_groups"] or heads) if ns.get("group_query_attention") else heads
    ratio = max(1, heads // groups)
    new_groups = min(groups, max(2 if ratio > 1 else 4, tp))
    new_heads = new_groups * ratio
    _set(ns, shrinks, "num_attention_heads", new_heads)
    if ns.get("group_query_attention"):
        _set(ns, shrinks, "num_query_groups", new_groups)
    hidden = max(64, min(int(ns["hidden_size"]), new_heads * HEAD_DIM))
    ffn_ratio = int(ns["ffn_hidden_size"]) / int(ns["hidden_size"])
    _set(ns, shrinks, "hidden_size", hidden)
    _set(ns, shrinks, "kv_channels", hidden // new_heads)
    _set(ns, shrinks, "ffn_hidden_size", max(32, int(round(hidden * ffn_ratio / 16)) * 16))
    return hidden


def _shrink_layers(ns: dict[str, Any], shrinks: list[str], pp: int) -> None:
    """Two layers (or one per pipeline stage), keeping dense-then-MoE patterns."""
    layers = int(ns["num_layers"])
    new_layers = min(layers, max(2, pp))
    _set(ns, shrinks, "num_layers", new_layers)
    for key in (
        "decoder_first_pipeline_num_layers",
        "decoder_last_pipeline_num_layers",
        "num_layers_per_virtual_pipeline_stage",
    ):
        if ns.get(key) is not None:
            _set(ns, shrinks, key, None)
    freq = ns.get("moe_layer_freq")
    if isinstance(freq, (list, tuple)) and len(freq) != new_layers:
        dense_first = bool(freq) and not freq[0]
        _set(ns, shrinks, "moe_layer_freq", [0] + [1] * (new_layers - 1) if dense_first else [1] * new_layers)
    if ns.get("mtp_num_layers"):
        _set(ns, shrinks, "mtp_num_layers", None)


def _shrink_experts(ns: dict[str, Any], shrinks: list[str], ep: int, hidden: int) -> None:
    """Keep top-k and routing groups, fewer and smaller experts."""
    experts = ns.get("num_experts")
    if experts:
        topk = int(ns.get("moe_router_topk") or 1)
        groups_r = int(ns.get("moe_router_num_groups") or 1)
        new_experts = min(int(experts), max(4, 2 * topk, 2 * groups_r))
        new_experts += (-new_experts) % max(ep, groups_r, 1)
        _set(ns, shrinks, "num_experts", new_experts)
        for key in ("moe_ffn_hidden_size", "moe_shared_expert_intermediate_size"):
            if ns.get(key):
                _set(ns, shrinks, key, max(16, min(int(ns[key]), hidden // 2)))


def _shrink_latent_attention(ns: dict[str, Any], shrinks: list[str]) -> None:
    """Multi-latent attention sizes."""
    if ns.get("multi_latent_attention"):
        for key, size in (("q_lora_rank", 32), ("kv_lora_rank", 32), ("qk_head_dim", HEAD_DIM),
                          ("qk_pos_emb_head_dim", 8), ("v_head_dim", HEAD_DIM)):
            if ns.get(key):
                _set(ns, shrinks, key, min(int(ns[key]), size))


def _shrink_sequence_vocabulary_batch(config: dict[str, Any], ns: dict[str, Any], shrinks: list[str], tp_pp: int,
                                      world_size: int) -> None:
    """Sequence, vocabulary, batch."""
    _set(ns, shrinks, "seq_length", min(int(ns["seq_length"]), PROXY_SEQ))
    if ns.get("max_position_embeddings"):
        _set(
            ns,
            shrinks,
            "max_position_embeddings",
            min(int(ns["max_position_embeddings"]), max(PROXY_SEQ, ns["seq_length"])),
        )
    ns["vocab_size"] = PROXY_VOCAB - 1  # + the end-of-document token = PROXY_VOCAB
    before = (
        config.get("padded_vocab_size")
        or config.get("vocab_size")
        or config.get("tokenizer_model")
        or config.get("tokenizer_type")
    )
    shrinks.append(f"vocabulary: {before or 'tokenizer'} -> {PROXY_VOCAB}")
    ns["padded_vocab_size"] = PROXY_VOCAB
    mbs = min(int(ns["micro_batch_size"]), 2)
    _set(ns, shrinks, "micro_batch_size", mbs)
    tp_pp_cp = tp_pp * int(ns.get("context_parallel_size") or 1)
    dp = max(1, world_size // tp_pp_cp)
    gbs = min(int(ns["global_batch_size"]), 4 * mbs)
    gbs += (-gbs) % (mbs * dp)
    _set(ns, shrinks, "global_batch_size", gbs)
    if ns.get("rampup_batch_size"):
        _set(ns, shrinks, "rampup_batch_size", None)


def shorten_schedule(ns: dict[str, Any], iters: int, shrinks: list[str]) -> None:
    """Scale the LR schedule's iteration counts to a proxy run of `iters` steps."""
    total = ns.get("train_iters")
    if not total or iters >= int(total):
        return
    scale = iters / int(total)
    for key in ("lr_decay_iters", "lr_warmup_iters", "lr_wsd_decay_iters"):
        value = ns.get(key)
        if value:
            _set(ns, shrinks, key, max(1 if key != "lr_warmup_iters" else 0, int(round(int(value) * scale))))
    decay = int(ns.get("lr_decay_iters") or iters)  # Megatron: lr_decay_iters defaults to train_iters
    if ns.get("lr_warmup_iters") and int(ns["lr_warmup_iters"]) >= decay:
        _set(ns, shrinks, "lr_warmup_iters", max(0, decay - 1))  # the scheduler needs warmup < decay
