"""Resolved values -> the Megatron argv that reproduces them (rollback).

Only dests whose value differs from the pinned parser's default get a flag
(a default needs none), in the schema's own option order so the output is
stable. A value no flag can produce (None where the default is not None, a
`store_true` dest set to False while its default is True with no `--no-`
twin, ...) is reported through `skipped` instead of being guessed.
"""

from __future__ import annotations

from typing import Any, Mapping

from migrate.megatron.schema import OptionSpec, Schema
from migrate.values import same_value


def _flag(spec: OptionSpec) -> str:
    longs = [o for o in spec.option_strings if o.startswith("--")]
    return (longs or list(spec.option_strings))[0]


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)  # shortest text float() reads back exactly
    return str(value)


_PARSERS = {"int": int, "float": float}


def _parses(spec: OptionSpec, item: Any) -> bool:
    """Would the option accept the text we write for `item`? (`--replication-factor int`: no;
    `--tokenizer-type Llama3Tokenizer` at 5a676b36: not one of its choices.)"""
    parse = _PARSERS.get(spec.type or "")
    if spec.choices is not None and spec.type in (None, "str", "int", "float"):
        if not any(same_value(item, choice) for choice in spec.choices):
            return False
    if parse is None:
        return True
    if isinstance(item, bool):
        return False
    try:
        parse(_text(item))
    except (TypeError, ValueError):
        return False
    return True


def _tokens_for(spec: OptionSpec, value: Any) -> list[str] | None:
    """The tokens that make `spec` store `value`, or None when this spec cannot."""
    action = spec.action
    if action == "boolean_optional":  # argparse.BooleanOptionalAction: --x / --no-x
        if not isinstance(value, bool):
            return None
        positive = [o for o in spec.option_strings if o.startswith("--") and not o.startswith("--no-")]
        negative = [o for o in spec.option_strings if o.startswith("--no-")]
        chosen = positive if value else (negative or ["--no-" + positive[0][2:]] if positive else [])
        return chosen[:1] or None
    if action == "store_true":
        return [_flag(spec)] if value is True else None
    if action == "store_false":
        return [_flag(spec)] if value is False else None
    if action == "store_const":
        return [_flag(spec)] if same_value(value, spec.const) else None
    if action == "count":
        return [_flag(spec)] * value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
    if action in ("append", "extend"):
        if not isinstance(value, (list, tuple)):
            return None
        flat = [x for item in value for x in (item if isinstance(item, (list, tuple)) else [item])]
        if not all(_parses(spec, x) for x in flat):
            return None
        out: list[str] = []
        for item in value:
            out += [_flag(spec)] + ([_text(x) for x in item] if isinstance(item, (list, tuple)) else [_text(item)])
        return out
    if action == "store" and spec.takes_value:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            if spec.nargs in (None, "?"):
                return None
            if not value and spec.nargs == "+":
                return None
            if not all(_parses(spec, x) for x in value):
                return None
            return [_flag(spec)] + [_text(x) for x in value]
        if spec.type == "bool":  # argparse type=bool: any non-empty text is True, "" is False
            return [_flag(spec), "True" if value else ""] if isinstance(value, bool) else None
        if not _parses(spec, value):
            return None
        return [_flag(spec), _text(value)]
    return None


def as_parsed(spec: OptionSpec, value: Any) -> Any:
    """A scalar given for a list option (`cp_comm_type: p2p`, nargs='+') as argparse would store it."""
    if spec.action == "store" and spec.nargs in ("+", "*") and value is not None \
            and not isinstance(value, (list, tuple)):
        return [value]
    return value


def to_argv(values: Mapping[str, Any], schema: Schema, skipped: list[str] | None = None) -> list[str]:
    """Flags making `schema`'s parser produce `values` for every dest it knows.

    Keys that are not dests of `schema` (Primus-only keys) are ignored. Dests
    whose value no flag can express are appended to `skipped` when given.
    """
    defaults = schema.defaults()
    argv: list[str] = []
    done: set[str] = set()
    for spec in schema.options:
        dest = spec.dest
        if dest in done or dest not in values:
            continue
        done.add(dest)
        value = as_parsed(spec, values[dest])
        if same_value(value, defaults.get(dest)):
            continue
        specs = sorted(schema.by_dest[dest], key=lambda s: s.deprecated)  # prefer current spellings
        for candidate in specs:
            tokens = _tokens_for(candidate, value)
            if tokens is not None:
                argv += tokens
                break
        else:
            if skipped is not None:
                skipped.append(dest)
    return argv
