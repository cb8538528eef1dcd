"""Target profiles: which Primus release we load as, and with which rules.

A profile bundles the facts of one release: where its presets are (our
snapshot under `configs/<name>/`, or a user's checkout with `--primus-path`),
which inheritance key its files use, which Megatron commit it pins (whose
argparse table decides what counts as a Megatron dest), and the file loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from migrate.diagnostics import MigrateError, Origin
from migrate.primus import inherit
from migrate.primus.presets import preset_dir

TARGETS = ("primus-0.1", "primus-26.5")
DEFAULT_TARGET = "primus-26.5"

_FACTS: dict[str, dict[str, str]] = {
    # Megatron pins: third_party/Megatron-LM submodule commit at each tag.
    "primus-0.1": {"release": "v0.1.0-rc1", "megatron_schema": "5a676b36", "inherit_key": "bases"},
    "primus-26.5": {"release": "v26.5.1", "megatron_schema": "d3528a21", "inherit_key": "extends"},
}


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
    inherit_key: str
    release: str = ""
    source: str = "snapshot"          # "snapshot" or the --primus-path given
    schema_override: Any = field(default=None, repr=False)   # a Schema, for tests / custom pins
    notes: list[str] = field(default_factory=list)          # what detection found worth telling

    # -- rules -------------------------------------------------------------
    @property
    def is_v01(self) -> bool:
        return self.inherit_key == "bases"

    def load_file(self, path: Path, env: Mapping[str, str], fallbacks: tuple[Path, ...] = (),
                  referenced_from: Origin | None = None) -> inherit.Layer:
        """Read one YAML file with this release's interpolation and inheritance."""
        loader: Callable[..., inherit.Layer] = inherit.load_v01 if self.is_v01 else inherit.load_v26
        return loader(Path(path), env, fallbacks, referenced_from)

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
        loader itself adds (`name`, `framework`, and `model` at 26.5).
        """
        dests = set(self.schema().defaults())
        keys = set(self.load_module_preset()) | {"name", "framework"} | (set() if self.is_v01 else {"model"})
        for name in self.model_presets():
            try:
                keys |= set(self.load_model_preset(name))
            except MigrateError:
                continue  # a preset this release itself cannot load (e.g. `bases:` files at 26.5)
        return keys - dests


def _snapshot_profile(target: str) -> Profile:
    facts = _FACTS[target]
    return Profile(target, facts["megatron_schema"], preset_dir(target), facts["inherit_key"], facts["release"])


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


def detect_target(primus_path: str | Path) -> tuple[str, Path]:
    """Which rules a checkout needs: its megatron pre_trainer preset says `bases:` or `extends:`.

    The inheritance key decides (it is what the loader reads); a version string in
    `primus/__init__.py` (absent in v0.1.0-rc1) only confirms it.
    """
    configs = _configs_of_checkout(Path(primus_path))
    pre_trainer = configs / "modules" / "megatron" / "pre_trainer.yaml"
    text = pre_trainer.read_text(encoding="utf-8") if pre_trainer.is_file() else ""
    if re.search(r"^extends:", text, re.M):
        return "primus-26.5", configs
    if re.search(r"^bases:", text, re.M):
        return "primus-0.1", configs
    version = _checkout_version(configs)
    if version is None:
        return "primus-0.1", configs
    return "primus-26.5", configs


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


def _pinned_schema(primus_path: str | Path, family_schema: str, notes: list[str]) -> str:
    from migrate.megatron.schema import bundled_schema_names

    pin = checkout_megatron_pin(primus_path)
    if pin is None:
        return family_schema
    for name in bundled_schema_names():
        if pin.startswith(name):
            return name
    notes.append(f"{primus_path} pins Megatron-LM {pin[:8]}, which has no bundled schema; using "
                 f"{family_schema} (the pin of the release with the same loading rules)")
    return family_schema


def get_profile(target: str | None = DEFAULT_TARGET, primus_path: str | None = None) -> Profile:
    """The profile for `target`; with `primus_path`, rules detected from that checkout.

    When both are given and disagree, the checkout wins: it is what will run.
    """
    if primus_path is not None:
        detected, configs = detect_target(primus_path)
        facts = _FACTS[detected]
        version = _checkout_version(configs)
        notes: list[str] = []
        if target and target != detected:
            notes.append(f"{primus_path} loads with {detected} rules (its presets use "
                         f"`{facts['inherit_key']}:`); --target {target} ignored")
        schema = _pinned_schema(primus_path, facts["megatron_schema"], notes)
        return Profile(detected, schema, configs, facts["inherit_key"],
                       version or facts["release"], source=str(primus_path), notes=notes)
    target = target or DEFAULT_TARGET
    if target not in _FACTS:
        raise MigrateError(f"unknown target '{target}'", hint=f"targets: {', '.join(TARGETS)}")
    return _snapshot_profile(target)
