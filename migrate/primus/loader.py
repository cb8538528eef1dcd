"""Experiment YAML -> the flat namespace a Primus release hands to Megatron.

Every release (`primus/core/launcher/parser.py::PrimusParser`) reads the experiment
file with the same file loader as presets, checks
`work_group`, `user_name`, `exp_name`, `workspace`, accepts only module names
containing "trainer", and builds each trainer module as
    module preset (modules/<framework>/<config>) + framework
    + model preset (models/<framework>/<model>) + overrides.
Releases differ in the merge and the overrides (`PresetRules`: `merge_refusing_shared` /
`merge_module_wins`, `override_existing` / `override_deep`) and in what reaches Megatron
(`Release.megatron_namespace`); the profile's release (`profile.rules`) says which.

One extension of ours: real Primus looks a `model:` up only in its own
`configs/models/megatron/` (where `run.sh` installs the model file `convert`
writes). We also look, before that folder, in the experiment's own folder and
in `<experiment folder>/models/megatron/` (where `convert` writes the model
file), and for an experiment of a `batch` tree (`exp/<script>/<variant>.yaml`) in
the tree's shared `models/megatron/` (the nearest folder above holding
`batch_report.json`), so `primus-migrate resolve OUT/x-pretrain.yaml` works on an output tree
as it is. Such a file is loaded as if it had been installed in the release's
`models/megatron/` folder, so its `bases:` / `extends:` may name presets there,
and it wins over a preset of the same name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from migrate.diagnostics import MigrateError, Origin
from migrate.primus.confine import ROOTS, check_reference
from migrate.primus.handoff import apply_handoff, trainer_refusals, validate_args_refusals
from migrate.primus.inherit import Layer, deep_merge
from migrate.primus.profiles import Profile
from migrate.primus.releases.base import MODULE_KEYS_KEPT_OUT
from migrate.primus.resolved import ResolvedConfig
from migrate.primus.yamlio import key_line
from migrate.values import same_value

META_KEYS = ("work_group", "user_name", "exp_name", "workspace")


def _at(mapping: Any, key: str, path: Path, parent_line: int = 0) -> Origin:
    return Origin(str(path), key_line(mapping, key) or parent_line)


def _require(mapping: Any, key: str, where: str, path: Path, line: int) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise MigrateError(f"{where} has no '{key}' key", origin=Origin(str(path), line))
    return mapping[key]


def _preset_ref(profile: Profile, folder: Path, ref: Any, origin: Origin, kind: str) -> Path:
    if not isinstance(ref, str) or not ref:
        raise MigrateError(f"'{kind}' must be a YAML file name, got {ref!r}", origin=origin)
    name = ref
    if profile.rules.presets.adds_yaml_suffix and not name.endswith((".yaml", ".yml")):
        name += ".yaml"  # PresetLoader adds the suffix; earlier releases join the name as given
    path = folder / name
    check_reference(ref, path, origin, kind)
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in folder.glob("*.yaml")))
        raise MigrateError(f"{kind} file '{ref}' not found in {profile.name}'s {folder.parent.name}/{folder.name}",
                           origin=origin, hint=f"available: {known}")
    return path


USER_MODEL_DIRS = (".", "models/megatron")  # relative to the experiment's folder (our extension)
# `batch` writes one tree: `batch_report.json` at its root, `models/megatron/` beside `exp/<script>/<variant>.yaml`
BATCH_TREE_MARKER = "batch_report.json"
BATCH_EXP_DIR = "exp"


def _batch_tree_models(exp_path: Path) -> list[Path]:
    """The shared model folder of the batch tree the experiment sits in: the nearest folder above it
    holding `batch_report.json` with the experiment under its `exp/` (nothing further up is read)."""
    here = exp_path.absolute().parent
    for folder in here.parents:
        if (folder / BATCH_TREE_MARKER).is_file():
            return [folder / "models/megatron"] if here.is_relative_to(folder / BATCH_EXP_DIR) else []
    return []


def _model_path(profile: Profile, exp_path: Path, ref: Any, origin: Origin) -> tuple[Path, bool]:
    """(path, is_user_file): a user model file (see the module docstring), else the preset."""
    if isinstance(ref, str) and ref and not os.path.isabs(ref):
        folders = [exp_path.parent / f for f in USER_MODEL_DIRS]
        if not any((f / n).is_file() for f in folders for n in (ref, ref + ".yaml")):
            folders += _batch_tree_models(exp_path)
        for folder in folders:
            for name in (ref,) if ref.endswith((".yaml", ".yml")) else (ref, ref + ".yaml"):
                candidate = folder / name
                if candidate.is_file():
                    check_reference(ref, candidate, origin, "model")
                    return candidate, True
    return _preset_ref(profile, profile.models_dir, ref, origin, "model"), False


def merge_refusing_shared(module: Layer, model: Layer) -> Layer:
    """Module + model with no key in common (`merge_namespace(allow_override=False)`)."""
    for key in model.values:
        if key == "name":
            continue
        if key in module.values:
            raise MigrateError(
                f"'{key}' is set by both the module preset ({module.origins.get(key, module.path)}) and the model "
                f"preset; this release refuses keys shared between them",
                origin=model.origins.get(key),
                hint="set the value under `overrides:` instead",
            )
    values = dict(module.values)
    origins = dict(module.origins)
    for key, value in model.values.items():
        if key != "name":
            values[key] = value
            origins[key] = model.origins.get(key, Origin(str(model.path)))
    return Layer(values, origins, model.path)


def nulls_after_merge(before: Mapping[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """A deep-merging release re-assigns every leaf it merges through `set_value_by_key`, which turns the
    string "null" into None (nested mappings only where the target already had one)."""
    out: dict[str, Any] = {}
    for key, value in merged.items():
        if isinstance(value, dict):
            out[key] = nulls_after_merge(before[key], value) if isinstance(before.get(key), dict) else value
        else:
            out[key] = None if value == "null" else value
    return out


def merge_module_wins(module: Layer, model: Layer) -> Layer:
    """The module preset wins on shared keys; the model preset adds the rest."""
    add = {k: v for k, v in model.values.items() if k != "name" and k not in module.values}
    # `module` is the caller's fresh copy of the preset (profile.load_file), dropped after this
    values = nulls_after_merge(module.values, deep_merge(module.values, add, owned=True))
    origins = dict(module.origins)
    fallback = Origin(str(model.path))
    origins.update({k: model.origins.get(k, fallback) for k in add})
    return Layer(values, origins, module.path)


def override_existing(target: dict[str, Any], overrides: Mapping[str, Any], origins: dict[str, Origin] | None,
                      path: Path, prefix: str = "", may_add: bool = False) -> None:
    """`override_namespace`: each key set in place, "null" becomes None; every key must already
    exist unless `may_add` (a nested mapping still needs its mapping to exist)."""
    for key, value in overrides.items():
        where = _at(overrides, key, path)
        if key not in target and (not may_add or isinstance(value, dict)):
            raise MigrateError(
                f"override key '{prefix}{key}' does not exist in the module config (module preset + model preset)",
                origin=where,
                hint="this release only overrides keys its presets define; check the spelling",
            )
        if isinstance(value, dict):
            if not isinstance(target[key], dict):
                raise MigrateError(f"override '{prefix}{key}' is a mapping but the config value is not",
                                   origin=where)
            override_existing(target[key], value, None, path, f"{prefix}{key}.", may_add)
        else:
            target[key] = None if value == "null" else value
        if origins is not None:
            origins[key] = where


def override_deep(layer: Layer, overrides: Mapping[str, Any], path: Path) -> Layer:
    """A deep merge; keys need not exist beforehand."""
    values = nulls_after_merge(layer.values, deep_merge(layer.values, overrides, owned=True))  # a merge's copy
    origins = dict(layer.origins)
    origins.update({k: _at(overrides, k, path) for k in overrides})
    return Layer(values, origins, layer.path)


def _pick_module(modules: Mapping[str, Any], path: Path, line: int) -> str:
    for name in modules:
        if "trainer" not in str(name):
            raise MigrateError(f"unsupported module '{name}' (Primus only accepts *trainer modules)",
                               origin=_at(modules, name, path, line))
    if "pre_trainer" in modules:
        return "pre_trainer"
    if not modules:
        raise MigrateError("the experiment defines no modules", origin=Origin(str(path), line))
    return next(iter(modules))


def _build_module(profile: Profile, exp: Layer, exp_path: Path, env: Mapping[str, str]) -> tuple[str, Layer]:
    modules = _require(exp.values, "modules", "the experiment", exp_path, 1)
    modules_line = exp.origins.get("modules", Origin(str(exp_path))).line
    if not isinstance(modules, dict):
        raise MigrateError(
            "'modules' must be a mapping of module name -> settings", origin=Origin(str(exp_path), modules_line)
        )
    name = _pick_module(modules, exp_path, modules_line)
    module = modules[name]
    mline = key_line(modules, name) or modules_line
    where = f"module '{name}'"
    framework = _require(module, "framework", where, exp_path, mline)
    if framework != "megatron":
        raise MigrateError(f"framework '{framework}' is not supported (primus-migrate handles megatron modules)",
                           origin=_at(module, "framework", exp_path, mline))
    rules = profile.rules.presets
    if rules.flattened_module and "config" not in module:
        # a module without `config` is taken as already flattened (an exported config)
        values = {k: v for k, v in module.items()}
        return name, Layer(values, {k: _at(module, k, exp_path, mline) for k in values}, exp_path)
    config_ref = _require(module, "config", where, exp_path, mline)
    model_ref = _require(module, "model", where, exp_path, mline)

    config_origin = _at(module, "config", exp_path, mline)
    module_path = _preset_ref(profile, profile.modules_dir, config_ref, config_origin, "config")
    layer = profile.load_file(module_path, env, (), config_origin)
    layer.values["framework"] = framework
    layer.origins["framework"] = _at(module, "framework", exp_path, mline)
    if rules.copies_module_keys:
        for key, value in module.items():
            if key not in MODULE_KEYS_KEPT_OUT and not str(key).startswith("_") and key not in layer.values:
                layer.values[key] = value
                layer.origins[key] = _at(module, key, exp_path, mline)

    model_origin = _at(module, "model", exp_path, mline)
    model_path, is_user = _model_path(profile, exp_path, model_ref, model_origin)
    model = profile.load_file(model_path, env, (profile.models_dir,) if is_user else (), model_origin)
    if rules.sets_model_key and "model" not in model.values:
        model.values["model"] = model_ref
        model.origins["model"] = model_origin

    layer = merge_refusing_shared(layer, model) if rules.shared_keys == "refused" else merge_module_wins(layer, model)

    overrides = module.get("overrides") if isinstance(module, dict) else None
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise MigrateError(
                "'overrides' must be a mapping of key -> value", origin=_at(module, "overrides", exp_path, mline)
            )
        if rules.overrides == "deep_merge":
            layer = override_deep(layer, overrides, exp_path)
        else:
            override_existing(layer.values, overrides, layer.origins, exp_path, may_add=rules.overrides == "assign")
    layer.values["name"] = name
    layer.origins.setdefault("name", Origin(str(exp_path), mline))
    return name, layer


def _split(profile: Profile, module: Layer) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(megatron values, primus-only values, dests missing from the namespace): the release says
    what reaches Megatron (`Release.megatron_namespace`)."""
    return profile.rules.megatron_namespace(module.values, profile.schema().defaults())


def resolve_experiment(path: str | Path, profile: Profile, env: Mapping[str, str] | None = None,
                       trainer_rewrites: bool = False) -> ResolvedConfig:
    """Load `path` as `profile`'s Primus would; `env` defaults to the process environment.

    `values` is the namespace Primus's config system builds (what the trainer receives). The
    trainer's own rewrites (migrate.primus.handoff) are always listed in `trainer_rewrites`;
    with `trainer_rewrites=True` they are also applied to `values`.
    """
    token = ROOTS.set((profile.configs_dir, Path(path).parent, *_batch_tree_models(Path(path))))
    try:
        return _resolve(Path(path), profile, env, trainer_rewrites)
    finally:
        ROOTS.reset(token)


def _resolve(exp_path: Path, profile: Profile, env: Mapping[str, str] | None,
             trainer_rewrites: bool) -> ResolvedConfig:
    if exp_path.is_dir():
        raise MigrateError(f"experiment path is a directory, not a YAML file: {exp_path}")
    if not exp_path.is_file():
        raise MigrateError(f"experiment file not found: {exp_path}")
    env = os.environ if env is None else env
    exp = profile.load_file(exp_path, env)
    for key in META_KEYS:
        if key not in exp.values:
            raise MigrateError(f"the experiment has no '{key}' key (Primus requires {', '.join(META_KEYS)})",
                               origin=Origin(str(exp_path), 1))
    _, module = _build_module(profile, exp, exp_path, env)
    values, primus_only, missing = _split(profile, module)
    origins = {k: o for k, o in module.origins.items() if k in values or k in primus_only}
    rewritten = dict(values)
    # the trainer also reads the experiment's meta (W&B project and run names default to it)
    context = {**primus_only, **{k: exp.values.get(k) for k in META_KEYS}}
    trainer = profile.rules.trainer
    refusals = trainer_refusals(values, context, trainer)
    applied = apply_handoff(rewritten, context, trainer, set(profile.schema().defaults()))
    refusals += validate_args_refusals(rewritten)
    rewrites = {k: (values.get(k), rewritten[k], rule) for k, rule in applied.items()
                if k not in values or not same_value(values[k], rewritten[k])}
    if trainer_rewrites:
        values = rewritten
        for key, (_, _, rule) in rewrites.items():
            origins[key] = Origin(f"<{profile.name} trainer: {rule}>")
        missing = [k for k in missing if k not in values]
    return ResolvedConfig(values, origins, primus_only, profile.name, missing, str(exp_path),
                          rewrites, trainer_rewrites, refusals)


def resolve_experiment_text(files: Mapping[str, str], experiment_relpath: str, profile: Profile,
                            env: Mapping[str, str] | None = None, trainer_rewrites: bool = False) -> ResolvedConfig:
    """Resolve an experiment held in memory (relpath -> text), e.g. before writing it.

    The files are staged in a temporary folder; origins name the relpaths. `env`
    defaults to an EMPTY environment here, so `${VAR:default}` takes its default.
    """
    from migrate.output import scratch_folder

    with scratch_folder("primus-migrate-resolve-") as tmp:
        for rel, text in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        try:
            resolved = resolve_experiment(tmp / experiment_relpath, profile, {} if env is None else env,
                                          trainer_rewrites)
        except MigrateError as exc:
            if exc.origin is not None:
                exc.origin = _relative(exc.origin, tmp)
            exc.message = exc.message.replace(str(tmp) + os.sep, "")
            raise
        resolved.origins = {k: _relative(o, tmp) for k, o in resolved.origins.items()}
        resolved.experiment = experiment_relpath
        return resolved


def _relative(origin: Origin, root: Path) -> Origin:
    try:
        return Origin(Path(origin.file).relative_to(root).as_posix(), origin.line, origin.col)
    except ValueError:
        return origin
