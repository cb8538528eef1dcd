"""The Primus release registry: every release's rules, one module per family.

Like pyupgrade's plugins, each family module (`yaml_namespace`, `defaults_under_keys`,
`dests_only`) defines a `FAMILY` (see `base.Family`) whose releases say, tag by tag, how
Primus builds Megatron's arguments; `FAMILIES` lists them and `release(tag)` finds one. A new
Primus release is a new entry in its family's module (or a new module added to `FAMILIES`).

Code outside this package never tests which release it holds: it asks the `Release`
(`profile.rules`) for the fact it needs.
"""

from __future__ import annotations

from migrate.diagnostics import MigrateError
from migrate.primus.releases import defaults_under_keys, dests_only, yaml_namespace
from migrate.primus.releases.base import Family, PresetRules, Release, RunFacts, TrainerFacts

FAMILIES: tuple[Family, ...] = (yaml_namespace.FAMILY, defaults_under_keys.FAMILY, dests_only.FAMILY)

RELEASES: dict[str, Release] = {tag: rel for family in FAMILIES for tag, rel in family.releases.items()}


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


def tag_order(tag: str) -> tuple[int, ...]:
    """Sort key of a tag: `v0.1.0-rc1` < `v0.2.0` < `v26.2` < `v26.2.1`."""
    import re

    numbers = [int(n) for n in re.findall(r"\d+", tag.split("-")[0])]
    rc = re.search(r"-rc(\d+)", tag)
    return (*numbers, *([0] * (3 - len(numbers))), -1000 + int(rc.group(1)) if rc else 0)


__all__ = ["FAMILIES", "RELEASES", "Family", "PresetRules", "Release", "RunFacts", "TrainerFacts", "family",
           "release", "tag_order"]
