"""The parity plot: loss, difference, grad norm and lr panels, integer ticks, skipped steps marked."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Polygon, Rectangle

from migrate.parity.plot import parity_figure, parity_plot_png, skipped_iterations


def _series(n: int, skip: set[int] = frozenset()) -> dict[str, dict[int, float]]:
    # a skipped step has no grad norm (the runtime logs null), the loss and lr are still logged
    return {
        "lm_loss": {i: 10.0 - i * 0.1 for i in range(1, n + 1)},
        "grad_norm": {i: 1.0 + i * 0.01 for i in range(1, n + 1) if i not in skip},
        "lr": {i: 1e-4 * i / n for i in range(1, n + 1)},
    }


def _spans(ax) -> list[tuple[float, float]]:
    """x extent of the axvspan patches (a Polygon or Rectangle depending on matplotlib's version)."""
    out = []
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            out.append((patch.get_x(), patch.get_x() + patch.get_width()))
        elif isinstance(patch, Polygon):
            xs = [x for x, _ in patch.get_xy()]
            out.append((min(xs), max(xs)))
    return out


def test_skipped_iterations_are_where_the_cumulative_count_rises():
    rows = [{"iteration": i, "skipped": s} for i, s in [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2)]]
    assert skipped_iterations(rows) == {3, 5}
    assert skipped_iterations([{"iteration": 1}, {"iteration": 2}]) == set()


def test_panels_ticks_and_skipped_steps():
    fig = parity_figure(_series(5, {3}), _series(5, {3}), "t", skipped={"legacy": {3}, "primus": {3}})
    FigureCanvasAgg(fig).draw()  # tick positions are decided at draw time
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["lm loss", "|primus - legacy| loss", "grad norm", "learning rate"]
    for ax in axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # 5 iterations: no 1.5, 2.5 ...
        assert _spans(ax) == [(2.5, 3.5)]  # the skipped step, in every panel
    assert "skipped step (loss-scale overflow)" in [t.get_text() for t in axes[0].get_legend().get_texts()]
    gn = axes[2].get_lines()[0]
    assert list(gn.get_xdata()) == [1, 2, 4, 5]  # no grad norm drawn at the skipped step


def test_a_step_only_one_side_skipped_is_named():
    fig = parity_figure(_series(4), _series(4, {2}), "t", skipped={"legacy": set(), "primus": {2}})
    assert "primus skipped" in [t.get_text() for t in fig.axes[0].texts]


def test_without_grad_norm_or_lr_only_the_loss_panels_are_drawn():
    fig = parity_figure({"lm_loss": {1: 2.0, 2: 1.5}}, {"lm_loss": {1: 2.0, 2: 1.6}}, "t")
    assert [ax.get_ylabel() for ax in fig.axes] == ["lm loss", "|primus - legacy| loss"]
    assert parity_plot_png({"lm_loss": {1: 2.0}}, {"lm_loss": {1: 2.0}}, "t")[:4] == b"\x89PNG"
