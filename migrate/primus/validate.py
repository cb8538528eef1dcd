"""What every command that takes an experiment refuses alike (`resolve`, `to-megatron`, `train`).

A key that is neither an argument of the pinned Megatron nor a Primus setting is a typo or a key
of another release: Primus would carry it along silently and Megatron never sees it. A value that
cannot be the type of its Megatron argument (`num_layers: "abc"` in the user's own files; the
release's presets are taken as they are) would only fail inside training.
Both are bad input (exit 2), named at the line that set them.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from migrate.diagnostics import MigrateError
from migrate.megatron.schema import Schema
from migrate.primus.profiles import Profile
from migrate.primus.resolved import ResolvedConfig

_NUMERIC = {"int": int, "float": float}


def check_experiment(resolved: ResolvedConfig, profile: Profile) -> None:
    """Raise for the first unknown key or impossible value of `resolved`."""
    schema = profile.schema()
    known = profile.primus_only_keys()
    for key in sorted(resolved.primus_only):
        if key not in known:
            raise MigrateError(
                f"unknown key '{key}' for {profile.name}: not a Megatron {profile.megatron_schema} argument "
                "nor a Primus setting", origin=resolved.origins.get(key),
                hint=close_match(key, set(schema.defaults()) | known))
    presets = os.path.realpath(profile.configs_dir)
    for dest, value in sorted(resolved.values.items()):
        origin = resolved.origins.get(dest)
        if origin is None or not origin.file or _inside(os.path.realpath(origin.file), presets):
            continue  # a default, or the release's own preset (primus-0.1 ships `replication_factor: int`)
        problem = _type_problem(schema, dest, value)
        if problem:
            raise MigrateError(f"{dest}: {problem}", origin=resolved.origins.get(dest),
                               hint="write a number (YAML 1.1: a float needs a dot, e.g. 1.0e-05)")


def _type_problem(schema: Schema, dest: str, value: Any) -> str | None:
    """Why `value` can be no value of `dest`'s Megatron option (only the plain numeric ones are checked)."""
    specs = schema.by_dest.get(dest) or []
    if len(specs) != 1 or specs[0].action != "store" or specs[0].nargs is not None:
        return None
    kind = _NUMERIC.get(specs[0].type or "")
    if kind is None or value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return None
    if isinstance(value, dict) and "unevaluated" in value:  # a default our schema could not evaluate
        return None
    if isinstance(value, str):
        try:
            kind(value.strip())  # Megatron's parser would take the text
            return None
        except ValueError:
            pass
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"{shown} is not {'an integer' if kind is int else 'a number'} (Megatron's {specs[0].option_strings[0]} " \
           f"takes {specs[0].type})"


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def close_match(key: str, names: set[str]) -> str | None:
    match = difflib.get_close_matches(key, sorted(names), n=1)
    return f"did you mean '{match[0]}'?" if match else None
