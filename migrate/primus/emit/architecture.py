"""The model architecture: which preset is closest to the run.

Which keys define a model is `migrate.primus.model_keys` (the preset index reads them too); they are
imported here, where the ranking uses them, and re-exported for the emitter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from migrate.primus.model_keys import ARCHITECTURE_KEYS as ARCHITECTURE_KEYS
from migrate.primus.model_keys import STRUCTURE_KEYS as STRUCTURE_KEYS
from migrate.primus.model_keys import TOKENIZER_KEYS as TOKENIZER_KEYS
from migrate.values import same_value


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
