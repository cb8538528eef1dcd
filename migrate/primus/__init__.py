"""Megatron arguments <-> Primus configs: target profiles, loaders, emitter."""

from migrate.primus.loader import resolve_experiment, resolve_experiment_text
from migrate.primus.profiles import TARGETS, Profile, PresetValues, detect_target, get_profile
from migrate.primus.resolved import ResolvedConfig
from migrate.primus.to_argv import to_argv

__all__ = [
    "TARGETS",
    "Profile",
    "PresetValues",
    "ResolvedConfig",
    "detect_target",
    "get_profile",
    "resolve_experiment",
    "resolve_experiment_text",
    "to_argv",
]
