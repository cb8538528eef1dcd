"""Will a full-size parity run fit this machine? Answer before starting it.

Training state is estimated as parameters x bytes per parameter: the weights
in their training dtype, fp32 gradients and, for Adam, an fp32 master copy
plus two fp32 moments (the usual 16-18 bytes per parameter of mixed-precision
training). Activations come on top, so the estimate is a lower bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

DEFAULT_VOCAB = 32000  # when the vocabulary comes from a tokenizer file we cannot read here


@dataclass
class MemoryEstimate:
    params: int
    bytes_per_param: int
    replicas: int  # data-parallel copies living on this machine
    vocab_assumed: bool

    @property
    def bytes(self) -> int:
        return self.params * self.bytes_per_param * self.replicas

    def describe(self) -> str:
        vocab = " (vocabulary size assumed)" if self.vocab_assumed else ""
        copies = f" x {self.replicas} data-parallel copies" if self.replicas > 1 else ""
        count = f"{self.params / 1e9:.2f}B" if self.params >= 1e9 else f"{self.params / 1e6:.2f}M"
        return (f"{count} parameters{vocab} x {self.bytes_per_param} bytes "
                f"(weights, fp32 grads, optimizer state){copies} = {gib(self.bytes):.2f} GiB")


def gib(n: float) -> float:
    return n / 2**30


def count_params(cfg: Mapping[str, Any]) -> tuple[int, bool]:
    """GPT parameter count from Megatron dests; returns (count, vocab_assumed)."""
    h = int(cfg.get("hidden_size") or 0)
    layers = int(cfg.get("num_layers") or 0)
    heads = int(cfg.get("num_attention_heads") or 1)
    kv_ch = int(cfg.get("kv_channels") or (h // heads if heads else 0))
    groups = int(cfg.get("num_query_groups") or heads) if cfg.get("group_query_attention") else heads
    ffn = int(cfg.get("ffn_hidden_size") or 4 * h)
    vocab = cfg.get("padded_vocab_size") or cfg.get("vocab_size")
    assumed = not vocab
    vocab = int(vocab or DEFAULT_VOCAB)
    bias = bool(cfg.get("add_bias_linear", True))
    attn = h * (heads + 2 * groups) * kv_ch + heads * kv_ch * h
    if cfg.get("add_qkv_bias") or bias:
        attn += (heads + 2 * groups) * kv_ch
    mlp_one = (3 if cfg.get("swiglu") else 2) * h * ffn + (ffn + h if bias else 0)
    experts = int(cfg.get("num_experts") or 0)
    mlp = mlp_one * experts + h * experts if experts else mlp_one
    per_layer = attn + mlp + 4 * h  # two norms (weight + bias upper bound)
    embed = vocab * h
    if cfg.get("position_embedding_type", "learned_absolute") == "learned_absolute":
        embed += int(cfg.get("max_position_embeddings") or 0) * h
    output = vocab * h if cfg.get("untie_embeddings_and_output_weights") else 0
    return layers * per_layer + embed + output + 2 * h, assumed


def bytes_per_param(cfg: Mapping[str, Any]) -> int:
    weights = 2 if (cfg.get("bf16") or cfg.get("fp16")) else 4
    master = 4 if weights == 2 else 0
    optimizer = 8 if cfg.get("optimizer", "adam") == "adam" else 4  # Adam: two moments; SGD: momentum
    return weights + 4 + master + optimizer


def estimate(cfg: Mapping[str, Any], replicas: int = 1) -> MemoryEstimate:
    params, assumed = count_params(cfg)
    return MemoryEstimate(params, bytes_per_param(cfg), max(1, replicas), assumed)


def available_bytes() -> int | None:
    """Memory this machine can still give a CPU run (MemAvailable), None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
