"""PNG of both loss curves (and their difference), for people to eyeball a parity run.

matplotlib is imported here only, with the Agg backend, so nothing needs a display.
"""

from __future__ import annotations

import io
import math
from typing import Mapping

from migrate.parity.series import Divergence


def loss_plot_png(
    legacy: Mapping[int, float],
    primus: Mapping[int, float],
    title: str,
    first_divergence: Divergence | None = None,
    labels: tuple[str, str] = ("legacy", "primus"),
) -> bytes:
    """Render the two curves to PNG bytes (the caller writes them through OutputTree)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a = sorted(legacy.items())
    b = sorted(primus.items())
    top.plot([k for k, _ in a], [v for _, v in a], label=labels[0], linewidth=2.5, alpha=0.6)
    top.plot([k for k, _ in b], [v for _, v in b], label=labels[1], linewidth=1.0, linestyle="--", marker=".")
    top.set_ylabel("lm loss")
    top.set_title(title)
    common = sorted(set(legacy) & set(primus))
    diffs = [abs(primus[k] - legacy[k]) for k in common]
    bottom.plot(common, [d if math.isfinite(d) else float("nan") for d in diffs], color="tab:red")
    bottom.set_ylabel(f"|{labels[1]} - {labels[0]}|")
    bottom.set_xlabel("iteration")
    if first_divergence is not None:
        for ax in (top, bottom):
            ax.axvline(first_divergence.iteration, color="tab:red", linestyle=":", linewidth=1)
        top.annotate(
            f"first divergence: iteration {first_divergence.iteration} ({first_divergence.metric})",
            xy=(first_divergence.iteration, first_divergence.legacy),
            xytext=(0.35, 0.9),
            textcoords="axes fraction",
            arrowprops={"arrowstyle": "->"},
        )
    top.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
