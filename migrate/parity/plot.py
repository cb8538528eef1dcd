"""PNG of both runs, for people to eyeball a parity check: lm loss (and the two runs' difference),
grad norm and learning rate per iteration, with the steps a run skipped (fp16 loss-scale overflow)
marked, and integer iteration ticks.

matplotlib is imported here only, with the Agg backend, so nothing needs a display.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from migrate.parity.series import Divergence

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn (parity --plot), not with the report
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Series = Mapping[int, float]
PANELS = (("lm_loss", "lm loss"), ("grad_norm", "grad norm"), ("lr", "learning rate"))


def skipped_iterations(rows: Iterable[Mapping[str, Any]]) -> set[int]:
    """Iterations whose optimizer step was skipped: the runtime's cumulative `skipped` count rose
    there (Megatron's 'number of skipped iterations'; fp16 loss-scale overflows)."""
    out, before = set(), 0
    for row in sorted(rows, key=lambda r: int(r["iteration"])):
        count = int(row.get("skipped") or 0)
        if count > before:
            out.add(int(row["iteration"]))
        before = count
    return out


def parity_figure(
    legacy: Mapping[str, Series],
    primus: Mapping[str, Series],
    title: str,
    first_divergence: Divergence | None = None,
    skipped: Mapping[str, set[int]] | None = None,
    labels: tuple[str, str] = ("legacy", "primus"),
) -> Figure:
    """A matplotlib Figure: one panel per metric either run has, plus |difference| under the loss."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    panels = [(key, name) for key, name in PANELS if legacy.get(key) or primus.get(key)]
    ratios = [3 if key == "lm_loss" else 2 for key, _ in panels]
    if "lm_loss" in dict(panels):
        panels.insert(1, ("diff", f"|{labels[1]} - {labels[0]}| loss"))
        ratios.insert(1, 1)
    fig = Figure(figsize=(8, 2.2 * sum(ratios) / 2 + 1), dpi=100)
    axes: list[Axes] = list(fig.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": ratios},
                                         squeeze=False)[:, 0])
    for ax, (key, name) in zip(axes, panels):
        if key == "diff":
            _difference(ax, legacy.get("lm_loss", {}), primus.get("lm_loss", {}))
        else:
            _curves(ax, legacy.get(key, {}), primus.get(key, {}), labels)
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title(title)
    axes[-1].set_xlabel("iteration")
    _mark_skipped(axes, skipped or {}, labels)
    if first_divergence is not None:
        for ax in axes:
            ax.axvline(first_divergence.iteration, color="tab:red", linestyle=":", linewidth=1)
        axes[0].annotate(
            f"first divergence: iteration {first_divergence.iteration} ({first_divergence.metric})",
            xy=(first_divergence.iteration, first_divergence.legacy), xytext=(0.35, 0.9),
            textcoords="axes fraction", arrowprops={"arrowstyle": "->"},
        )
    axes[0].legend()
    fig.tight_layout()
    return fig


def parity_plot_png(*args: Any, **kwargs: Any) -> bytes:
    """`parity_figure` rendered to PNG bytes (the caller writes them through OutputTree)."""
    buf = io.BytesIO()
    parity_figure(*args, **kwargs).savefig(buf, format="png")
    return buf.getvalue()


def _curves(ax: Axes, a: Series, b: Series, labels: tuple[str, str]) -> None:
    pa, pb = sorted(a.items()), sorted(b.items())
    ax.plot([k for k, _ in pa], [v for _, v in pa], label=labels[0], linewidth=2.5, alpha=0.6)
    ax.plot([k for k, _ in pb], [v for _, v in pb], label=labels[1], linewidth=1.0, linestyle="--", marker=".")


def _difference(ax: Axes, a: Series, b: Series) -> None:
    common = sorted(set(a) & set(b))
    diffs = [abs(b[k] - a[k]) for k in common]
    ax.plot(common, [d if math.isfinite(d) else float("nan") for d in diffs], color="tab:red")


def _mark_skipped(axes: Sequence[Axes], skipped: Mapping[str, set[int]], labels: tuple[str, str]) -> None:
    """A grey band over each skipped step in every panel, labelled once (grad norm has no point there)."""
    steps = sorted(set().union(*skipped.values())) if skipped else []
    for i, step in enumerate(steps):
        who = [side for side in labels if step in skipped.get(side, set())]
        label = "skipped step (loss-scale overflow)" if i == 0 else None
        for ax in axes:
            ax.axvspan(step - 0.5, step + 0.5, color="0.85", zorder=0, label=label if ax is axes[0] else None)
        if len(who) == 1:  # only one side skipped: say which, it is a divergence of its own
            axes[0].annotate(f"{who[0]} skipped", xy=(step, 0.03), xycoords=("data", "axes fraction"),
                             ha="center", va="bottom", rotation=90, fontsize=7)
