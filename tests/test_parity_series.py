"""Series alignment, tolerance modes and the first divergence."""

from __future__ import annotations

import math

from migrate.parity.series import (
    Tolerance,
    compare_metric,
    compare_runs,
    divergence_window,
    format_table,
)


def test_exact_mode_is_bitwise_equality():
    assert Tolerance().close(1.0, 1.0)
    assert not Tolerance().close(1.0, 1.0 + 2**-52)
    assert Tolerance().mode == "exact"


def test_rtol_mode_is_relative_to_legacy():
    tol = Tolerance(0.05)
    assert tol.close(10.0, 10.5)
    assert not tol.close(10.0, 10.51)
    assert tol.mode == "rtol=0.05"


def test_nan_is_never_close_even_to_nan():
    assert not Tolerance().close(math.nan, math.nan)
    assert not Tolerance(1.0).close(1.0, math.nan)


def test_first_divergence_is_the_earliest_differing_iteration():
    legacy = {1: 3.0, 2: 2.5, 3: 2.0, 4: 1.5}
    primus = {1: 3.0, 2: 2.5, 3: 2.1, 4: 1.4}
    m = compare_metric("lm_loss", legacy, primus, Tolerance())
    assert not m.ok
    assert m.first_divergence.iteration == 3
    assert (m.first_divergence.legacy, m.first_divergence.primus) == (2.0, 2.1)
    assert math.isclose(m.max_rel_diff, 0.1 / 1.5)


def test_only_common_iterations_are_compared_and_gaps_listed():
    r = compare_runs({"lm_loss": {1: 1.0, 2: 0.9, 3: 0.8}}, {"lm_loss": {1: 1.0, 3: 0.8, 4: 0.7}},
                     ["lm_loss"], Tolerance())
    assert r.ok
    assert r.metrics["lm_loss"].compared == [1, 3]
    assert r.only_legacy == [2] and r.only_primus == [4]


def test_metric_reported_by_one_side_only_fails():
    r = compare_runs({"lm_loss": {1: 1.0}, "grad_norm": {1: 2.0}}, {"lm_loss": {1: 1.0}},
                     ["lm_loss", "grad_norm"], Tolerance())
    assert not r.ok and r.metrics["lm_loss"].ok and not r.metrics["grad_norm"].ok


def test_overall_first_divergence_across_metrics():
    legacy = {"lm_loss": {1: 1.0, 2: 0.9, 3: 0.8}, "grad_norm": {1: 5.0, 2: 4.0, 3: 3.0}}
    primus = {"lm_loss": {1: 1.0, 2: 0.9, 3: 0.7}, "grad_norm": {1: 5.0, 2: 4.5, 3: 3.0}}
    r = compare_runs(legacy, primus, ["lm_loss", "grad_norm"], Tolerance())
    assert r.first_divergence.iteration == 2 and r.first_divergence.metric == "grad_norm"
    assert r.to_json()["first_divergence"]["iteration"] == 2


def test_divergence_table_marks_the_first_divergence():
    legacy = {"lm_loss": {i: 10.0 - i for i in range(1, 11)}}
    primus = {"lm_loss": {i: 10.0 - i + (0.5 if i >= 6 else 0) for i in range(1, 11)}}
    r = compare_runs(legacy, primus, ["lm_loss"], Tolerance())
    rows = divergence_window(legacy, primus, ["lm_loss"], r.first_divergence.iteration)
    assert [it for it, _ in rows] == [4, 5, 6, 7, 8]
    text = format_table(rows, ["lm_loss"], r.first_divergence, r.tolerance)
    marked = [line for line in text.splitlines() if "first divergence" in line]
    assert len(marked) == 1 and marked[0].split()[0] == "6"
