"""MoE experts with biases (`add_bias_linear`, Megatron-LM's default) on the local spec.

The DeepSeek-V3 fixture never passes `--disable-bias-linear`, so its experts carry biases;
at expert parallelism 1 (what --proxy shrinks EP=8 to) megatron-core's local expert MLP
added its weighted bias in place to the output of a no-op tensor-parallel reduce, which
autograd refuses ("... is a view and is being modified inplace").
"""

from __future__ import annotations

import math

import pytest

from helpers_runtime import mixtral_namespace
from primus_runtime import RunOptions, train


@pytest.mark.slow  # imports megatron-core (seconds)
def test_replace_expert_fc2_swaps_only_the_routed_experts_projection():
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.tensor_parallel import ColumnParallelLinear, RowParallelLinear

    from primus_runtime.expert_linear import ExpertRowParallelLinear, replace_expert_fc2

    spec = get_gpt_layer_local_spec(num_experts=4, moe_grouped_gemm=False)
    moe = spec.submodules.mlp.submodules
    shared_before = moe.shared_experts.submodules
    replace_expert_fc2(spec)
    replace_expert_fc2(spec)  # idempotent
    assert moe.experts.submodules.linear_fc2 is ExpertRowParallelLinear
    assert moe.experts.submodules.linear_fc1 is ColumnParallelLinear
    assert moe.shared_experts.submodules is shared_before
    assert shared_before.linear_fc2 is RowParallelLinear

    dense = get_gpt_layer_local_spec()
    replace_expert_fc2(dense)
    assert dense.submodules.mlp.submodules.linear_fc2 is RowParallelLinear


@pytest.mark.slow
def test_moe_with_expert_biases_trains_at_expert_parallel_1():
    ns = mixtral_namespace(add_bias_linear=True, train_iters=3)
    assert ns["expert_model_parallel_size"] == 1
    result = train(ns, RunOptions(quiet=True))
    losses = [m["lm_loss"] for m in result.metrics]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
