"""The runtime's gradient bookkeeping after the step-overhead work: the same numbers as before."""

from __future__ import annotations

import pytest
import torch

from primus_runtime.optim import _square_sum, attach_main_grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_square_sum_is_the_float64_sum_of_squares(dtype):
    """Reference: the formula the runtime used before (`.double().pow(2).sum()`), bit for bit."""
    torch.manual_seed(0)
    grad = (torch.randn(257, 129) * 1e-3).to(dtype)
    before = grad.clone()
    assert _square_sum(grad).item() == grad.detach().double().pow(2).sum().item()
    assert torch.equal(grad, before)  # the gradient itself is never squared in place


class _Chunk(torch.nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3, 4, dtype=dtype))


@pytest.mark.parametrize("dtype, fp32_accumulation", [(torch.float32, False), (torch.bfloat16, True)])
def test_main_grad_accumulates_micro_batches(dtype, fp32_accumulation):
    chunk = _Chunk(dtype)
    attach_main_grads([chunk], {"accumulate_allreduce_grads_in_fp32": fp32_accumulation})
    inputs = [torch.full((4,), float(k), dtype=dtype) for k in (1, 2, 3)]
    for x in inputs:
        (chunk.weight @ x).sum().backward()
    p = chunk.weight
    assert p.grad is None
    assert p.main_grad.dtype == (torch.float32 if fp32_accumulation else dtype)
    # d/dW sum(W x) = x broadcast over rows; summed over the three micro-batches: 1 + 2 + 3
    assert torch.equal(p.main_grad, torch.full((3, 4), 6.0, dtype=p.main_grad.dtype))
    assert p.main_grad.data_ptr() != p.data_ptr()
