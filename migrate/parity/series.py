"""Two runs' per-iteration numbers side by side: alignment, tolerance, first divergence.

Used by both `compare-logs` (values read from logs) and dynamic parity (values
returned by the bundled runtime). A metric is a mapping iteration -> value;
the legacy run is the reference. NaN is never "close" to anything: a run that
produced a NaN loss proves nothing, even when the other one did too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

Series = Mapping[int, float]


@dataclass(frozen=True)
class Tolerance:
    """`exact`: bit-for-bit equal values; `rtol`: |primus - legacy| <= rtol * |legacy|."""

    rtol: float = 0.0

    @property
    def mode(self) -> str:
        return "exact" if self.rtol == 0 else f"rtol={self.rtol:g}"

    def close(self, legacy: float, primus: float) -> bool:
        if math.isnan(legacy) or math.isnan(primus):
            return False
        if self.rtol == 0:
            return legacy == primus
        return abs(primus - legacy) <= self.rtol * abs(legacy)


@dataclass(frozen=True)
class Divergence:
    metric: str
    iteration: int
    legacy: float
    primus: float

    @property
    def abs_diff(self) -> float:
        return abs(self.primus - self.legacy)

    @property
    def rel_diff(self) -> float:
        if self.legacy == 0:
            return math.inf if self.primus != 0 else 0.0
        return abs(self.primus - self.legacy) / abs(self.legacy)


@dataclass
class MetricComparison:
    metric: str
    compared: list[int]
    first_divergence: Divergence | None
    max_rel_diff: float
    nan_iterations: dict[str, list[int]] = field(default_factory=dict)  # side -> iterations with NaN

    @property
    def ok(self) -> bool:
        return self.first_divergence is None and bool(self.compared)


@dataclass
class SeriesComparison:
    tolerance: Tolerance
    metrics: dict[str, MetricComparison]
    only_legacy: list[int]
    only_primus: list[int]

    @property
    def ok(self) -> bool:
        return bool(self.metrics) and all(m.ok for m in self.metrics.values())

    @property
    def first_divergence(self) -> Divergence | None:
        found = [m.first_divergence for m in self.metrics.values() if m.first_divergence]
        return min(found, key=lambda d: d.iteration) if found else None

    def to_json(self) -> dict:
        first = self.first_divergence
        return {
            "ok": self.ok,
            "mode": self.tolerance.mode,
            "rtol": self.tolerance.rtol,
            "first_divergence": _divergence_json(first),
            "only_legacy": self.only_legacy,
            "only_primus": self.only_primus,
            "metrics": {
                name: {
                    "ok": m.ok,
                    "compared": len(m.compared),
                    "first_divergence": _divergence_json(m.first_divergence),
                    "max_rel_diff": _finite_or_str(m.max_rel_diff),
                    "nan_iterations": m.nan_iterations,
                }
                for name, m in self.metrics.items()
            },
        }


def _finite_or_str(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _divergence_json(d: Divergence | None) -> dict | None:
    if d is None:
        return None
    return {
        "metric": d.metric,
        "iteration": d.iteration,
        "legacy": _finite_or_str(d.legacy),
        "primus": _finite_or_str(d.primus),
        "rel_diff": _finite_or_str(d.rel_diff),
    }


def compare_metric(name: str, legacy: Series, primus: Series, tolerance: Tolerance) -> MetricComparison:
    common = sorted(set(legacy) & set(primus))
    first: Divergence | None = None
    max_rel = 0.0
    for it in common:
        d = Divergence(name, it, float(legacy[it]), float(primus[it]))
        if not (math.isnan(d.legacy) or math.isnan(d.primus)):
            max_rel = max(max_rel, d.rel_diff)
        if first is None and not tolerance.close(d.legacy, d.primus):
            first = d
    nans = {
        side: [it for it in sorted(values) if math.isnan(values[it])]
        for side, values in (("legacy", legacy), ("primus", primus))
    }
    return MetricComparison(name, common, first, max_rel, {k: v for k, v in nans.items() if v})


def compare_runs(
    legacy: Mapping[str, Series],
    primus: Mapping[str, Series],
    metrics: list[str],
    tolerance: Tolerance,
) -> SeriesComparison:
    """Compare the named metrics over the iterations both runs report.

    A metric neither run reports is skipped; one that only one side reports
    counts as a failure with no compared iterations.
    """
    results: dict[str, MetricComparison] = {}
    for name in metrics:
        a, b = legacy.get(name, {}), primus.get(name, {})
        if not a and not b:
            continue
        results[name] = compare_metric(name, a, b, tolerance)
    iters_a = set().union(*(set(s) for s in legacy.values())) if legacy else set()
    iters_b = set().union(*(set(s) for s in primus.values())) if primus else set()
    return SeriesComparison(tolerance, results, sorted(iters_a - iters_b), sorted(iters_b - iters_a))


def divergence_window(
    legacy: Mapping[str, Series],
    primus: Mapping[str, Series],
    metrics: list[str],
    around: int | None,
    before: int = 2,
    after: int = 2,
) -> list[tuple[int, dict[str, tuple[float | None, float | None]]]]:
    """Rows of the divergence table: iterations near `around` (or the first few)."""
    its = sorted(set().union(*(set(legacy.get(m, {})) | set(primus.get(m, {})) for m in metrics)))
    if not its:
        return []
    if around is None or around not in its:
        window = its[: before + after + 1]
    else:
        i = its.index(around)
        window = its[max(0, i - before): i + after + 1]
    return [(it, {m: (legacy.get(m, {}).get(it), primus.get(m, {}).get(it)) for m in metrics}) for it in window]


def format_table(rows, metrics: list[str], first: Divergence | None, tolerance: Tolerance) -> str:
    """Plain-text table; the first diverging iteration is marked with `<-`."""
    header = ["iter"]
    for m in metrics:
        header += [f"{m} legacy", f"{m} primus"]
    lines = [header]
    for it, values in rows:
        row = [str(it)]
        for m in metrics:
            a, b = values[m]
            row += [_fmt(a), _fmt(b)]
        if first is not None and it == first.iteration:
            row.append("<- first divergence")
        else:
            bad = any(
                a is not None and b is not None and not tolerance.close(a, b) for a, b in values.values()
            )
            row.append("<- differs" if bad else "")
        lines.append(row)
    widths = [max(len(r[i]) for r in lines if i < len(r)) for i in range(len(header))]
    out = []
    for r in lines:
        cells = [c.rjust(widths[i]) if i < len(widths) else c for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if math.isnan(x):
        return "nan"
    return f"{x:.9g}"
