"""The model architecture: which keys define it, and which preset is closest.

A Primus model YAML describes the network, not the run. We define that set of
keys explicitly (below) so the choice of preset, and what goes in the model
file versus the experiment's overrides, never depends on what a preset happens
to contain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from migrate.values import same_value

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


@dataclass
class PresetMatch:
    """How far one preset is from the run, key by key."""

    name: str
    structure_diff: list[str] = field(default_factory=list)
    tokenizer_diff: list[str] = field(default_factory=list)
    lacking: list[str] = field(default_factory=list)  # keys the release could not set with this preset
    size: int = 0  # keys the preset chain sets: among equals, the more generic base is the better parent
    off_lineage: bool = False  # the run's model line is known and this preset is not of it
    run_lineage: str | None = None  # the run's model line (run_lineage), None: unknown

    @property
    def exact(self) -> bool:
        return not self.structure_diff

    def closeness(self) -> tuple:
        """What makes one preset a better parent than another, before the tie-breaks."""
        return (len(self.lacking), self.off_lineage, len(self.structure_diff))

    def sort_key(self) -> tuple:
        # a preset the release can express the run with, of the run's model line (when known), with
        # fewer structural differences, then tokenizer differences, then a concrete model over an
        # abstract `*_base` / `language_model`, then the name.
        abstract = self.name.endswith("_base") or self.name in ("language_model", "primus_megatron_model")
        return (*self.closeness(), len(self.tokenizer_diff), abstract, self.size, self.name)


# Model lines ("families" in the issue; `family` elsewhere is the network kind, gpt or hybrid):
# presets are of a line by their file name, as Primus names them; a run by facts of the run.
_PRESET_LINEAGE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^llama2_"), "llama2"),
    (re.compile(r"^llama3(?:\.\d+)?_"), "llama3"),  # llama3, llama3.1, llama3.2, llama3.3
    (re.compile(r"^(?:mixtral|mistral)_"), "mistral"),
    (re.compile(r"^(?:qwen2\.5|qwen3)_|^deepseek_r1_distill_qwen"), "qwen"),  # the distills are Qwen networks
    (re.compile(r"^deepseek_"), "deepseek"),
]
# tokenizer_vocab's labels -> model line
_TOKENIZER_LINEAGE = {"llama3": "llama3", "llama2": "llama2", "mixtral-8x7b": "mistral",
                      "mistral-7b-v0.1/v0.2": "mistral", "mistral-7b-v0.3": "mistral", "qwen1.5": "qwen",
                      "qwen2.5": "qwen", "qwen2": "qwen", "gpt2": "gpt"}
LLAMA3_ROTARY_BASE = 500000  # Llama 3's RoPE theta; Llama 2 and Megatron's default are 10000


def preset_lineage(name: str) -> str | None:
    """The model line of a Primus preset, from its file name (`llama3.1_70B` -> llama3); None: other."""
    for pattern, lineage in _PRESET_LINEAGE:
        if pattern.search(name):
            return lineage
    return None


def run_lineage(run: Mapping[str, Any]) -> str | None:
    """The model line of a run from its own facts, None when they do not say.

    Multi-latent attention is DeepSeek's; otherwise the tokenizer's name (migrate.tokenizer_vocab),
    except that a Llama tokenizer on a mixture of experts is no Llama 2/3 network; without a known
    tokenizer, a dense network with Llama 3's rotary base.
    """
    from migrate.tokenizer_vocab import known_tokenizer_label

    if run.get("multi_latent_attention"):
        return "deepseek"
    moe = bool(run.get("num_experts"))
    label = known_tokenizer_label(run.get("tokenizer_type"), run.get("tokenizer_model"))
    lineage = _TOKENIZER_LINEAGE.get(label) if label else None
    if lineage is not None:
        return None if moe and lineage in ("llama2", "llama3") else lineage
    if not moe and same_value(run.get("rotary_base"), LLAMA3_ROTARY_BASE):
        return "llama3"
    return None


def differing_keys(
    keys: Iterable[str],
    preset_values: Mapping[str, Any],
    preset_derived: Mapping[str, Any] | None,
    run_values: Mapping[str, Any],
    run_derived: Mapping[str, Any],
) -> list[str]:
    """Keys where the preset does not give the run's value.

    A key counts as equal when the raw values agree, or when both sides derive
    to the same value (`kv_channels: null` and `kv_channels: 128` with 32 heads
    of 4096 are the same model).
    """
    out = []
    for key in sorted(keys):
        if key not in run_values:
            continue
        mine = run_values[key]
        theirs = preset_values.get(key, _MISSING)
        if theirs is not _MISSING and same_value(theirs, mine):
            continue
        if preset_derived is not None and key in preset_derived and key in run_derived:
            if same_value(preset_derived[key], run_derived[key]):
                continue
        out.append(key)
    return out


_MISSING = object()


def rank_presets(
    baselines: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
    run_values: Mapping[str, Any],
    run_derived: Mapping[str, Any],
    lacking: Mapping[str, list[str]] | None = None,
    sizes: Mapping[str, int] | None = None,
) -> list[PresetMatch]:
    """Every preset (name -> (resolved values, derived values or None)) ranked closest first.

    When the run's model line is known (run_lineage), presets of another line rank after every
    preset of it; unknown, the ranking is by differences alone."""
    lineage = run_lineage(run_values)
    matches = []
    for name, (values, derived) in baselines.items():
        matches.append(PresetMatch(
            name,
            differing_keys(STRUCTURE_KEYS, values, derived, run_values, run_derived),
            differing_keys(TOKENIZER_KEYS, values, derived, run_values, run_derived),
            list((lacking or {}).get(name, [])),
            (sizes or {}).get(name, 0),
            lineage is not None and preset_lineage(name) != lineage,
            lineage,
        ))
    return sorted(matches, key=PresetMatch.sort_key)


def safe_derive(
    derive: Callable[[Mapping[str, Any]], dict[str, Any]], values: Mapping[str, Any]
) -> dict[str, Any] | None:
    """derive() on a preset baseline; abstract presets (no layer count) may not derive at all."""
    try:
        return derive(values)
    except Exception:  # noqa: BLE001 - a preset that does not derive simply gets no derived view
        return None
