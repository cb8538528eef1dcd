"""The text log follows Megatron's `training_log`: a line after iteration 1 and every
`log_interval` iterations, the loss averaged over the interval's updating iterations,
skipped and nan iterations counted per interval. Lines are read back with the parity
log parser, so the format stays what `compare-logs` reads."""

from __future__ import annotations

import pytest

from migrate.parity.logs import parse_fields
from primus_runtime.metrics import IntervalLog


def record(iteration, loss, *, grad_norm=1.5, step_time=0.1, loss_scale=1.0, gbs=8):
    return {"iteration": iteration, "lm_loss": loss, "grad_norm": grad_norm, "lr": 1e-3, "loss_scale": loss_scale,
            "tokens_per_s": 1.0, "step_time": step_time, "consumed_samples": iteration * gbs, "skipped": 0, "nan": 0}


def run(log_interval, rows):
    """rows: (loss, skipped, extra record fields) per iteration -> {iteration: parsed fields} of the printed lines."""
    log = IntervalLog(log_interval, train_iters=len(rows), global_batch_size=8)
    printed = {}
    for i, (loss, skipped, extra) in enumerate(rows, start=1):
        line = log.add(record(i, loss, **extra), skipped=skipped)
        if line is not None:
            assert f"iteration {i:8d}/{len(rows):8d} |" in line
            printed[i] = parse_fields(line)
    return printed


def test_interval_one_prints_each_iteration_with_its_own_loss():
    printed = run(1, [(5.0, False, {}), (4.0, False, {}), (3.0, False, {})])
    assert {i: f["lm_loss"] for i, f in printed.items()} == {1: 5.0, 2: 4.0, 3: 3.0}


def test_lines_after_the_first_iteration_and_each_interval_with_interval_means():
    losses = [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0]
    printed = run(3, [(x, False, {"step_time": 0.1 * i}) for i, x in enumerate(losses, start=1)])
    assert sorted(printed) == [1, 3, 6]  # iteration 7 ends no interval: not printed
    assert printed[1]["lm_loss"] == 8.0
    # the first line does not close the interval: 1..3 is averaged at iteration 3
    assert printed[3]["lm_loss"] == pytest.approx((8 + 7 + 6) / 3)
    assert printed[6]["lm_loss"] == pytest.approx((5 + 4 + 3) / 3)
    assert printed[3]["elapsed_ms"] == pytest.approx(1000 * (0.1 + 0.2 + 0.3) / 3, abs=0.05)
    assert printed[6]["elapsed_ms"] == pytest.approx(1000 * (0.4 + 0.5 + 0.6) / 3, abs=0.05)
    assert printed[6]["consumed_samples"] == 48 and printed[6]["grad_norm"] == 1.5


def test_skipped_iterations_are_left_out_of_the_mean_and_counted_per_interval():
    nan = float("nan")
    rows = [
        (9.0, True, {"grad_norm": None, "loss_scale": 2.0**32}),   # 1: skipped (overflow)
        (8.0, True, {"grad_norm": None, "loss_scale": 2.0**31}),   # 2: skipped
        (6.0, False, {"loss_scale": 2.0**31}),                     # 3
        (nan, True, {"grad_norm": None, "loss_scale": 2.0**30}),   # 4: skipped with a nan loss
        (4.0, False, {"loss_scale": 2.0**30}),                     # 5
        (2.0, False, {"loss_scale": 2.0**30}),                     # 6
    ]
    printed = run(3, rows)
    first, third, sixth = printed[1], printed[3], printed[6]
    assert "lm_loss" not in first and "grad_norm" not in first  # nothing updated yet, norm not computed
    assert first["loss_scale"] == 2.0**32 and first["skipped_iterations"] == 1
    assert third["lm_loss"] == 6.0 and third["skipped_iterations"] == 2 and third["nan_iterations"] == 0
    assert third["loss_scale"] == 2.0**31
    assert sixth["lm_loss"] == pytest.approx(3.0) and sixth["skipped_iterations"] == 1
    assert sixth["nan_iterations"] == 1 and sixth["loss_scale"] == 2.0**30


def test_an_interval_with_only_skipped_iterations_prints_no_loss():
    printed = run(2, [(5.0, False, {}), (4.0, False, {}), (3.0, True, {"grad_norm": None}),
                      (2.0, True, {"grad_norm": None})])
    assert printed[2]["lm_loss"] == pytest.approx(4.5)
    assert "lm_loss" not in printed[4] and printed[4]["skipped_iterations"] == 2
