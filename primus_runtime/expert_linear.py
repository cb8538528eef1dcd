"""Expert output projection for MoE layers on the local (non-Transformer-Engine) spec.

megatron-core 0.16.1's local MoE spec runs each expert as an `MLP` whose `linear_fc2`
is a `RowParallelLinear` returning its bias separately; with a bias (`add_bias_linear`,
Megatron-LM's default) the expert then adds `bias * prob` to that output in place.
When the expert's linear does its own tensor-parallel reduce (expert parallelism 1),
the reduce is an autograd Function that hands its input back unchanged at one rank
(and after an in-place all-reduce at more), and autograd forbids modifying such an
output in place. This projection returns a fresh tensor in exactly that case, the
same values and gradients. Used only where the TE spec is not (CPU, or a GPU
without Transformer Engine).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from megatron.core.tensor_parallel import RowParallelLinear


class ExpertRowParallelLinear(RowParallelLinear):
    def forward(self, input_: Any) -> Any:  # type: ignore[override]
        output, output_bias = super().forward(input_)
        if output_bias is not None and not self.explicit_expert_comm:
            output = output.clone()  # the expert adds its weighted bias to this in place
        return output, output_bias


def replace_expert_fc2(spec: Any) -> None:
    """Give the routed experts of every MoE layer in a (block) spec `ExpertRowParallelLinear`."""
    layers = getattr(spec, "layer_specs", None) or [spec]
    for layer in layers:
        moe = getattr(layer.submodules, "mlp", None)
        experts = getattr(getattr(moe, "submodules", None), "experts", None)
        sub = getattr(experts, "submodules", None)
        if experts is not None and sub is not None and getattr(sub, "linear_fc2", None) is RowParallelLinear:
            experts.submodules = dataclasses.replace(sub, linear_fc2=ExpertRowParallelLinear)
