"""Which keys an experiment must override so Primus runs what the script ran.

Start from what the chosen presets resolve to (the baseline), take every
Megatron dest whose baseline value differs from the legacy run's value, then
drop the ones that do not matter after derivation (a `null` that Megatron
fills in to the same number). What is left is the minimal set: removing any
one of them changes the derived run.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_not
from typing import Any, Callable, Iterable, Mapping

from migrate.diagnostics import Origin
from migrate.primus.emit.inert import Inert
from migrate.values import same_value

MEGATRON_DEFAULT = "Megatron default"

_MISSING = object()


@dataclass
class Override:
    """One `key: value  # origin` line of the experiment's overrides."""

    key: str
    value: Any
    origin: str  # "train_llama3.sh:74" or "Megatron default"
    knob: str | None = None  # the script knob that sets it (kept as `${KNOB:value}` with --keep-knobs)
    raw: str | None = None  # the text written instead of the value, e.g. `${TP:8}`
    inert: Inert | None = None  # why the key cannot change this run (migrate.primus.emit.inert), if it cannot

    @property
    def comment(self) -> str:
        text = f"{self.origin} ({self.knob})" if self.knob and self.raw is None else self.origin
        return f"{text}; {self.inert.comment()}" if self.inert is not None else text


def origin_note(key: str, explicit: Mapping[str, Origin | None]) -> str:
    """Where the legacy value came from: the flag's file:line, or the Megatron default."""
    if key in explicit:
        origin = explicit[key]
        return str(origin) if origin is not None else "command line"
    return MEGATRON_DEFAULT


def mismatches(derived: Mapping[str, Any], expected: Mapping[str, Any], dests: Iterable[str]) -> set[str]:
    from migrate.megatron.schema import is_runtime_value

    return {d for d in dests if d in expected and not is_runtime_value(expected[d])
            and not same_value(derived.get(d, _MISSING), expected[d])}


def _with(baseline: Mapping[str, Any], changes: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(defaults)
    values.update(baseline)
    values.update(changes)
    return values


def needed_overrides(
    baseline: Mapping[str, Any],
    run_values: Mapping[str, Any],
    expected: Mapping[str, Any],
    dests: Iterable[str],
    derive: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    defaults: Mapping[str, Any] | None = None,
    keep: Iterable[str] = (),
) -> dict[str, Any]:
    """dest -> value to write, minimal for parity after derivation.

    `baseline`: what the presets resolve to with no overrides (dest -> value).
    `run_values`: the legacy run re-expressed at the target (raw, before derivation).
    `expected`: derive(run_values), what Megatron trains with.
    `defaults`: values a dest takes when the baseline lacks it (argparse defaults).
    `keep`: dests to write even when redundant (knobs kept as parameters).

    Each candidate is dropped in turn when, without it, no dest that matched before mismatches.
    """
    from migrate.megatron.schema import is_runtime_value

    dests = [d for d in dests if d in run_values and not is_runtime_value(run_values[d])]
    defaults = defaults or {}
    keep = set(keep)
    base = _with(baseline, {}, defaults)  # base.get(d) is baseline.get(d, defaults.get(d))
    changes = {d: run_values[d] for d in dests if not same_value(base.get(d, _MISSING), run_values[d])}
    for d in keep:
        if d in run_values:
            changes[d] = run_values[d]
    checked = [d for d in dests if d in expected and not is_runtime_value(expected[d])]
    current = _with(
        baseline, changes, defaults
    )  # kept equal (keys, order, values) to _with(baseline, changes, defaults)
    ref_derived = derive(dict(current))
    reference = mismatches(ref_derived, expected, checked)
    watched = [d for d in checked if d not in reference]
    ref_values = [ref_derived.get(d, _MISSING) for d in watched]
    for key in list(changes):
        if key in keep:
            continue
        trial = dict(current)
        _drop(trial, key, base)
        try:
            worse = _new_mismatches(derive(trial), watched, ref_values, expected)
        except Exception:  # noqa: BLE001 - a combination derive() rejects is not a valid removal
            continue
        if not worse:
            del changes[key]
            _drop(current, key, base)
    return changes


def _drop(values: dict[str, Any], key: str, base: Mapping[str, Any]) -> None:
    """`values` without the override of `key`: its baseline value in place, or no key at all."""
    if key in base:
        values[key] = base[key]
    else:
        del values[key]


def _new_mismatches(derived: Mapping[str, Any], watched: list[str], ref_values: list[Any],
                    expected: Mapping[str, Any]) -> bool:
    """Whether `derived` mismatches `expected` on a dest the reference derivation matched.

    `watched`: those dests, `ref_values`: the reference's value objects for them. A dest whose
    value is the very object the reference had gets the reference's verdict (a match), so only
    the few dests a trial changed are compared; the identity test runs in C over all of them."""
    moved = map(is_not, map(derived.get, watched, repeat(_MISSING)), ref_values)
    for dest in compress(watched, moved):
        if not same_value(derived.get(dest, _MISSING), expected[dest]):
            return True
    return False


def build_overrides(
    changes: Mapping[str, Any],
    explicit: Mapping[str, Origin | None],
    knobs: Mapping[str, str] | None = None,
    placeholders: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
    raw_values: Mapping[str, tuple[str, str]] | None = None,
) -> list[Override]:
    """Override records, script flags first in script order, then Megatron defaults by name.

    `notes` gives the comment of a key the converter chose itself (neither a flag nor a default).
    `raw_values`: dest -> (text to write, what it says) for values that vary at run time.
    """
    knobs = knobs or {}
    placeholders = dict(placeholders or {})
    notes = dict(notes or {})
    for key, (text, what) in (raw_values or {}).items():
        if key in changes and key not in placeholders:
            if text != changes[key]:
                placeholders[key] = text
            notes[key] = f"{notes.get(key) or origin_note(key, explicit)}; {what}"

    def order(key: str) -> tuple:
        origin = explicit.get(key)
        if key in explicit and origin is not None:
            return (0, origin.file, origin.line, origin.col, key)
        if key in explicit:
            return (1, "", 0, 0, key)
        return (2, "", 0, 0, key)

    return [
        Override(key, changes[key], notes.get(key) or origin_note(key, explicit), knobs.get(key),
                 placeholders.get(key))
        for key in sorted(changes, key=order)
    ]
