"""Golden values in the shape Megatron-LM's functional tests read.

Shape (one object per metric): `{"lm loss": {"start_step": 1, "end_step": 50,
"step_interval": 5, "values": {"1": 10.84, "5": ..., "10": ...}}, ...}`.
The steps kept are `start_step` and every multiple of `step_interval` after it;
a step the log lacks is written as the string "nan" (as upstream does), values
are rounded to 5 decimals, and "iteration-time" is in seconds.
"""

from __future__ import annotations

import json
import math
from typing import Mapping

# our metric name -> the golden-values metric name, and a unit conversion
GOLDEN_METRICS: dict[str, tuple[str, float]] = {
    "lm_loss": ("lm loss", 1.0),
    "num_zeros": ("num-zeros", 1.0),
    "elapsed_ms": ("iteration-time", 1e-3),
}


def golden_values(
    series: Mapping[str, Mapping[int, float]],
    start_step: int | None = None,
    end_step: int | None = None,
    step_interval: int = 1,
) -> dict[str, dict]:
    """Build the golden-values object from per-iteration series (keys of GOLDEN_METRICS)."""
    if step_interval < 1:
        raise ValueError("step_interval must be >= 1")
    present = [s for name, s in series.items() if name in GOLDEN_METRICS and s]
    if not present:
        return {}
    all_steps = sorted(set().union(*(set(s) for s in present)))
    start = all_steps[0] if start_step is None else start_step
    end = all_steps[-1] if end_step is None else end_step
    steps = [k for k in range(start, end + 1) if k == start or (k > start and k % step_interval == 0)]
    out: dict[str, dict] = {}
    for name, (golden_name, scale) in GOLDEN_METRICS.items():
        values = series.get(name)
        if not values:
            continue
        out[golden_name] = {
            "start_step": steps[0],
            "end_step": steps[-1],
            "step_interval": step_interval,
            "values": {str(k): _golden_number(values.get(k), scale) for k in steps},
        }
    return out


def _golden_number(value: float | None, scale: float) -> float | str:
    if value is None or math.isnan(value):
        return "nan"
    return round(value * scale, 5)


def dumps(golden: Mapping[str, dict]) -> str:
    return json.dumps(golden, indent=4) + "\n"
