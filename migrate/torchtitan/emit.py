"""The Primus experiment for a torchtitan job: closest model preset + minimal nested overrides.

A key is overridden when the JobConfig Primus would build from the preset alone (module preset +
model preset, by the release's rules) differs from the job's; its comment says where the job's
value came from (`run_train.sh:12`, `llama3_8b.toml:30`) or `torchtitan default` when the job left
the field at torchtitan's default and the Primus preset changes it. Primus-only keys that would
change the run (mock data, Turbo kernels) are set to the value that keeps torchtitan's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from migrate.diagnostics import Origin
from migrate.primus.interpolate import Interpolation
from migrate.primus.profiles import Profile
from migrate.torchtitan.release import (BEHAVIOUR_KEYS, EXCEPTIONS, build_params, job_config, model_overrides,
                                        model_presets)
from migrate.torchtitan.schema import TitanSchema
from migrate.values import same_value

MODULE_PRESET = "pre_trainer.yaml"
FLOAT8_LINEAR = ("quantize.linear.float8", "float8")  # the converter's name at 73a0e697, at 4c4388f6


def _float8(converters: Any) -> bool:
    return any(c in FLOAT8_LINEAR for c in converters or [])


@dataclass(frozen=True)
class Override:
    key: str        # dotted
    value: Any
    comment: str


def preset_job_config(profile: Profile, schema: TitanSchema, preset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(JobConfig fields, Primus-only keys) of the experiment `config: pre_trainer.yaml, model: <preset>`."""
    module = {"framework": "torchtitan", "config": MODULE_PRESET, "model": f"{preset}.yaml"}
    params, _ = build_params(profile, module, Path(f"<{preset}>"), 0, {})
    return job_config(params, schema)


def overrides_for(expected: Mapping[str, Any], origins: Mapping[str, str], base: Mapping[str, Any],
                  base_only: Mapping[str, Any]) -> list[Override]:
    out: list[Override] = []
    for key, value in expected.items():
        if key in EXCEPTIONS or same_value(value, base.get(key)):
            continue
        out.append(Override(key, value, origins.get(key, "torchtitan default")))
    for key, (needed, why) in BEHAVIOUR_KEYS.items():
        if key in base_only and not same_value(base_only[key], needed):
            out.append(Override(key, needed, f"Primus-only: {why}"))
    return out


def choose_preset(profile: Profile, schema: TitanSchema, expected: Mapping[str, Any],
                  origins: Mapping[str, str]) -> tuple[str, list[Override]]:
    """The preset of the same model name and flavor (FP8 variant iff the job converts linears to
    float8) that needs the fewest overrides; any preset of the same name next; else the fewest overrides.
    Presets that change the flavor's model args (`model.n_layers: ...`) are never chosen: an override
    cannot remove a key."""
    name, flavor = expected.get("model.name"), expected.get("model.flavor")
    fp8 = _float8(expected.get("model.converters"))
    best: tuple[tuple, str, list[Override]] | None = None
    for preset in model_presets(profile):
        base, base_only = preset_job_config(profile, schema, preset)
        if model_overrides(base_only):
            continue
        overrides = overrides_for(expected, origins, base, base_only)
        score = (not missing_in_presets(profile, preset, overrides), base.get("model.name") == name,
                 base.get("model.flavor") == flavor, _float8(base.get("model.converters")) == fp8, -len(overrides),
                 str(flavor).lower() in preset.lower())  # a tie: the file named for the flavor
        if best is None or score > best[0]:
            best = (score, preset, overrides)
    assert best is not None, "no torchtitan model presets in the snapshot"
    return best[1], best[2]


def inexpressible(value: Any, interpolation: Interpolation | None = None) -> str | None:
    """Why the release cannot be handed this value as written, if it cannot: every loader substitutes
    `${VAR}` in every string and turns the string "null" into None; a release that types every string
    (not only substituted ones) also turns a string that reads as a number into that number."""
    from migrate.primus.interpolate import VAR_PATTERN

    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and VAR_PATTERN.search(item):
            return f"{item!r} contains ${{...}}, which Primus substitutes from the environment"
        if item == "null":
            return "the string 'null', which Primus reads as None"
        if (interpolation is not None and interpolation.every_string and isinstance(item, str)
                and not isinstance(interpolation.coerce(item), str)):
            return f"the string {item!r}, which the release reads as the number {interpolation.coerce(item)!r}"
    return None


def missing_in_presets(profile: Profile, preset: str, overrides: list[Override]) -> list[Override]:
    """A release whose overrides must exist overrides only keys its module + model presets define."""
    if not profile.rules.presets.overrides_must_exist:
        return []
    module = {"framework": "torchtitan", "config": MODULE_PRESET, "model": f"{preset}.yaml"}
    params, _ = build_params(profile, module, Path(f"<{preset}>"), 0, {})
    missing = []
    for item in overrides:
        node: Any = params
        for part in item.key.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(item)
                break
            node = node[part]
    return missing


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, allow_unicode=True).rstrip("\n")
    return text[:-4].rstrip("\n") if text.endswith("\n...") else text


def _tree(overrides: list[Override]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for item in overrides:
        node = tree
        *parents, leaf = item.key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = item
    return tree


def _render_tree(tree: Mapping[str, Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for key, node in tree.items():
        if isinstance(node, Override):
            lines.append(f"{pad}{key}: {_scalar(node.value)}  # {node.comment}")
        else:
            lines.append(f"{pad}{key}:")
            lines.extend(_render_tree(node, indent + 2))
    return lines


def render_experiment(name: str, preset: str, overrides: list[Override], header: str) -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [
        "work_group: ${PRIMUS_TEAM:amd}",
        "user_name: ${PRIMUS_USER:root}",
        f"exp_name: {_scalar(name)}",
        "workspace: ./output",
        "",
        "modules:",
        "  pre_trainer:",
        "    framework: torchtitan",
        f"    config: {MODULE_PRESET}",
        f"    model: {preset}.yaml",
    ]
    if overrides:
        lines.append("    overrides:")
        lines.extend(_render_tree(_tree(overrides), 6))
    return "\n".join(lines) + "\n"


def short(origin: Origin | None, root: str | None = None) -> str:
    """`run_train.sh:12` for an origin inside `root`'s folder, else the path as given."""
    if origin is None:
        return "torchtitan default"
    import os

    file = origin.file
    if root and os.path.isabs(file):
        try:
            rel = os.path.relpath(file, root)
            file = rel if not rel.startswith("..") else file
        except ValueError:
            pass
    return f"{file}:{origin.line}" if origin.line else file
