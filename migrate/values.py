"""What it means for two argument values to be "the same run".

Static parity, the emitter (which keys need an override) and the reverse
converter all ask this one question, so it has one answer, here.
"""

from __future__ import annotations

import math
from typing import Any


def same_value(a: Any, b: Any) -> bool:
    """Equal as Megatron would use them.

    Numbers compare by value (argparse turns `--lr 1` into 1.0; YAML `lr: 1`
    gives 1, and Megatron computes the same with either), but booleans are
    never numbers here: `True == 1` in Python, not in a config. `None` equals
    only `None`. Sequences compare element-wise (YAML lists vs argparse lists
    and tuples). NaN equals NaN so a NaN default is not reported as a change.
    """
    if a is b and type(a) in _SELF_SAME:
        return True  # the answer below for any such value (NaN included), without the type tests
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if _is_number(a) and _is_number(b):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# Immutable scalar types whose every value is the same as itself under the rules above.
_SELF_SAME = frozenset({str, int, float, bool, type(None)})
