"""Human-readable parity reports (the JSON forms live next to the data as `to_json`)."""

from __future__ import annotations

from migrate.parity.logcompare import PARITY_METRICS, LogComparison
from migrate.parity.series import SeriesComparison, divergence_window, format_table

LABELS = {"lm_loss": "lm loss", "grad_norm": "grad norm", "lr": "lr"}


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
