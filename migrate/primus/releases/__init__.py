"""The Primus release registry: every release's rules, one module per family.

Like pyupgrade's plugins, every module of this package that defines a `FAMILY` (see
`base.Family`) is found and registered at import: `yaml_namespace`, `defaults_under_keys`,
`dests_only`. A family's releases say, tag by tag, how Primus builds Megatron's arguments;
`FAMILIES` lists the families (oldest first), `RELEASES` every tag, `release(tag)` finds one. A
new Primus release is a new entry in its family's module; a new way of building Megatron's
arguments is a new module with a `FAMILY`.

Code outside this package never tests which release it holds: it asks the `Release`
(`profile.rules`) for the fact it needs.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from migrate.diagnostics import MigrateError
from migrate.primus.releases.base import Family, PresetRules, Release, RunFacts, TrainerFacts


def tag_order(tag: str) -> tuple[int, ...]:
    """Sort key of a tag: `v0.1.0-rc1` < `v0.2.0` < `v26.2` < `v26.2.1`."""
    numbers = [int(n) for n in re.findall(r"\d+", tag.split("-")[0])]
    rc = re.search(r"-rc(\d+)", tag)
    return (*numbers, *([0] * (3 - len(numbers))), -1000 + int(rc.group(1)) if rc else 0)


def _discover() -> tuple[Family, ...]:
    """Every `FAMILY` defined by a module of this package, oldest release first."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        family = vars(module).get("FAMILY")
        if isinstance(family, Family):
            found.append(family)
    return tuple(sorted(found, key=lambda fam: min(tag_order(tag) for tag in fam.releases)))


def _index(families: tuple[Family, ...]) -> dict[str, Release]:
    out: dict[str, Release] = {}
    for fam in families:
        for tag, rel in fam.releases.items():
            if tag in out:
                raise RuntimeError(f"Primus release {tag} is registered by two families ({out[tag].family}, {fam.key})")
            out[tag] = rel
    return dict(sorted(out.items(), key=lambda item: tag_order(item[0])))


FAMILIES: tuple[Family, ...] = _discover()
RELEASES: dict[str, Release] = _index(FAMILIES)


def release(tag: str) -> Release:
    """The rules of Primus release `tag` (`v26.5.1`; a leading `v` may be left out)."""
    found = RELEASES.get(tag) or RELEASES.get(f"v{tag}")
    if found is None:
        raise MigrateError(f"no rules for Primus release '{tag}'",
                           hint=f"known releases: {', '.join(RELEASES)}")
    return found


def family(key: str) -> Family:
    for fam in FAMILIES:
        if fam.key == key:
            return fam
    raise KeyError(key)


__all__ = ["FAMILIES", "RELEASES", "Family", "PresetRules", "Release", "RunFacts", "TrainerFacts", "family",
           "release", "tag_order"]
