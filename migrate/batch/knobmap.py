"""Knob -> Megatron key table for one script, by two independent routes.

Traced: the evaluator gives each argv token the origin of its text and each
knob the line of its default (`MBS="${MBS:-2}"`), so a flag whose value comes
from that line is set by that knob. Measured: two converted variants that
differ in one knob only differ in the keys that knob drives (MODEL_SIZE ->
num_layers, hidden_size, ...).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from migrate.batch.results import ScriptResult, VariantResult
from migrate.batch.variants import KnobInfo, Variant
from migrate.shell.plan import LaunchPlan
from migrate.values import same_value


def assignment(variant: Variant, infos: Mapping[str, KnobInfo]) -> dict[str, str | None]:
    """Every knob's value in a variant: its override, else the script's default."""
    values = {name: info.default for name, info in infos.items()}
    values.update(variant.env_dict)
    return values


def measure(result: ScriptResult, rows: list[VariantResult], conversions: Mapping[str, Any],
            variants: Mapping[str, Variant], infos: Mapping[str, KnobInfo]) -> None:
    """Knob -> keys it drives, measured: two variants that differ in one knob only differ in its keys."""
    labels = [r.label for r in rows if r.label in conversions and r.status != "rejected"]
    assignments = {label: assignment(variants[label], infos) for label in labels}
    default_label = next((r.label for r in rows if r.is_default and r.label in conversions), None)
    knob_keys: dict[str, set[str]] = {}
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            differing = [k for k in assignments[a] if assignments[a].get(k) != assignments[b].get(k)]
            differing += [k for k in assignments[b] if k not in assignments[a]]
            if len(differing) != 1:
                continue
            keys = changed_keys(conversions[a].expected, conversions[b].expected)
            knob_keys.setdefault(differing[0], set()).update(keys)
    result.knob_keys = {k: sorted(v) for k, v in sorted(knob_keys.items())}
    if default_label is not None:
        base = conversions[default_label].expected
        for row in rows:
            if row.label in conversions and row.label != default_label:
                row.changed_keys = changed_keys(base, conversions[row.label].expected)


def trace(plan: LaunchPlan | None, dest_of: Callable[[str], str | None]) -> dict[str, set[str]]:
    """Knob -> dests whose flag value is the knob's own default literal.

    The evaluator gives every argv token the origin of the text it came from, and
    every knob the line of its default (`MBS="${MBS:-2}"`): a flag whose value token
    comes from that line takes its value from that knob. Lines defining several knobs
    are ambiguous and skipped.
    """
    if plan is None:
        return {}
    by_line: dict[tuple[str, int], list[str]] = {}
    for knob in plan.knobs:
        if knob.defined_at is not None and knob.default not in (None, ""):
            by_line.setdefault((knob.defined_at.file, knob.defined_at.line), []).append(knob.name)
    argv = plan.argv
    out: dict[str, set[str]] = {}
    for i, token in enumerate(argv[:-1]):
        if not token.value.startswith("--") or "=" in token.value or argv[i + 1].value.startswith("--"):
            continue
        value = argv[i + 1]
        names = by_line.get((value.origin.file, value.origin.line), [])
        if len(names) != 1:
            continue
        dest = dest_of(token.value)
        if dest:
            out.setdefault(names[0], set()).add(dest)
    return out


def changed_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if k not in a or k not in b or not same_value(a[k], b[k]))
