"""Human-readable parity reports (the JSON forms live next to the data as `to_json`)."""

from __future__ import annotations

from migrate.conversion.static_parity import StaticParity
from migrate.parity.logcompare import PARITY_METRICS, LogComparison
from migrate.parity.series import SeriesComparison, divergence_window, format_table

LABELS = {"lm_loss": "lm loss", "grad_norm": "grad norm", "lr": "lr"}
LAYOUT_LABELS = ("TP=1 reference", "shrunk layout")


def verdict_lines(result: SeriesComparison) -> list[str]:
    lines = []
    for name, m in result.metrics.items():
        label = LABELS.get(name, name)
        if m.ok:
            lines.append(f"  {label:<10} same on {len(m.compared)} iteration(s) ({result.tolerance.mode}, "
                         f"max rel diff {m.max_rel_diff:.3g})")
        elif not m.compared:
            lines.append(f"  {label:<10} DIFFERS: reported by only one run")
        else:
            d = m.first_divergence
            assert d is not None
            lines.append(f"  {label:<10} DIFFERS from iteration {d.iteration}: legacy {d.legacy!r} vs primus "
                         f"{d.primus!r} (rel diff {d.rel_diff:.3g}; {result.tolerance.mode})")
    return lines


def divergence_table(legacy: dict, primus: dict, result: SeriesComparison, metrics: list[str]) -> str:
    first = result.first_divergence
    rows = divergence_window(legacy, primus, metrics, first.iteration if first else None)
    return format_table(rows, [m for m in metrics], first, result.tolerance)


def render_log_comparison(c: LogComparison) -> str:
    from migrate.parity.logcompare import series_of

    out = [
        f"legacy: {c.legacy.path} ({c.legacy.format} format, {len(c.legacy.records)} iteration lines)",
        f"primus: {c.primus.path} ({c.primus.format} format, {len(c.primus.records)} iteration lines)",
        "",
        "parity: " + ("HOLDS" if c.ok else "FAILED"),
        *verdict_lines(c.result),
        "",
    ]
    shown = [m for m in PARITY_METRICS if m in c.result.metrics]
    out.append("first divergence:" if c.result.first_divergence else "first iterations:")
    out.append(divergence_table(series_of(c.legacy, shown), series_of(c.primus, shown), c.result, shown))
    out.append("")
    out.append("throughput (tokens/s/GPU, median after the first logged iteration):")
    for side, t in c.throughput.items():
        value = f"{t.median:,.1f}" if t.median is not None else "n/a"
        out.append(f"  {side:<7} {value:>12}  ({t.how})")
    if c.throughput_ratio is not None:
        out.append(f"  primus/legacy = {c.throughput_ratio:.3f}")
    if c.notes:
        out.append("")
        out.append("notes:")
        out += [f"  - {n}" for n in c.notes]
    return "\n".join(out)


def failure_summary(result: SeriesComparison, what: str = "parity",
                    labels: tuple[str, str] = ("legacy", "primus")) -> str:
    """One stderr line saying why a comparison failed (a NaN named as such)."""
    import math

    first = result.first_divergence
    if first is None:
        return f"{what} failed: a metric is reported by only one run"
    label = LABELS.get(first.metric, first.metric)
    if math.isnan(first.legacy) or math.isnan(first.primus):
        side = labels[0] if math.isnan(first.legacy) else labels[1]
        return f"{what} failed: {side} {label} is NaN at iteration {first.iteration}"
    return (f"{what} failed: {label} differs from iteration {first.iteration} "
            f"({labels[0]} {first.legacy!r}, {labels[1]} {first.primus!r})")


def _static_lines(static: StaticParity) -> list[str]:
    if not static.ok:
        return static.format().splitlines()
    return [f"static parity: HOLDS (every Megatron argument resolves to the legacy value; "
            f"{len(static.ignored)} documented Primus-only key(s) ignored)"] + [
        f"  accepted: {e['dest']}: {e['legacy']!r} -> {e['primus']!r}: {e['why']}" for e in static.exceptions]


def _layout_lines(run) -> list[str]:
    ran = run.sides.get("legacy")
    actual = ran.result.layout if ran else None
    lines = [f"layout: legacy script {run.legacy_layout} (world {run.legacy_layout.world}); "
             f"parity ran {run.run_layout} on {run.run_layout.world} process(es)"
             + (f" [runtime reports {actual}]" if actual else "")]
    lines += [f"  - {n}" for n in run.layout_notes]
    if run.layout_comparison is not None:
        verdict = "same" if run.layout_comparison.ok else "DIFFERS"
        lines.append(f"  layout check: {run.run_layout} vs TP=1 PP=1 DP=1 reference: {verdict} "
                     f"({run.layout_comparison.tolerance.mode})")
        if not run.layout_comparison.ok:
            lines.append("  " + failure_summary(run.layout_comparison, "layout parity", LAYOUT_LABELS))
    return lines


def render_parity(run) -> str:
    """The text report of `primus-migrate parity`."""
    out = [f"parity of {run.script} -> {run.target}", ""]
    out += _static_lines(run.static)
    if run.static_only:
        out += ["", "parity: " + ("HOLDS" if run.ok else "FAILED") + " (static only)"]
        return "\n".join(out)
    out.append("")
    out += _layout_lines(run)
    if run.memory is not None:
        out.append(f"memory: {run.memory.describe()}")
    out.append("")
    c = run.comparison
    out.append("dynamic parity: " + ("HOLDS" if c.ok else "FAILED")
               + f" ({len(next(iter(c.metrics.values())).compared) if c.metrics else 0} iterations, "
                 f"{c.tolerance.mode}, device {run.device})")
    out += verdict_lines(c)
    out.append("")
    legacy, primus = run.sides["legacy"].series(), run.sides["primus"].series()
    shown = [m for m in PARITY_METRICS if m in c.metrics]
    out.append("first divergence:" if c.first_divergence else "first iterations:")
    out.append(divergence_table(legacy, primus, c, shown))
    out.append("")
    shared = [s for s in run.sides.values() if s.shared]
    alone = [s for s in run.sides.values() if not s.shared]
    parts = [f"{' + '.join(s.name for s in shared)} {sum(s.seconds for s in shared):.1f} s (shared workers)"] \
        if shared else []
    parts += [f"{s.name} {s.seconds:.1f} s" for s in alone]
    out.append("training time: " + ", ".join(parts))
    if run.repro is not None:
        r = run.repro
        out.append("")
        out.append("reproducibility:")
        out.append("  run: " + ", ".join(f"{k}={v}" for k, v in r.run.items()))
        if r.settings:
            out.append("  legacy settings: " + ", ".join(f"{k}={v}" for k, v in r.settings.items()))
        if r.env:
            out.append("  legacy env: " + ", ".join(f"{k}={v}" for k, v in r.env.items()))
        for note in r.nondeterminism:
            out.append(f"  note: {note}")
    if run.notes:
        out.append("")
        out += [f"note: {n}" for n in run.notes]
    out.append("")
    out.append("parity: " + ("HOLDS" if run.ok else "FAILED"))
    return "\n".join(out)


def parity_json(run) -> dict:
    static = run.static
    data: dict = {
        "script": run.script,
        "target": run.target,
        "ok": run.ok,
        "static": static.to_json() if hasattr(static, "to_json") else {
            "ok": bool(static.ok),
            "differences": [{"dest": d, "expected": _jsonable(a), "resolved": _jsonable(b)}
                            for d, a, b in static.differences],
            "ignored": list(static.ignored),
        },
    }
    if run.static_only:
        return data
    data["dynamic"] = {
        "ok": run.dynamic_ok,
        "device": run.device,
        "comparison": run.comparison.to_json() if run.comparison else None,
        "layout": {
            "legacy": run.legacy_layout.to_json() if run.legacy_layout else None,
            "ran": run.run_layout.to_json() if run.run_layout else None,
            "runtime_reported": {n: s.result.layout for n, s in run.sides.items()},
            "notes": run.layout_notes,
            "reference_comparison": run.layout_comparison.to_json() if run.layout_comparison else None,
        },
        "metrics": {n: [dict(row) for row in s.result.metrics] for n, s in run.sides.items()},
        "seconds": {n: round(s.seconds, 3) for n, s in run.sides.items()},
        "shrinks": {n: list(s.result.shrinks) for n, s in run.sides.items()},
        "memory": ({"params": run.memory.params, "bytes_per_param": run.memory.bytes_per_param,
                    "bytes": run.memory.bytes} if run.memory else None),
        "reproducibility": run.repro.to_json() if run.repro else None,
        "notes": run.notes,
    }
    return data


def _jsonable(value):
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def json_safe(value):
    """Strict JSON: NaN and infinities become the strings "nan", "inf", "-inf"."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
