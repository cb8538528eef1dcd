"""`--keep-knobs`: which script knobs can stay parameters of the YAML.

A knob stays a parameter (`tensor_model_parallel_size: ${TP:8}`) only when it
sets exactly one Megatron value, 1:1: evaluating the script again with the
knob at other values changes that dest to exactly those values, and the
target's `${VAR:default}` interpolation reads the knob's text back as the same
typed value (every release turns digits into int; the release's `Interpolation`
says the rest, e.g. whether true/false become booleans). Strings that merely embed the knob's text (a log
folder named `..._tp8_...`) follow it as templates (`..._tp${TP:8}_...`),
since the interpolation substitutes inside strings too. Anything else, an
`if` branch, a knob feeding two numbers, and the knob is written as a plain
value.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from migrate.primus.interpolate import Interpolation
from migrate.values import same_value


def coerce(interpolation: Interpolation, text: str) -> Any:
    """The value `${KNOB:text}` gives back at the target after interpolation."""
    return interpolation.typed(text)


def sentinels(value: str) -> list[str]:
    """Two other integers to evaluate the script with, sharing no digit with the knob's value."""
    digits = set(value.lstrip("-"))
    out: list[str] = []
    candidate = abs(int(value)) * 2 + 7
    while len(out) < 2:
        if not set(str(candidate)) & digits:
            out.append(str(candidate))
        candidate += 1
    return out


def embed(current: str, moved: str, value: str, sentinel: str) -> tuple[str, str] | None:
    """(prefix, suffix) with current == prefix+value+suffix and moved == prefix+sentinel+suffix."""
    if len(current) - len(value) != len(moved) - len(sentinel):
        return None
    found = None
    for i in range(len(current) - len(value) + 1):
        prefix, suffix = current[:i], current[i + len(value):]
        if current[i:i + len(value)] == value and moved == prefix + sentinel + suffix:
            if found is not None:
                return None  # ambiguous
            found = (prefix, suffix)
    return found


Span = tuple[int, int, str]  # (start, end, placeholder) inside a string value


def classify(
    knob: str,
    value: str,
    current: Mapping[str, Any],
    runs: Sequence[tuple[str, Mapping[str, Any]]],
    interpolation: Interpolation,
) -> dict[str, str | Span] | None:
    """dest -> `${TP:8}` for the key the knob sets 1:1, and dest -> span for strings embedding
    it (see `apply_spans`); None when the knob is not 1:1.

    `current`: the run's dests with the knob at `value`; `runs`: (sentinel, dests) per re-evaluation.
    """
    placeholder = f"${{{knob}:{value}}}"
    changed: set[str] | None = None
    for _, moved in runs:
        these = {d for d in current if not same_value(moved.get(d), current[d])}
        if changed is not None and these != changed:
            return None
        changed = these
    if not changed:
        return None
    main = [d for d in changed
            if not isinstance(current[d], str)
            and same_value(coerce(interpolation, value), current[d])
            and all(same_value(coerce(interpolation, s), moved.get(d)) for s, moved in runs)]
    if len(main) != 1:
        return None
    out: dict[str, str | Span] = {main[0]: placeholder}
    for dest in changed - set(main):
        if not isinstance(current[dest], str):
            return None
        pieces = {embed(current[dest], str(moved.get(dest)), value, s) for s, moved in runs}
        piece = pieces.pop() if len(pieces) == 1 else None
        if piece is None:
            return None
        prefix, _ = piece
        out[dest] = (len(prefix), len(prefix) + len(value), placeholder)
    return out


def apply_spans(text: str, spans: Sequence[Span]) -> str | None:
    """`text` with each span replaced by its placeholder; None when spans overlap."""
    out, last = [], 0
    for start, end, placeholder in sorted(spans):
        if start < last:
            return None
        out += [text[last:start], placeholder]
        last = end
    out.append(text[last:])
    return "".join(out)
