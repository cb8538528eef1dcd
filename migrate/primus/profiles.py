"""Target profiles: which Primus release we load as, and with which rules.

A target is a folder `configs/<target>/` holding our snapshot of one release's presets and a
`target.json` (its release tag, Primus commit, Megatron pin and bundled schema; see
`TargetInfo`). Every folder with a `target.json` is a target: the catalog is data. The rules a
release follows come from the release registry (migrate.primus.releases), looked up by the
target's release tag; a profile carries them as `profile.rules`.

With `--primus-path`, the presets are the user's checkout and its release is detected
(migrate.primus.releases.detect); `--target auto` requires that detection to succeed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from migrate.diagnostics import MigrateError, Origin
from migrate.primus import inherit
from migrate.primus.presets import presets_root
from migrate.primus.releases import RELEASES, Release, release as release_rules, tag_order

DEFAULT_TARGET = "primus-26.5"
AUTO = "auto"


@dataclass(frozen=True)
class TargetInfo:
    """One bundled target, as its `configs/<target>/target.json` describes it."""

    name: str
    release: str            # the Primus tag, e.g. v26.5.1
    megatron_schema: str    # bundled Megatron option table (migrate/megatron/schemas/<name>.json)
    megatron_pin: str       # third_party/Megatron-LM at the tag (40 hex)
    primus_commit: str
    generated_by: str
    folder: Path

    @property
    def rules(self) -> Release:
        return release_rules(self.release)

    @property
    def aliases(self) -> tuple[str, ...]:
        """Other names for this target: its tag (`v0.2.0`) and `primus-<tag without v>`."""
        names = {self.release, "primus-" + self.release.removeprefix("v")}
        return tuple(sorted(n for n in names if n != self.name))


def _schema_ref(folder: Path, schema: Any) -> str:
    """A bundled table's name, or the target's own `megatron_schema.json` (`primus-migrate target
    --megatron-path`) as a path; "" when it has neither (refused when the target is used)."""
    if not isinstance(schema, str) or not schema:
        return ""
    return str(folder / schema) if schema.endswith(".json") else schema


def _read_target(path: Path) -> TargetInfo:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return TargetInfo(name=data["target"], release=data["release"],
                          megatron_schema=_schema_ref(path.parent, data["megatron_schema"]),
                          megatron_pin=data.get("megatron_pin", ""), primus_commit=data.get("primus_commit", ""),
                          generated_by=data.get("generated_by", ""), folder=path.parent)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MigrateError(f"{path}: not a usable target description ({exc})",
                           hint="regenerate it with `primus-migrate target`") from None


@lru_cache(maxsize=4)
def _catalog(root: str) -> dict[str, TargetInfo]:
    found: dict[str, TargetInfo] = {}
    for path in sorted(Path(root).glob("*/target.json")):
        info = _read_target(path)
        if info.name != path.parent.name:
            raise MigrateError(f"{path}: says target '{info.name}' but sits in folder '{path.parent.name}'")
        release_rules(info.release)  # a release the registry does not know is an error here, not later
        found[info.name] = info
    return dict(sorted(found.items(), key=lambda item: tag_order(item[1].release)))


def catalog() -> dict[str, TargetInfo]:
    """Every bundled target, oldest release first."""
    return _catalog(str(presets_root()))


def targets() -> tuple[str, ...]:
    return tuple(catalog())


def aliases() -> dict[str, str]:
    """alias -> target name."""
    return {alias: info.name for info in catalog().values() for alias in info.aliases}


def family_builders(model_family: str) -> list[str]:
    """Bundled targets whose release's Megatron pre-trainer builds `model_family` (default target first)."""
    able = [name for name, info in catalog().items() if model_family in info.rules.builds]
    return sorted(able, key=lambda name: name != DEFAULT_TARGET)


def canonical_target(name: str) -> str:
    """The target `name` or its alias stands for; an unknown name is an exit-2 error listing them."""
    known = catalog()
    if name in known:
        return name
    alias = aliases().get(name)
    if alias is not None:
        return alias
    raise MigrateError(f"unknown target '{name}'",
                       hint=f"targets: {', '.join(known)} (or a release tag such as v26.5.1; "
                            "`primus-migrate targets` lists them)")


def __getattr__(name: str) -> Any:
    if name == "TARGETS":  # the bundled target names, read from configs/ when first asked
        return targets()
    raise AttributeError(name)


class PresetValues(dict):
    """A preset flattened after inheritance; `.origins` maps each key to file:line."""

    origins: dict[str, Origin]

    def __init__(self, values: Mapping[str, Any], origins: Mapping[str, Origin]) -> None:
        super().__init__(values)
        self.origins = dict(origins)


@dataclass
class Profile:
    name: str
    megatron_schema: str
    configs_dir: Path
    rules: Release                    # the release's rules (migrate.primus.releases)
    release: str = ""                 # the release tag (or what the checkout says it is)
    source: str = "snapshot"          # "snapshot" or the --primus-path given
    schema_override: Any = field(default=None, repr=False)   # a Schema, for tests / custom pins
    notes: list[str] = field(default_factory=list)          # what detection found worth telling

    @property
    def inherit_key(self) -> str:
        return self.rules.inherit_key

    def load_file(self, path: Path, env: Mapping[str, str], fallbacks: tuple[Path, ...] = (),
                  referenced_from: Origin | None = None) -> inherit.Layer:
        """Read one YAML file with this release's interpolation and inheritance."""
        return self.rules.load_file(path, env, fallbacks, referenced_from)

    def schema(self):
        """The pinned Megatron's argument table (dest -> argparse default)."""
        if self.schema_override is not None:
            return self.schema_override
        from migrate.megatron.schema import load_schema

        return load_schema(self.megatron_schema)

    # -- presets -----------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.configs_dir / "models" / "megatron"

    @property
    def modules_dir(self) -> Path:
        return self.configs_dir / "modules" / "megatron"

    def model_presets(self) -> dict[str, Path]:
        """Preset name (file stem, e.g. `llama3_8B`) -> path."""
        return {p.stem: p for p in sorted(self.models_dir.glob("*.yaml"))}

    def preset_file(self, name: str, kind: str = "models") -> Path:
        """`name` or `name.yaml` inside models/megatron or modules/megatron."""
        folder = self.models_dir if kind == "models" else self.modules_dir
        filename = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
        path = folder / filename
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
            raise MigrateError(f"{self.name} has no {kind[:-1]} preset '{name}'", hint=f"known: {known}")
        return path

    def load_model_preset(self, name: str, env: Mapping[str, str] | None = None) -> PresetValues:
        """A model preset flattened after inheritance (env: `${VAR}` values; default: none set)."""
        layer = self.load_file(self.preset_file(name, "models"), env or {})
        return PresetValues(layer.values, layer.origins)

    def load_module_preset(self, name: str = "pre_trainer.yaml", env: Mapping[str, str] | None = None) -> PresetValues:
        """A module preset (default: the megatron pre_trainer) flattened after inheritance."""
        layer = self.load_file(self.preset_file(name, "modules"), env or {})
        return PresetValues(layer.values, layer.origins)

    def primus_only_keys(self) -> set[str]:
        """Keys the presets define that are not Megatron dests at this pin (Primus's own settings).

        Computed from the pre_trainer module preset and every model preset, plus the keys the
        loader itself adds (`name`, `framework`, and `model` where the release keeps it).
        """
        dests = set(self.schema().defaults())
        keys = set(self.load_module_preset()) | self.rules.loader_keys
        for name in self.model_presets():
            try:
                keys |= set(self.load_model_preset(name))
            except MigrateError:
                continue  # a preset this release itself cannot load (e.g. `bases:` files at 26.5)
        return keys - dests


def _snapshot_profile(target: str) -> Profile:
    info = catalog()[target]
    if not info.megatron_schema:
        raise MigrateError(f"target {target} has no Megatron option table (its target.json gives no megatron_schema)",
                           hint="regenerate it with `primus-migrate target ... --megatron-path DIR`")
    return Profile(target, info.megatron_schema, info.folder, info.rules, info.release)


def _configs_of_checkout(root: Path) -> Path:
    for candidate in (root / "primus" / "configs", root / "configs", root):
        if (candidate / "modules" / "megatron").is_dir() and (candidate / "models" / "megatron").is_dir():
            return candidate
    raise MigrateError(f"{root} does not look like a Primus checkout (no primus/configs/modules/megatron)",
                       hint="pass the root of a Primus git checkout")


def _checkout_version(configs: Path) -> str | None:
    init = configs.parent / "__init__.py"
    if init.is_file():
        match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", init.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
    return None


def _checkout_inherit_key(configs: Path) -> str | None:
    pre_trainer = configs / "modules" / "megatron" / "pre_trainer.yaml"
    text = pre_trainer.read_text(encoding="utf-8", errors="replace") if pre_trainer.is_file() else ""
    for key in ("extends", "bases"):
        if re.search(rf"^{key}:", text, re.M):
            return key
    return None


def target_of_release(tag: str) -> str:
    """The bundled target of release `tag`, else the name it would have (`primus-<tag without v>`)."""
    for info in catalog().values():
        if info.release == tag:
            return info.name
    return "primus-" + tag.removeprefix("v")


def release_of_name(name: str) -> str:
    """The release tag a --target names: a bundled target or alias, or any release the registry
    knows (`v0.4.0`, `primus-0.4.0`), which a checkout given with --primus-path may be."""
    try:
        return catalog()[canonical_target(name)].release
    except MigrateError:
        for tag in (name, "v" + name.removeprefix("primus-")):
            if tag in RELEASES:
                return tag
        raise


def _fallback_release(key: str | None, target: str | None, configs: Path) -> tuple[str, str]:
    """(tag, why) when the checkout's release cannot be told: `target` when its dialect matches the
    checkout's presets, else the default target when it does, else the oldest target that does. With
    no inheritance key at all, a checkout without `__version__` (as before v0.3.0) gets the oldest."""
    if target:
        wanted = release_of_name(target)
        if key is None or release_rules(wanted).inherit_key == key:
            return wanted, f"--target {target}"
    oldest = next(iter(catalog().values()))
    if key is None and _checkout_version(configs) is None:
        return oldest.release, "its primus/__init__.py without __version__ (the oldest releases)"
    same = [info for info in catalog().values() if key is None or info.rules.inherit_key == key]
    default = catalog()[DEFAULT_TARGET]
    pick = default if default in same or not same else same[0]
    return pick.release, f"its presets' `{key or '?'}:` inheritance"


def detect_target(primus_path: str | Path, target: str | None = None, strict: bool = False
                  ) -> tuple[str, Path, str, list[str]]:
    """(target name, configs folder, release tag, notes) for a checkout.

    The release comes from git or the code markers (migrate.primus.releases.detect). When
    neither tells, `strict` (`--target auto`) refuses; otherwise the presets' inheritance key
    and `target` choose, with a note saying so.
    """
    from migrate.primus.releases.detect import detect_release

    root = Path(primus_path)
    configs = _configs_of_checkout(root)
    key = _checkout_inherit_key(configs)
    found = detect_release(root, key)
    if found is not None:
        which = " or ".join((*found.same_rules, found.tag))
        same = f"; these releases follow the same rules, named {found.tag} here" if found.same_rules else ""
        notes = [f"{primus_path}: Primus {which} ({found.how}{same})"]
        return target_of_release(found.tag), configs, found.tag, notes
    if strict:
        raise MigrateError(f"cannot tell which Primus release {primus_path} is",
                           hint="its HEAD carries no release tag and its code matches none of the known "
                                "releases' markers; name the release with --target (`primus-migrate targets` "
                                "lists them)", exit_code=2)
    tag, why = _fallback_release(key, target, configs)
    notes = [f"{primus_path}: release not recognised (no release tag, no known markers); "
             f"loading with {tag}'s rules, chosen by {why}"]
    return target_of_release(tag), configs, tag, notes


def checkout_megatron_pin(primus_path: str | Path) -> str | None:
    """The commit of the checkout's third_party/Megatron-LM gitlink, when git can tell."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(primus_path), "rev-parse", "HEAD:third_party/Megatron-LM"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", text) else None


def _pinned_schema(primus_path: str | Path, rules: Release, notes: list[str]) -> str:
    from migrate.megatron.schema import bundled_schema_names

    names = bundled_schema_names()
    pin = checkout_megatron_pin(primus_path) or rules.megatron_pin
    for name in names:
        if pin.startswith(name):
            return name
    fallback = next((info.megatron_schema for info in reversed(list(catalog().values()))
                     if info.rules.inherit_key == rules.inherit_key), catalog()[DEFAULT_TARGET].megatron_schema)
    notes.append(f"{primus_path} pins Megatron-LM {pin[:8]}, which has no bundled schema; using "
                 f"{fallback} (the pin of a release with the same loading rules)")
    return fallback


def get_profile(target: str | None = DEFAULT_TARGET, primus_path: str | None = None) -> Profile:
    """The profile for `target` (a name, alias or `auto`); with `primus_path`, that checkout's.

    With a checkout, its detected release wins over `target`: it is what will run. `auto`
    needs a checkout whose release can be told.
    """
    if primus_path is not None:
        auto = target == AUTO
        name, configs, tag, notes = detect_target(primus_path, None if auto else target, strict=auto)
        if target and not auto and release_of_name(target) != tag:
            notes.append(f"--target {target} ignored: {primus_path} is {tag}")
        rules = release_rules(tag)
        schema = _pinned_schema(primus_path, rules, notes)
        return Profile(name, schema, configs, rules, tag, source=str(primus_path), notes=notes)
    if target == AUTO:
        raise MigrateError("--target auto needs --primus-path DIR (the checkout whose release is detected)")
    return _snapshot_profile(canonical_target(target or DEFAULT_TARGET))
