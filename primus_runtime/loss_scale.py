"""Loss scaling for half-precision training, with Megatron's rules for when it applies.

fp16 gradients underflow (and overflow) easily, so the loss is multiplied by a scale
before the backward pass and the gradients are divided by it before the optimizer
step. Megatron's choice of scaler (`get_megatron_optimizer`):

- `loss_scale` set (fp16 or bf16): a constant scale;
- fp16 without `loss_scale`: a dynamic scale starting at `initial_loss_scale` that is
  halved after `hysteresis` iterations with inf/nan gradients (never below
  `min_loss_scale`) and doubled after `loss_scale_window` clean iterations in a row;
  an iteration whose gradients are not finite skips its optimizer step;
- otherwise (bf16 or fp32 without `loss_scale`): no scaler, the logged scale is 1.0.

The scale is an fp32 value, as in Megatron, and its reciprocal is taken in double
precision before being rounded to fp32.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch


class ConstantLossScaler:
    """A fixed loss scale (`--loss-scale`)."""

    def __init__(self, scale: float) -> None:
        if not scale > 0.0:
            raise ValueError(f"loss scale must be positive, got {scale}")
        self._scale = torch.tensor([scale], dtype=torch.float32)

    @property
    def scale(self) -> torch.Tensor:
        return self._scale

    @property
    def inv_scale(self) -> torch.Tensor:
        return self._scale.double().reciprocal().float()

    def value(self) -> float:
        return float(self._scale.item())

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return self._scale.to(loss.device) * loss

    def update(self, found_inf: bool) -> None:
        """A constant scale never changes."""


class DynamicLossScaler(ConstantLossScaler):
    """Megatron's dynamic loss scale: back off after `hysteresis` bad iterations, grow after a clean window."""

    def __init__(self, initial_scale: float, min_scale: float, growth_interval: int, hysteresis: int,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5) -> None:
        super().__init__(initial_scale)
        if not 0.0 < min_scale <= initial_scale:
            raise ValueError(f"min loss scale must be in (0, initial scale {initial_scale}], got {min_scale}")
        if growth_interval <= 0 or hysteresis <= 0:
            raise ValueError("loss_scale_window and hysteresis must be positive")
        if not growth_factor > 1.0 or not 0.0 < backoff_factor < 1.0:
            raise ValueError("growth factor must exceed 1 and backoff factor lie in (0, 1)")
        self.min_scale = torch.tensor([min_scale], dtype=torch.float32)
        self.growth_factor = torch.tensor([growth_factor], dtype=torch.float32)
        self.backoff_factor = torch.tensor([backoff_factor], dtype=torch.float32)
        self.growth_interval = int(growth_interval)
        self.hysteresis = int(hysteresis)
        self.clean_iterations = 0              # consecutive iterations with finite gradients
        self.hysteresis_left = self.hysteresis  # bad iterations still tolerated before backing off

    def update(self, found_inf: bool) -> None:
        if found_inf:
            self.clean_iterations = 0
            self.hysteresis_left -= 1
            if self.hysteresis_left <= 0:
                self._scale = torch.max(self._scale * self.backoff_factor, self.min_scale)
            return
        self.clean_iterations += 1
        if self.clean_iterations == self.growth_interval:
            self.clean_iterations = 0
            self.hysteresis_left = self.hysteresis
            self._scale = self._scale * self.growth_factor


def make_loss_scaler(ns: Mapping[str, Any]) -> ConstantLossScaler | None:
    """The scaler Megatron builds for this namespace, or None (no scaling, logged as 1.0)."""
    if not (ns["fp16"] or ns["bf16"]):
        return None
    if ns.get("loss_scale"):
        return ConstantLossScaler(float(ns["loss_scale"]))
    if ns["fp16"]:
        return DynamicLossScaler(
            initial_scale=float(ns.get("initial_loss_scale") or 2.0**32),
            min_scale=float(ns.get("min_loss_scale") or 1.0),
            growth_interval=int(ns.get("loss_scale_window") or 1000),
            hysteresis=int(ns.get("hysteresis") or 2),
        )
    return None
