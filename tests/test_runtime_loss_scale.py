"""fp16 loss scaling: Megatron's dynamic scaler rules and which runs get a scaler.

Expected scales are worked out by hand from the documented algorithm (Megatron-LM's
`--initial-loss-scale`, `--min-loss-scale`, `--loss-scale-window`, `--hysteresis`, with
growth factor 2 and backoff factor 0.5): each iteration with inf/nan gradients uses up
one unit of hysteresis and, once none is left, halves the scale (not below the
minimum); `window` clean iterations in a row double it and restore the hysteresis.
"""

from __future__ import annotations

import pytest

from primus_runtime.loss_scale import ConstantLossScaler, DynamicLossScaler, make_loss_scaler


def scales_after(scaler, found_inf_sequence):
    out = []
    for found_inf in found_inf_sequence:
        scaler.update(found_inf)
        out.append(scaler.value())
    return out


def test_scale_halves_only_after_hysteresis_is_used_up():
    scaler = DynamicLossScaler(initial_scale=2.0**16, min_scale=1.0, growth_interval=1000, hysteresis=2)
    # 1st overflow: one unit of hysteresis left, scale kept; 2nd: none left, halve;
    # 3rd: still none left (no clean window restored it), halve again.
    assert scales_after(scaler, [True, True, True]) == [2.0**16, 2.0**15, 2.0**14]


def test_scale_doubles_after_a_clean_window_which_also_restores_hysteresis():
    scaler = DynamicLossScaler(initial_scale=2.0**10, min_scale=1.0, growth_interval=3, hysteresis=2)
    sequence = [True, True,          # hysteresis 2 -> 1 (kept), -> 0 (halved to 2**9)
                False, False, False,  # a clean window of 3: doubled to 2**10, hysteresis back to 2
                True,                # 2 -> 1: kept
                False, False,        # clean iterations, window not complete
                True,                # 1 -> 0: halved to 2**9; the clean count restarts
                False, False, False]  # a full window again: 2**10
    assert scales_after(scaler, sequence) == [
        2.0**10, 2.0**9,
        2.0**9, 2.0**9, 2.0**10,
        2.0**10,
        2.0**10, 2.0**10,
        2.0**9,
        2.0**9, 2.0**9, 2.0**10,
    ]


def test_an_overflow_inside_the_window_restarts_the_clean_count():
    scaler = DynamicLossScaler(initial_scale=8.0, min_scale=1.0, growth_interval=2, hysteresis=5)
    # clean, overflow (hysteresis 5 -> 4, no backoff), clean, clean -> only now a window of 2
    assert scales_after(scaler, [False, True, False, False]) == [8.0, 8.0, 8.0, 16.0]


def test_scale_never_drops_below_the_minimum():
    scaler = DynamicLossScaler(initial_scale=4.0, min_scale=1.0, growth_interval=100, hysteresis=1)
    assert scales_after(scaler, [True] * 4) == [2.0, 1.0, 1.0, 1.0]


def test_megatron_default_first_iterations_of_an_fp16_run():
    # --fp16 alone: initial 2**32, hysteresis 2, window 1000: the scale reported after
    # each of the first overflowing iterations.
    scaler = make_loss_scaler({"fp16": True, "bf16": False, "loss_scale": None, "initial_loss_scale": 2**32,
                               "min_loss_scale": 1.0, "loss_scale_window": 1000, "hysteresis": 2})
    assert isinstance(scaler, DynamicLossScaler)
    assert scaler.value() == 4294967296.0
    assert scales_after(scaler, [True, True, True, False]) == [2.0**32, 2.0**31, 2.0**30, 2.0**30]


def test_loss_is_multiplied_and_gradients_divided_by_the_scale():
    import torch

    scaler = ConstantLossScaler(1024.0)
    loss = torch.tensor(3.0)
    assert scaler.scale_loss(loss).item() == 3072.0
    assert scaler.inv_scale.dtype == torch.float32 and scaler.inv_scale.item() == 1.0 / 1024
    scales_after(scaler, [True, True, False])
    assert scaler.value() == 1024.0  # a constant scale never moves


def base(**kw):
    ns = {"fp16": False, "bf16": False, "loss_scale": None, "initial_loss_scale": 2**32,
          "min_loss_scale": 1.0, "loss_scale_window": 1000, "hysteresis": 2}
    ns.update(kw)
    return ns


@pytest.mark.parametrize("ns, kind", [
    (base(fp16=True), DynamicLossScaler),
    (base(fp16=True, loss_scale=128.0), ConstantLossScaler),
    (base(bf16=True, loss_scale=128.0), ConstantLossScaler),
    (base(bf16=True), None),
    (base(), None),
    (base(loss_scale=128.0), None),  # fp32: Megatron's FP32Optimizer has no scaler
])
def test_which_runs_get_which_scaler(ns, kind):
    scaler = make_loss_scaler(ns)
    if kind is None:
        assert scaler is None
    else:
        assert type(scaler) is kind


def test_dynamic_scaler_takes_the_namespace_settings():
    scaler = make_loss_scaler(base(fp16=True, initial_loss_scale=2**20, min_loss_scale=4.0,
                                   loss_scale_window=7, hysteresis=3))
    assert (scaler.value(), scaler.min_scale.item(), scaler.growth_interval, scaler.hysteresis) == (2.0**20, 4.0, 7, 3)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        DynamicLossScaler(initial_scale=1.0, min_scale=2.0, growth_interval=10, hysteresis=2)
    with pytest.raises(ValueError):
        DynamicLossScaler(initial_scale=8.0, min_scale=1.0, growth_interval=0, hysteresis=2)
    with pytest.raises(ValueError):
        ConstantLossScaler(0.0)
