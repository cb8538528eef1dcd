"""How a Primus release turns a torchtitan experiment into torchtitan's JobConfig.

primus-26.5 (Primus v26.5.1, torchtitan 73a0e697):
  - `PrimusParser.parse_trainer_module` (primus/core/launcher/parser.py): module preset
    `modules/torchtitan/<config>` (`extends:` resolved) + the experiment module's other keys (where
    the preset lacks them) + model preset `models/torchtitan/<model>` through
    `merge_namespace(allow_override=False)`: only TOP-LEVEL keys the module preset lacks are taken
    (a model preset's `training:` is dropped whole when the module preset has one) + `overrides:`
    deep-merged; leaves re-assigned through `set_value_by_key` turn the string "null" into None.
  - `_normalize_module_for_runtime` (primus/core/config/primus_config.py): every key but name,
    framework, config, model, params, trainer_class becomes a param; `params.model = module.model`.
  - `TorchTitanJobConfigBuilder` (primus/backends/torchtitan/argument_builder.py):
    `deep_merge(JobConfig().to_dict(), params)`; `build_job_config_from_namespace` builds the
    dataclasses and attaches keys JobConfig lacks as plain attributes (torchtitan never reads them).
  - Keys JobConfig lacks that still change the run, through Primus's patches
    (primus/backends/torchtitan/patches/): `training.mock_data` (replaces datasets.load_dataset),
    `primus_turbo.enable_primus_turbo` (Turbo attention / linear / grouped-mm kernels),
    `primus_turbo.enable_embedding_autocast` (casts embedding outputs under autocast).
primus-0.1 (Primus v0.1.0-rc1, torchtitan 4c4388f6):
  - `PrimusParser.parse_trainer_module`: module preset (`bases:`/`includes:`, every string that reads
    as a number becomes one) + model preset (`merge_namespace(allow_override=False)`: a top-level key
    in both is an error) + `overrides:`, whose every key, nested ones included, must already exist.
  - `TorchTitanPretrainTrainer.build_job_config` (primus/modules/trainer/torchtitan/pre_trainer.py):
    `_dict_to_dataclass(JobConfig + the custom_args_module extension, module dict)`: missing fields
    keep their defaults, unknown keys are ignored; the same fields as `deep_merge(defaults, params)`.
  - `primus_turbo.enable_primus_turbo` swaps in Primus's attention, MX converter and async TP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from migrate import limits
from migrate.diagnostics import MigrateError, Origin
from migrate.primus.inherit import deep_merge
from migrate.primus.inherit import Layer
from migrate.primus.loader import META_KEYS, merge_refusing_shared, nulls_after_merge, override_existing
from migrate.primus.profiles import Profile
from migrate.primus.releases.base import MODULE_KEYS_KEPT_OUT, RESERVED_MODULE_KEYS
from migrate.primus.yamlio import key_line
from migrate.torchtitan.schema import TitanSchema, load_schema


# Converters registered at the torchtitan pin a release bundles (`Release.torchtitan_schema`;
# torchtitan/components/quantization/{float8,mx}.py `register_model_converter`) and Primus's own
# (primus_turbo_converter.py), keyed by that pin.
REGISTERED_CONVERTERS = {
    "73a0e697": ("quantize.linear.float8", "quantize.grouped_mm.float8", "quantize.linear.mx",
                    "quantize.grouped_mm.mx", "primus_turbo"),
    # torchtitan 4c4388f6 components/quantization/{float8,mx}.py; Primus v0.1.0-rc1's own converters
    "4c4388f6": ("float8", "mx", "primus_turbo", "primus_turbo_mx"),
}
# Primus-only keys that change the run; the value that keeps torchtitan's behaviour, and why.
BEHAVIOUR_KEYS: dict[str, tuple[Any, str]] = {
    "training.mock_data": (False, "Primus's mock-data patch would replace the job's dataset"),
    "primus_turbo.enable_primus_turbo": (False, "Primus Turbo would swap in its own attention/linear kernels"),
    "primus_turbo.enable_embedding_autocast": (False, "Primus would cast embedding outputs under autocast"),
}


def model_overrides(primus_only: Mapping[str, Any]) -> dict[str, Any]:
    """`model.<key>` entries JobConfig lacks: Primus's model_override patch (model_override_patches.py)
    applies each to the flavor's model args (`model.n_layers: 126` in the llama3.1_405B presets)."""
    return {k: v for k, v in primus_only.items() if k.startswith("model.")}


# JobConfig fields whose Primus value legitimately differs from the job's, and why.
EXCEPTIONS: dict[str, str] = {
    "experimental.custom_args_module": "Primus loads its JobConfig extension (it only adds the primus_turbo section)",
    "job.config_file": "names the job's TOML, which the Primus run does not read (it records the path only)",
}


@dataclass
class TitanResolved:
    values: dict[str, Any]            # dotted JobConfig field -> value torchtitan receives
    primus_only: dict[str, Any]       # dotted keys JobConfig lacks (attached, unread by torchtitan)
    origins: dict[str, Origin] = field(default_factory=dict)
    experiment: str = ""
    target: str = ""
    preset: str = ""


def require_supported(profile: Profile) -> TitanSchema:
    """The JobConfig schema of the torchtitan the profile's release pins."""
    pin = profile.rules.torchtitan_schema
    if pin is None or pin not in REGISTERED_CONVERTERS:
        from migrate.primus.profiles import catalog

        able = [name for name, info in catalog().items() if info.rules.torchtitan_schema in REGISTERED_CONVERTERS]
        why = profile.rules.torchtitan_refused or "its torchtitan integration is not modelled"
        raise MigrateError(f"torchtitan jobs cannot be converted for {profile.name} (Primus {profile.release}: "
                           f"{why})", hint=f"targets: {', '.join(able)}")
    return load_schema(pin)


def registered_converters(profile: Profile) -> tuple[str, ...]:
    """The model converters the release's torchtitan knows (see REGISTERED_CONVERTERS)."""
    return REGISTERED_CONVERTERS.get(profile.rules.torchtitan_schema or "", ())


def models_dir(profile: Profile) -> Path:
    return profile.configs_dir / "models" / "torchtitan"


def modules_dir(profile: Profile) -> Path:
    return profile.configs_dir / "modules" / "torchtitan"


def model_presets(profile: Profile) -> dict[str, Path]:
    return {p.stem: p for p in sorted(models_dir(profile).glob("*.yaml"))}


def _preset(folder: Path, ref: Any, origin: Origin, kind: str) -> Path:
    if not isinstance(ref, str) or not ref:
        raise MigrateError(f"'{kind}' must be a YAML file name, got {ref!r}", origin=origin)
    path = folder / (ref if ref.endswith((".yaml", ".yml")) else ref + ".yaml")
    root = folder.parent.parent.resolve()
    if os.path.commonpath([str(path.resolve()), str(root)]) != str(root) or not path.is_file():
        known = ", ".join(sorted(p.name for p in folder.glob("*.yaml")))
        raise MigrateError(f"{kind} file '{ref}' not found in {folder.parent.name}/{folder.name}", origin=origin,
                           hint=f"available: {known}")
    return path


def build_params(profile: Profile, module: Mapping[str, Any], exp_path: Path, line: int,
                 env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Origin]]:
    """The params Primus hands the torchtitan backend (module + model preset + overrides)."""
    for key in ("config", "model"):
        if key not in module:
            raise MigrateError(f"torchtitan module has no '{key}' key", origin=Origin(str(exp_path), line))
    if profile.rules.presets.shared_keys == "refused":
        return _build_params_strict(profile, module, exp_path, line, env)
    return _build_params_merged(profile, module, exp_path, line, env)


def _build_params_strict(profile: Profile, module: Mapping[str, Any], exp_path: Path, line: int,
                      env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Origin]]:
    at = lambda key: Origin(str(exp_path), key_line(module, key) or line)  # noqa: E731
    config_path = _preset(modules_dir(profile), module["config"], at("config"), "config")
    mod = profile.load_file(config_path, env, (), at("config"))
    mod.values["framework"] = module.get("framework")
    model = profile.load_file(_preset(models_dir(profile), module["model"], at("model"), "model"), env, (), at("model"))
    merged = merge_refusing_shared(Layer(dict(mod.values), dict(mod.origins), mod.path), model)
    values = merged.values
    origins: dict[str, Origin] = {}
    for key in values:
        origins.update(_leaf_origins({key: values[key]}, merged.origins.get(key, Origin(str(mod.path)))))
    overrides = module.get("overrides")
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise MigrateError("'overrides' must be a mapping", origin=at("overrides"))
        override_existing(values, overrides, None, exp_path)
        origins.update(_leaf_origins(overrides, Origin(str(exp_path), key_line(module, "overrides") or line)))
    return dict(values), origins


def _build_params_merged(profile: Profile, module: Mapping[str, Any], exp_path: Path, line: int,
                      env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Origin]]:
    at = lambda key: Origin(str(exp_path), key_line(module, key) or line)  # noqa: E731
    config_path = _preset(modules_dir(profile), module["config"], at("config"), "config")
    mod = profile.load_file(config_path, env, (), at("config"))
    values: dict[str, Any] = dict(mod.values)
    origins: dict[str, Origin] = {}
    for key in values:
        origins.update(_leaf_origins({key: values[key]}, mod.origins.get(key, Origin(str(mod.path)))))
    for key, value in module.items():
        if key not in MODULE_KEYS_KEPT_OUT and not str(key).startswith("_") and key not in values:
            values[key], origins[key] = value, at(key)
    model = profile.load_file(_preset(models_dir(profile), module["model"], at("model"), "model"), env, (), at("model"))
    add = {k: v for k, v in model.values.items() if k != "name" and k not in values}
    if "model" not in model.values:
        add["model"] = module["model"]
    values = nulls_after_merge(values, deep_merge(values, add))
    for key in add:
        origins.update(_leaf_origins({key: add[key]}, model.origins.get(key, Origin(str(model.path)))))
    overrides = module.get("overrides")
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise MigrateError("'overrides' must be a mapping", origin=at("overrides"))
        values = nulls_after_merge(values, deep_merge(values, overrides))
        origins.update(_leaf_origins(overrides, Origin(str(exp_path), key_line(module, "overrides") or line)))
    params = {k: v for k, v in values.items() if k not in RESERVED_MODULE_KEYS and not str(k).startswith("_")}
    params["model"] = values.get("model")
    return params, origins


def _leaf_origins(tree: Mapping[str, Any], parent: Origin, prefix: str = "") -> dict[str, Origin]:
    """dotted key -> the line that set it (the parent's line where the YAML kept no position)."""
    out: dict[str, Origin] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        line = key_line(tree, key)
        here = Origin(parent.file, line) if line else parent
        if isinstance(value, dict):
            out.update(_leaf_origins(value, here, dotted + "."))
        else:
            out[dotted] = here
    return out


def flatten(tree: Mapping[str, Any], schema: TitanSchema, prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """(JobConfig fields, other keys), both dotted."""
    fields: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if schema.is_section(dotted):
            if not isinstance(value, dict):
                raise MigrateError(f"'{dotted}' is a JobConfig section but the config sets it to {value!r}")
            f, o = flatten(value, schema, dotted + ".")
            fields.update(f)
            other.update(o)
        elif dotted in schema.fields:
            fields[dotted] = value
        elif isinstance(value, dict) and value:
            _, o = flatten(value, schema, dotted + ".")
            other.update(o)
        else:
            other[dotted] = value
    return fields, other


def job_config(params: Mapping[str, Any], schema: TitanSchema) -> tuple[dict[str, Any], dict[str, Any]]:
    """`deep_merge(JobConfig().to_dict(), params)`, split into (JobConfig fields, Primus-only keys)."""
    from migrate.torchtitan.jobconfig import TitanJob

    defaults = TitanJob(schema, schema.defaults()).nested()
    return flatten(deep_merge(defaults, dict(params)), schema)


def resolve_titan_experiment(path: str | Path, profile: Profile, env: Mapping[str, str] | None = None) -> TitanResolved:
    """Load a torchtitan experiment as `profile`'s Primus would and build the JobConfig it trains."""
    schema = require_supported(profile)
    exp_path = Path(path)
    if not exp_path.is_file():
        raise MigrateError(f"experiment file not found: {exp_path}")
    exp = profile.load_file(exp_path, {} if env is None else env)
    for key in META_KEYS:
        if key not in exp.values:
            raise MigrateError(f"the experiment has no '{key}' key (Primus requires {', '.join(META_KEYS)})",
                               origin=Origin(str(exp_path), 1))
    modules = exp.values.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise MigrateError("the experiment defines no modules", origin=Origin(str(exp_path), 1))
    name = "pre_trainer" if "pre_trainer" in modules else next(iter(modules))
    module = modules[name]
    line = key_line(modules, name)
    if not isinstance(module, dict) or module.get("framework") != "torchtitan":
        raise MigrateError(f"module '{name}' is not a torchtitan module (framework: "
                           f"{module.get('framework') if isinstance(module, dict) else None!r})",
                           origin=Origin(str(exp_path), line))
    params, origins = build_params(profile, module, exp_path, line, {} if env is None else env)
    values, primus_only = job_config(params, schema)
    model_ref = module.get("model")
    return TitanResolved(values, primus_only, origins, str(exp_path), profile.name, str(model_ref))


def is_torchtitan_experiment(path: str | Path) -> bool:
    """A quick look (no loading rules): does the experiment's module say `framework: torchtitan`?"""
    try:  # a pipe or a device is not read here; the loader reports it
        text = limits.read_regular_file(str(path), "config_bytes", str(path), "config file").decode("utf-8", "replace")
    except MigrateError:
        return False
    return any(line.split("#", 1)[0].strip() in ("framework: torchtitan", "framework: 'torchtitan'",
                                                 'framework: "torchtitan"') for line in text.splitlines())
