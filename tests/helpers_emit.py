"""A small hand-built Primus world for emitter tests: presets in memory, a loader, a derive().

The fake loader follows the documented primus-26.5 composition (module preset,
then model keys the module does not set, then overrides) with `extends:` from
a model file beside the experiment; `derive` fills the two values Megatron
derives in these tests (ffn_hidden_size = 4 * hidden_size, kv_channels =
hidden_size / num_attention_heads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import yaml

from migrate.diagnostics import MigrateError, Origin
from migrate.primus.resolved import ResolvedConfig
from migrate.values import same_value

SCHEMA_DEFAULTS: dict[str, Any] = {
    "num_layers": None, "hidden_size": None, "ffn_hidden_size": None, "num_attention_heads": None,
    "kv_channels": None, "normalization": "LayerNorm", "rotary_base": 10000, "swiglu": False,
    "tokenizer_type": None, "tokenizer_model": None,
    "micro_batch_size": None, "global_batch_size": None, "lr": None, "lr_warmup_iters": 0,
    "weight_decay": 0.01, "sequence_parallel": False, "tensor_model_parallel_size": 1,
    "eval_iters": 100, "bf16": False, "norm_epsilon": 1e-5,
}

MODULE_PRESET: dict[str, Any] = {
    "lr_warmup_iters": 40, "weight_decay": 0.0, "sequence_parallel": True, "eval_iters": 0,
    "tensor_model_parallel_size": 1, "micro_batch_size": 1, "global_batch_size": 128, "lr": 1.0e-4,
    "bf16": True, "stderr_sink_level": "INFO",
}

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "tiny_base": {"normalization": "RMSNorm", "swiglu": True, "rotary_base": 500000, "norm_epsilon": 1.0e-5,
                  "tokenizer_type": "HuggingFaceTokenizer"},
    "tiny_8B": {"extends": ["tiny_base.yaml"], "num_layers": 32, "hidden_size": 4096,
                "ffn_hidden_size": 14336, "num_attention_heads": 32, "tokenizer_model": "org/tiny-8B"},
    "tiny_70B": {"extends": ["tiny_base.yaml"], "num_layers": 80, "hidden_size": 8192,
                 "ffn_hidden_size": 28672, "num_attention_heads": 64, "tokenizer_model": "org/tiny-70B"},
}


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if out.get("ffn_hidden_size") is None and out.get("hidden_size") is not None:
        out["ffn_hidden_size"] = 4 * out["hidden_size"]
    if out.get("kv_channels") is None and out.get("hidden_size") and out.get("num_attention_heads"):
        out["kv_channels"] = out["hidden_size"] // out["num_attention_heads"]
    return out


@dataclass
class FakeResolved(ResolvedConfig):
    """A real ResolvedConfig whose profile name defaults to the fake target's."""

    profile: str = "fake-26.5"


@dataclass
class FakeProfile:
    configs_dir: Path
    name: str = "fake-26.5"
    megatron_schema: str = "fake"
    inherit_key: str = "extends"
    release: str = "fake"
    presets: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(MODEL_PRESETS))

    @property
    def rules(self):  # the release rules a Profile carries: v0.1.0-rc1's for `bases:`, v26.5.1's else
        from migrate.primus.releases import release

        return release("v0.1.0-rc1" if self.inherit_key == "bases" else "v26.5.1")

    def model_presets(self) -> dict[str, Path]:
        return {n: self.configs_dir / "models" / "megatron" / f"{n}.yaml" for n in self.presets}


def _flatten_model(profile: FakeProfile, data: Mapping[str, Any], where: Path) -> tuple[dict, dict]:
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for ref in data.get("extends", []) or []:
        name = Path(ref).stem
        if name not in profile.presets:
            raise MigrateError(f"unknown base {ref}")
        base_path = profile.configs_dir / "models" / "megatron" / f"{name}.yaml"
        v, o = _flatten_model(profile, profile.presets[name], base_path)
        values.update(v)
        origins.update(o)
    for key, value in data.items():
        if key != "extends":
            values[key] = value
            origins[key] = Origin(str(where))
    return values, origins


def fake_resolver(profile: FakeProfile):
    """Resolver(files, experiment) over the in-memory presets."""

    def resolve(files: Mapping[str, str], experiment: str) -> FakeResolved:
        exp = yaml.safe_load(files[experiment])
        module = exp["modules"]["pre_trainer"]
        ref = module["model"]
        module_path = profile.configs_dir / "modules" / "megatron" / "pre_trainer.yaml"
        values = {k: v for k, v in SCHEMA_DEFAULTS.items()}
        origins: dict[str, Origin] = {}
        for k, v in MODULE_PRESET.items():
            values[k] = v
            origins[k] = Origin(str(module_path))
        # like migrate.primus.loader: a model file beside the experiment or in models/megatron/
        user_file = next((p for p in (ref, f"models/megatron/{ref}") if p in files), None)
        if user_file is not None:
            model_values, model_origins = _flatten_model(profile, yaml.safe_load(files[user_file]), Path(user_file))
        elif Path(ref).stem in profile.presets:
            name = Path(ref).stem
            model_values, model_origins = _flatten_model(
                profile, profile.presets[name], profile.configs_dir / "models" / "megatron" / f"{name}.yaml")
        else:
            raise MigrateError(f"model {ref} not found")
        for k, v in model_values.items():
            if k not in MODULE_PRESET:
                values[k] = v
                origins[k] = model_origins[k]
        for k, v in (module.get("overrides") or {}).items():
            values[k] = v
            origins[k] = Origin(experiment)
        primus_only = {k: values.pop(k) for k in list(values) if k not in SCHEMA_DEFAULTS}
        return FakeResolved(values, origins, primus_only)

    return resolve


def fake_parity(profile: FakeProfile):
    from migrate.conversion.static_parity import check_static_parity

    class _Schema:
        def defaults(self) -> dict[str, Any]:
            return dict(SCHEMA_DEFAULTS)

    class _P:  # a Profile's name, schema and release rules (none of its dests ignored)
        name = profile.name
        rules = SimpleNamespace(ignored_dests={})

        def schema(self):
            return _Schema()

    def check(expected, resolved):
        return check_static_parity(expected, resolved, _P(), derive=derive)

    return check


def run_of(**explicit: Any) -> tuple[dict[str, Any], dict[str, Origin | None]]:
    """A legacy run: Megatron defaults plus the given flags (each with a made-up script line)."""
    values = dict(SCHEMA_DEFAULTS)
    origins: dict[str, Origin | None] = {}
    for line, (key, value) in enumerate(explicit.items(), start=10):
        values[key] = value
        origins[key] = Origin("train.sh", line)
    return values, origins


def same(a: Any, b: Any) -> bool:
    return same_value(a, b)
