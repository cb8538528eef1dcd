"""Core attention for multi-latent attention (DeepSeek) without Transformer Engine.

megatron-core 0.16.1's local layer spec pairs MLA with `DotProductAttention`, which
does not take the separate query/key and value head sizes MLA passes
(`k_channels`, `v_channels`) and fails to build. This class is that attention for
MLA: causal softmax(q k^T * softmax_scale) v with megatron-core's tensor layout
([s, b, heads, dim] in, [s, b, heads * v_dim] out) and its attention dropout,
computed with torch's scaled_dot_product_attention. Used only where the TE spec is
not (CPU, or a GPU without Transformer Engine).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F


class MLACoreAttention(torch.nn.Module):
    def __init__(self, config: Any, layer_number: int, attn_mask_type: Any, attention_type: str,
                 attention_dropout: Optional[float] = None, softmax_scale: Optional[float] = None,
                 k_channels: Optional[int] = None, v_channels: Optional[int] = None,
                 cp_comm_type: Optional[str] = None, pg_collection: Any = None) -> None:
        super().__init__()
        if config.context_parallel_size != 1:
            raise ValueError("context parallelism with multi-latent attention needs Transformer Engine")
        self.config = config
        self.k_channels = k_channels or config.kv_channels
        self.softmax_scale = softmax_scale if softmax_scale is not None else self.k_channels ** -0.5
        self.dropout = config.attention_dropout if attention_dropout is None else attention_dropout

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attention_mask: Optional[torch.Tensor], attn_mask_type: Any = None,
                attention_bias: Any = None, packed_seq_params: Any = None, **_: Any) -> torch.Tensor:
        if packed_seq_params is not None:
            raise ValueError("packed sequences with multi-latent attention need Transformer Engine")
        # [s, b, h, d] -> [b, h, s, d]
        q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))
        if self.dropout and self.training:
            from megatron.core import tensor_parallel

            with tensor_parallel.get_cuda_rng_tracker().fork():
                out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout, is_causal=True,
                                                     scale=self.softmax_scale)
        else:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.softmax_scale)
        s, b = query.shape[0], query.shape[1]
        return out.permute(2, 0, 1, 3).reshape(s, b, -1)


def replace_core_attention(spec: Any) -> None:
    """Swap DotProductAttention for MLACoreAttention in the MLA layers of a (block) spec."""
    from megatron.core.transformer.dot_product_attention import DotProductAttention

    layers = getattr(spec, "layer_specs", None) or [spec]
    for layer in layers:
        attention = getattr(layer.submodules, "self_attention", None)
        sub = getattr(attention, "submodules", None)
        if (
            sub is not None
            and getattr(sub, "core_attention", None) is DotProductAttention
            and hasattr(sub, "linear_kv_down_proj")
        ):
            sub.core_attention = MLACoreAttention
