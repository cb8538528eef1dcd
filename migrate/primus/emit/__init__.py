"""Megatron effective arguments -> Primus model + experiment YAML (and everything around them)."""

from migrate.primus.emit.architecture import ARCHITECTURE_KEYS, STRUCTURE_KEYS, TOKENIZER_KEYS
from migrate.primus.emit.overrides import MEGATRON_DEFAULT, Override, build_overrides, needed_overrides
from migrate.primus.emit.yamltext import format_float, render_value

__all__ = [
    "ARCHITECTURE_KEYS", "STRUCTURE_KEYS", "TOKENIZER_KEYS", "MEGATRON_DEFAULT", "Override",
    "build_overrides", "needed_overrides", "format_float", "render_value",
]
