"""Megatron arguments <-> Primus configs: target profiles, loaders, reverse conversion.

    profile = get_profile("primus-26.5")            # any target of `targets()`, or primus_path=CHECKOUT
    profile.rules                                   # its release's rules (migrate.primus.releases)
    resolved = resolve_experiment("exp.yaml", profile)          # ResolvedConfig
    resolved = resolve_experiment_text({"exp.yaml": text, "model.yaml": text2}, "exp.yaml", profile)
    argv = to_argv(resolved.values, profile.schema())           # rollback to a Megatron argv
    profile.model_presets(); profile.load_model_preset("llama3_8B")   # presets, with .origins
"""

from migrate.primus.loader import resolve_experiment, resolve_experiment_text
from migrate.primus.profiles import DEFAULT_TARGET, PresetValues, Profile, detect_target, get_profile, targets
from migrate.primus.resolved import ResolvedConfig
from migrate.primus.to_argv import to_argv


def __getattr__(name: str):
    if name == "TARGETS":  # the bundled target names (configs/<target>/target.json), read when first asked
        return targets()
    raise AttributeError(name)


__all__ = [
    "DEFAULT_TARGET",
    "PresetValues",
    "Profile",
    "ResolvedConfig",
    "detect_target",
    "get_profile",
    "resolve_experiment",
    "resolve_experiment_text",
    "targets",
    "to_argv",
]
