"""Half precision, loss scaling, activation recomputation and log_interval on CPU, end to end."""

from __future__ import annotations

import math

import pytest

from helpers_runtime import llama_namespace
from migrate.parity.logs import parse_log_file
from primus_runtime import RunOptions, train

pytestmark = pytest.mark.slow

ITERS = 20


def losses(result):
    return [m["lm_loss"] for m in result.metrics]


def assert_decreasing(values):
    assert len(values) == ITERS and all(math.isfinite(v) for v in values)
    assert sum(values[-5:]) / 5 < sum(values[:5]) / 5 - 0.5


@pytest.fixture(scope="module")
def fp32():
    return train(llama_namespace(train_iters=ITERS), RunOptions(quiet=True))


def test_bf16_trains_with_decreasing_loss_close_to_fp32(fp32):
    result = train(llama_namespace(train_iters=ITERS, bf16=True), RunOptions(quiet=True))
    assert_decreasing(losses(result))
    assert losses(result) == pytest.approx(losses(fp32), rel=3e-2)
    assert losses(result) != losses(fp32)  # really computed in bf16
    assert {m["loss_scale"] for m in result.metrics} == {1.0}  # bf16 without --loss-scale: no scaler
    assert all(m["skipped"] == 0 for m in result.metrics)


def test_fp16_with_a_workable_scale_trains_like_fp32(fp32, tmp_path):
    # 2**12 keeps this tiny model's scaled gradients inside fp16's range: no step is skipped
    result = train(llama_namespace(train_iters=ITERS, fp16=True, initial_loss_scale=2**12, loss_scale_window=8),
                   RunOptions(quiet=True, out_dir=tmp_path))
    assert_decreasing(losses(result))
    assert losses(result) == pytest.approx(losses(fp32), rel=3e-2)
    assert all(m["skipped"] == 0 and m["grad_norm"] is not None for m in result.metrics)
    # no overflow in 8 iterations: the scale doubles after iterations 8 and 16
    assert [m["loss_scale"] for m in result.metrics] == [2.0**12] * 7 + [2.0**13] * 8 + [2.0**14] * 5
    printed = parse_log_file(result.log_path).series("loss_scale")
    assert printed[1] == 4096.0 and printed[20] == 16384.0


def test_fp16_default_scale_skips_overflowing_steps(tmp_path):
    # --fp16 alone starts at 2**32: the scaled gradients overflow fp16, the step is skipped and
    # the scale backs off (after the hysteresis of 2); the learning-rate schedule does not move.
    ns = llama_namespace(train_iters=ITERS, fp16=True)
    assert (ns["initial_loss_scale"], ns["hysteresis"]) == (2**32, 2)
    result = train(ns, RunOptions(quiet=True, iters=4, out_dir=tmp_path))
    m = result.metrics
    assert [r["loss_scale"] for r in m] == [2.0**32, 2.0**31, 2.0**30, 2.0**29]
    assert [r["skipped"] for r in m] == [1, 2, 3, 4] and [r["nan"] for r in m] == [0, 0, 0, 0]
    assert all(r["grad_norm"] is None for r in m)
    assert all(r["lr"] == ns["lr_warmup_init"] for r in m)  # scheduler not stepped (warm-up starts at 0)
    assert [r["consumed_samples"] for r in m] == [8, 16, 24, 32]
    assert all(math.isfinite(r["lm_loss"]) for r in m)
    line = result.log_path.read_text().splitlines()[-1]
    assert "| loss scale: 536870912.0 |" in line and "grad norm" not in line and "lm loss" not in line


@pytest.mark.parametrize("recompute", [
    {"recompute_granularity": "selective"},
    {"recompute_granularity": "full", "recompute_method": "uniform", "recompute_num_layers": 1},
])
def test_activation_recompute_reproduces_the_run_with_dropout(recompute):
    # Recomputation saves and restores the RNG state around the recomputed forward: with
    # dropout on, the recomputed masks must be the ones drawn in the first forward.
    base = dict(train_iters=ITERS, attention_dropout=0.1, hidden_dropout=0.1)
    plain = train(llama_namespace(**base), RunOptions(quiet=True, iters=3))
    again = train(llama_namespace(**base, **recompute), RunOptions(quiet=True, iters=3))
    assert losses(again) == losses(plain)
    assert [r["grad_norm"] for r in again.metrics] == [r["grad_norm"] for r in plain.metrics]


def test_log_interval_prints_interval_means_and_metrics_keep_every_iteration(tmp_path):
    result = train(llama_namespace(train_iters=ITERS, log_interval=4), RunOptions(quiet=True, iters=9, out_dir=tmp_path))
    assert [r["iteration"] for r in result.metrics] == list(range(1, 10))
    assert len(result.metrics_path.read_text().splitlines()) == 9
    log = parse_log_file(result.log_path)
    assert log.iterations() == [1, 4, 8]
    printed = log.series("lm_loss")
    by_iter = {r["iteration"]: r["lm_loss"] for r in result.metrics}
    assert printed[1] == pytest.approx(by_iter[1], rel=1e-6)
    assert printed[4] == pytest.approx(sum(by_iter[i] for i in (1, 2, 3, 4)) / 4, rel=1e-6)
    assert printed[8] == pytest.approx(sum(by_iter[i] for i in (5, 6, 7, 8)) / 4, rel=1e-6)


def test_two_process_half_precision_layouts_agree_with_one_process():
    """The loss scaler's overflow decision is shared by every rank, and the fp32 main-grad
    accumulation and reductions work across processes: same skips, same scales, close losses."""
    from primus_runtime import train_many

    runs = {
        "fp16 dp2, default scale": dict(fp16=True),
        "fp16 pp2, scale 2**12": dict(fp16=True, initial_loss_scale=2**12, pipeline_model_parallel_size=2),
        "bf16 tp2": dict(bf16=True, tensor_model_parallel_size=2),
    }
    configs = [llama_namespace(train_iters=ITERS, **kw) for kw in runs.values()]
    references = train_many([llama_namespace(train_iters=ITERS, **{k: v for k, v in kw.items() if not k.endswith("_size")})
                             for kw in runs.values()], RunOptions(quiet=True, iters=3))
    two = train_many(configs, RunOptions(quiet=True, iters=3, nproc=2))
    for name, result, reference in zip(runs, two, references):
        assert [m["loss_scale"] for m in result.metrics] == [m["loss_scale"] for m in reference.metrics], name
        assert [m["skipped"] for m in result.metrics] == [m["skipped"] for m in reference.metrics], name
        assert losses(result) == pytest.approx(losses(reference), rel=1e-2), name
    assert [m["skipped"] for m in two[0].metrics] == [1, 2, 3]
    assert [m["skipped"] for m in two[1].metrics] == [0, 0, 0]
