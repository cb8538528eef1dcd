"""Namespace -> megatron-core TransformerConfig and GPTModel, as Megatron-LM builds them.

Follows `core_transformer_config_from_args` (every TransformerConfig field that is
also an argument is copied, then the handful of renamed/derived fields) and the GPT
model provider (layer spec choice, GPTModel arguments).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any, Mapping

import torch

if TYPE_CHECKING:  # megatron-core is imported by the functions that build with it
    from megatron.core.transformer.transformer_config import TransformerConfig
import torch.nn.functional as F

def params_dtype(ns: Mapping[str, Any]) -> torch.dtype:
    if ns["bf16"]:
        return torch.bfloat16
    if ns["fp16"]:
        return torch.float16
    return torch.float32


def transformer_config(ns: Mapping[str, Any], on_cpu: bool) -> TransformerConfig:
    """The TransformerConfig (or MLATransformerConfig) Megatron would build from `ns`."""
    from megatron.core.transformer.transformer_config import MLATransformerConfig, TransformerConfig

    from primus_runtime import cpu_compat

    cls = MLATransformerConfig if ns.get("multi_latent_attention") else TransformerConfig
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.init and f.name in ns:
            kw[f.name] = _as_field_type(f, ns[f.name])
    # Older pins (5a676b36) name two config fields differently on the command line.
    if "layernorm_epsilon" not in ns and "norm_epsilon" in ns:
        kw["layernorm_epsilon"] = ns["norm_epsilon"]
    if "layernorm_zero_centered_gamma" not in ns and "apply_layernorm_1p" in ns:
        kw["layernorm_zero_centered_gamma"] = bool(ns["apply_layernorm_1p"])
    dtype = params_dtype(ns)
    kw["params_dtype"] = dtype
    kw["pipeline_dtype"] = dtype
    kw["bf16"], kw["fp16"] = bool(ns["bf16"]), bool(ns["fp16"])
    kw["persist_layer_norm"] = not ns.get("no_persist_layer_norm", False)
    kw["deallocate_pipeline_outputs"] = True
    # One model chunk per stage (no interleaved schedule), where Megatron turns p2p overlap off.
    kw["overlap_p2p_comm"] = False
    kw["batch_p2p_comm"] = True
    kw["virtual_pipeline_model_parallel_size"] = None
    kw["num_moe_experts"] = ns["num_experts"]
    kw["rotary_interleaved"] = bool(ns.get("rotary_interleaved", False))
    kw["num_layers_in_first_pipeline_stage"] = ns.get("decoder_first_pipeline_num_layers")
    kw["num_layers_in_last_pipeline_stage"] = ns.get("decoder_last_pipeline_num_layers")
    kw["fp8_param"] = bool(ns.get("fp8_param_gather", False))
    if ns["swiglu"]:
        kw["activation_func"] = F.silu
        kw["gated_linear_unit"] = True
        kw["bias_activation_fusion"] = bool(ns.get("bias_swiglu_fusion", False))
    else:
        kw["bias_activation_fusion"] = bool(ns.get("bias_gelu_fusion", False))
    if ns.get("squared_relu"):
        from megatron.core.activations import squared_relu

        kw["activation_func"] = squared_relu
    if ns.get("init_method_xavier_uniform"):
        kw["init_method"] = torch.nn.init.xavier_uniform_
        kw["scaled_init_method"] = torch.nn.init.xavier_uniform_
    kw["num_query_groups"] = ns["num_query_groups"] if ns["group_query_attention"] else None
    if ns.get("rope_type") is None:
        kw.pop("rope_type", None)
    cp_comm = ns.get("cp_comm_type")
    if isinstance(cp_comm, (list, tuple)) and len(cp_comm) == 1:
        kw["cp_comm_type"] = cp_comm[0]
    # Things the runtime does itself or does not support: no TE, no FP8, no CUDA graphs.
    kw["fp8"] = None
    kw["use_cpu_initialization"] = True
    kw["perform_initialization"] = True
    kw["timers"] = None
    kw.pop("config_logger_dir", None)
    # Gradient-accumulation fusion writes into `param.main_grad`, a buffer of megatron-core's
    # DDP wrapper, which the runtime does not use (see primus_runtime.optim): off everywhere.
    kw["gradient_accumulation_fusion"] = False
    if on_cpu:
        kw.update(cpu_compat.CPU_UNFUSED)
    if on_cpu or not _have_te():
        kw["transformer_impl"] = "local"
    for key in ("cuda_graph_impl",):
        if key in kw:
            kw[key] = "none"
    kw.pop("external_cuda_graph", None)
    kw.pop("enable_cuda_graph", None)
    return cls(**kw)


def _as_field_type(f: dataclasses.Field, value: Any) -> Any:
    """argparse stores enum choices (attention_backend, ...) by name in a JSON namespace."""
    import enum

    default = f.default if f.default is not dataclasses.MISSING else None
    if isinstance(default, enum.Enum) and isinstance(value, str):
        enum_type = type(default)
        if value in enum_type.__members__:
            return enum_type[value]
        return enum_type(value)
    return value


def _have_te() -> bool:
    try:
        import transformer_engine  # noqa: F401
    except Exception:
        return False
    return True


def layer_spec(ns: Mapping[str, Any], config: TransformerConfig, use_te: bool, vp_stage: int | None = None) -> Any:
    """The model provider's spec choice, with MLA's core attention and the experts' output
    projection fixed on the local spec."""
    spec = _megatron_layer_spec(ns, config, use_te, vp_stage)
    if ns.get("multi_latent_attention") and not use_te:
        from primus_runtime.mla_attention import replace_core_attention

        replace_core_attention(spec)
    if ns["num_experts"] and not use_te:
        from primus_runtime.expert_linear import replace_expert_fc2

        replace_expert_fc2(spec)
    return spec


def _megatron_layer_spec(ns: Mapping[str, Any], config: TransformerConfig, use_te: bool,
                         vp_stage: int | None = None) -> Any:
    """The model provider's spec choice: block spec for MoE, layer spec otherwise."""
    from megatron.core.models.gpt import gpt_layer_specs as specs

    if ns["num_experts"]:
        return specs.get_gpt_decoder_block_spec(
            config, use_transformer_engine=use_te, normalization=ns["normalization"],
            qk_l2_norm=bool(ns.get("qk_l2_norm", False)), vp_stage=vp_stage,
        )
    if use_te:
        return specs.get_gpt_layer_with_transformer_engine_spec(
            ns["num_experts"], bool(ns.get("moe_grouped_gemm")), bool(ns.get("qk_layernorm")),
            bool(ns.get("multi_latent_attention")), qk_l2_norm=bool(ns.get("qk_l2_norm", False)),
        )
    return specs.get_gpt_layer_local_spec(
        ns["num_experts"], False, bool(ns.get("qk_layernorm")), bool(ns.get("multi_latent_attention")),
        normalization=ns["normalization"], qk_l2_norm=bool(ns.get("qk_l2_norm", False)),
    )


def build_gpt(ns: Mapping[str, Any], config: TransformerConfig, vocab: int, use_te: bool) -> Any:
    from megatron.core import parallel_state as ps
    from megatron.core.models.gpt import GPTModel

    model = GPTModel(
        config=config,
        transformer_layer_spec=layer_spec(ns, config, use_te),
        vocab_size=vocab,
        max_sequence_length=int(ns["max_position_embeddings"] or ns["seq_length"]),
        pre_process=ps.is_pipeline_first_stage(),
        post_process=ps.is_pipeline_last_stage(),
        fp16_lm_cross_entropy=bool(ns.get("fp16_lm_cross_entropy", False)),
        parallel_output=True,
        share_embeddings_and_output_weights=not ns["untie_embeddings_and_output_weights"],
        position_embedding_type=ns["position_embedding_type"],
        rotary_percent=float(ns["rotary_percent"]),
        rotary_base=int(ns["rotary_base"]),
        rope_scaling=bool(ns.get("use_rope_scaling", False)),
    )
    return model


def wrap_precision(model: torch.nn.Module, config: TransformerConfig) -> Any:
    """Megatron's Float16Module for bf16/fp16: every weight (norms included) in half
    precision, first-stage inputs cast to it, last-stage outputs (the loss) back to fp32.
    The model is returned as is in fp32."""
    from megatron.core.transformer.module import Float16Module

    if config.bf16 or config.fp16:
        return Float16Module(config, model)
    return model


# ---------------------------------------------------------------------------------------
# Layout-invariant initialisation.
#
# Megatron's CPU initialisation draws each full weight from the global generator and
# keeps this rank's slice, so TP does not change the weights; but pipeline stages are
# seeded differently (seed + 100 * pp_rank) and expert-parallel ranks create only their
# experts, so PP and EP layouts start from different weights. To make every layout train
# the same model, each weight is re-drawn from a generator keyed by (seed, the weight's
# name in the unsplit model), with megatron-core's own init method for that weight and
# its own splitting routine (`_initialize_affine_weight_cpu`).
# ---------------------------------------------------------------------------------------

OUTPUT_LAYER_WEIGHTS = ("linear_proj.weight", "linear_fc2.weight")


def _global_names(model: torch.nn.Module) -> dict[str, str]:
    """Local parameter name -> name in the unsplit model (global layer and expert numbers)."""
    from megatron.core import parallel_state as ps
    from megatron.core.transformer.transformer_layer import TransformerLayer

    prefixes: dict[str, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, TransformerLayer):
            local = name.rsplit(".", 1)
            prefixes[name] = f"{local[0]}.{module.layer_number - 1}"
    ep_rank = ps.get_expert_model_parallel_rank()
    out: dict[str, str] = {}
    for name, _ in model.named_parameters():
        gname = name
        for local, glob in prefixes.items():
            if name.startswith(local + "."):
                gname = glob + name[len(local):]
                break
        marker = ".local_experts."
        if marker in gname:
            head, tail = gname.split(marker, 1)
            idx, rest = tail.split(".", 1)
            num_local = _num_local_experts(model)
            gname = f"{head}{marker}{ep_rank * num_local + int(idx)}.{rest}"
        if gname == "output_layer.weight" and getattr(model, "share_embeddings_and_output_weights", False):
            gname = "embedding.word_embeddings.weight"  # a tied copy on the last pipeline stage
        out[name] = gname
    return out


def _num_local_experts(model: Any) -> int:  # Any: Megatron's attributes on torch modules
    for module in model.modules():
        if hasattr(module, "num_local_experts"):
            return int(module.num_local_experts)
    return 1


def _key(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def init_layout_invariant(model: Any, config: TransformerConfig, seed: int) -> None:  # Any: see above
    from megatron.core import parallel_state as ps
    from megatron.core.tensor_parallel.layers import _initialize_affine_weight_cpu

    names = _global_names(model)
    for name, param in model.named_parameters():
        if param.dim() < 2:
            continue  # norms (ones) and biases (zeros) do not depend on the seed
        gname = names[name]
        init = config.output_layer_init_method if gname.endswith(OUTPUT_LAYER_WEIGHTS) else config.init_method
        expert = not getattr(param, "allreduce", True)
        if expert:
            rank, world = ps.get_expert_tensor_parallel_rank(), ps.get_expert_tensor_parallel_world_size()
        else:
            rank, world = ps.get_tensor_model_parallel_rank(), ps.get_tensor_model_parallel_world_size()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_key(seed, gname))
            if getattr(param, "tensor_model_parallel", False) and world > 1:
                dim = param.partition_dim
                stride = getattr(param, "partition_stride", 1)
                full = list(param.shape)
                full[dim] *= world
                host = torch.empty(param.shape, dtype=param.dtype)
                _initialize_affine_weight_cpu(
                    host, full[0], full[1], param.shape[dim], dim, init, stride,
                    params_dtype=param.dtype, rank=rank, world_size=world,
                    skip_set_tensor_parallel_attributes=True,
                )
            else:
                master = torch.empty(param.shape, dtype=torch.float)
                init(master)
                host = master.to(param.dtype)
            with torch.no_grad():
                param.copy_(host.to(param.device))
