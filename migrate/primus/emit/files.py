"""The experiment and model YAML files, as text."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from migrate.primus.emit.architecture import STRUCTURE_KEYS
from migrate.primus.emit.groups import group_keys
from migrate.primus.emit.inert import RULE_NAMES
from migrate.primus.emit.overrides import MEGATRON_DEFAULT, Override
from migrate.primus.emit.yamltext import Entry, Group, comment_block, reads_back, render_entries, render_value


def experiment_yaml(
    name: str,
    model_ref: str,
    overrides: Sequence[Override],
    header: str = "",
    module_config: str = "pre_trainer.yaml",
) -> str:
    """`modules.pre_trainer.{framework, config, model, overrides}` with grouped, commented overrides."""
    lines = comment_block(header) if header else []
    lines += [
        "work_group: ${PRIMUS_TEAM:amd}",
        "user_name: ${PRIMUS_USER:root}",
        f"exp_name: ${{PRIMUS_EXP_NAME:{name}}}",
        "workspace: ./output",
        "",
        "modules:",
        "  pre_trainer:",
        "    framework: megatron",
        f"    config: {render_value(module_config)}",
        "",
        "    # model to run",
        f"    model: {render_value(model_ref)}",
    ]
    if not overrides:
        lines.append("    overrides: {}")
        return "\n".join(lines) + "\n"
    lines.append("    overrides:")
    lines += render_entries(override_groups(overrides), indent=6)
    return "\n".join(lines) + "\n"


INERT_BLOCK_TITLE = (
    "inert in this run: settings nothing in this run reads (each comment says why), written so that\n"
    "what Primus resolves equals the legacy run key for key (static parity)")


def inert_block_title(inert: Sequence[Override]) -> str:
    """The comment over the inert block: why it is there, and how many of its keys pin a Megatron default."""
    defaults = sum(1 for o in inert if o.origin == MEGATRON_DEFAULT)
    if not defaults:
        return INERT_BLOCK_TITLE
    share = "all" if defaults == len(inert) else f"{defaults} of the {len(inert)}"
    return f"{INERT_BLOCK_TITLE};\n{share} pin Megatron defaults the Primus presets change"


def override_groups(overrides: Sequence[Override]) -> list[Group]:
    """What changes the run first, by section; then one block of the keys that cannot change it
    (migrate.primus.emit.inert), by rule."""
    by_key = {o.key: o for o in overrides}

    def entry(key: str) -> Entry:
        o = by_key[key]
        return Entry(key, o.value, o.comment, raw_text(o.raw))

    affecting = [o.key for o in overrides if o.inert is None]
    groups = [Group(title, [entry(k) for k in keys]) for title, keys in group_keys(affecting, STRUCTURE_KEYS)]
    inert = [o for o in overrides if o.inert is not None]
    if inert:
        rank = {name: i for i, name in enumerate(RULE_NAMES)}
        ordered = sorted(inert, key=lambda o: rank.get(o.inert.rule if o.inert else "", len(rank)))
        groups.append(Group(inert_block_title(ordered), [entry(o.key) for o in ordered]))
    return groups


def raw_text(text: str | None) -> str | None:
    """A `${KNOB:value}` parameter as written: plain when YAML reads it back unchanged, else quoted."""
    if text is None:
        return None
    if re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:[^{}]*\}|[A-Za-z0-9_./${}:-]+", text) and reads_back(text, text):
        return text
    return render_value(text)


def model_yaml(
    inherit_key: str,
    base_preset: str,
    values: Mapping[str, Any],
    origins: Mapping[str, str],
    header: str = "",
) -> str:
    """A model file inheriting `base_preset` and setting only the keys that differ."""
    lines = comment_block(header) if header else []
    lines += [f"{inherit_key}:", f"  - {render_value(base_preset + '.yaml')}", ""]
    structure = [k for k in values if k in STRUCTURE_KEYS]
    other = [k for k in values if k not in STRUCTURE_KEYS]
    groups = [
        Group(None, [Entry(k, values[k], origins.get(k)) for k in structure]),
        Group("tokenizer", [Entry(k, values[k], origins.get(k)) for k in other]),
    ]
    lines += render_entries(groups, indent=0)
    return "\n".join(lines) + "\n"
