"""Megatron's optimizer semantics on plain torch optimizers.

megatron-core's DistributedDataParallel and its optimizer wrappers keep gradients
in CUDA buffers, so the runtime does their work itself, exactly as they define it:

- parameter groups come from megatron-core's own `_get_param_groups` with Megatron's
  standard overrides (no weight decay on biases and 1-D parameters; decoupled LR on
  embedding/output weights when set), so `wd_mult`, `lr_mult`, `max_lr`, `min_lr`
  and `default_config` are Megatron's;
- Adam is AdamW (decoupled weight decay), SGD is SGD with momentum;
- gradients are averaged over the data-parallel group (expert weights over the
  expert-data-parallel group), tied embedding copies are summed across the first and
  last pipeline stages, and the global gradient norm counts each weight once across
  tensor/pipeline/expert ranks before clipping to `clip_grad`;
- gradients accumulate over micro-batches in a `main_grad` tensor per weight, as in
  megatron-core's DDP grad buffers: fp32 when `accumulate_allreduce_grads_in_fp32`
  (which Megatron forces on for bf16), the weight's own dtype otherwise (fp16);
- with bf16/fp16 the model holds half-precision weights (`Float16Module`) and the
  optimizer steps fp32 main copies (Megatron's mixed-precision optimizer), with the
  loss scaler of `primus_runtime.loss_scale`: gradients are unscaled and checked for
  inf/nan, and an iteration with overflowing gradients skips its step.
- the LR/WD schedule is megatron-core's `OptimizerParamScheduler`, stepped by the
  global batch size after every iteration, as Megatron's training loop does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import torch
import torch.distributed as dist


def optimizer_config(ns: Mapping[str, Any]) -> Any:
    from megatron.core.optimizer.optimizer_config import AdamOptimizerConfig, SGDOptimizerConfig

    cls = AdamOptimizerConfig if ns["optimizer"] == "adam" else SGDOptimizerConfig
    # dtype fields stay at their defaults: the runtime keeps fp32 main params and grads itself.
    kw = {f.name: ns[f.name] for f in dataclasses.fields(cls)
          if f.init and f.name in ns and not f.name.endswith("_dtype")}
    kw["bf16"], kw["fp16"] = bool(ns["bf16"]), bool(ns["fp16"])
    kw["params_dtype"] = torch.float32
    kw["use_distributed_optimizer"] = False
    kw.pop("timers", None)
    return cls(**kw)


def grad_accumulation_dtype(param: torch.nn.Parameter, ns: Mapping[str, Any]) -> torch.dtype:
    """The dtype of megatron-core DDP's grad buffer for `param`."""
    return torch.float32 if ns.get("accumulate_allreduce_grads_in_fp32") else param.dtype


def attach_main_grads(model_chunks: list[Any], ns: Mapping[str, Any]) -> None:
    """After each backward, move `param.grad` into `param.main_grad` (accumulating), as DDP's hook does."""

    def accumulate(param: Any) -> None:  # a Parameter with Megatron's main_grad/accumulation_dtype added
        grad = param.grad.detach()
        if param.main_grad is None:
            # The first micro-batch's gradient becomes the buffer: autograd hands `.grad` over as
            # a tensor of its own, and `.grad` is dropped right after, so when the dtype already
            # is the accumulation dtype nothing else sees it and a copy would only cost time.
            same = grad.dtype == param.accumulation_dtype and grad.is_contiguous()
            param.main_grad = grad if same else grad.to(param.accumulation_dtype, copy=True)
        else:
            param.main_grad.add_(grad)
        param.grad = None

    for chunk in model_chunks:
        for p in chunk.parameters():
            if p.requires_grad:
                p.main_grad = None
                p.accumulation_dtype = grad_accumulation_dtype(p, ns)
                p.register_post_accumulate_grad_hook(accumulate)


def param_groups(model_chunks: list[Any], config: Any) -> list[dict]:
    from megatron.core.optimizer import _get_param_groups, get_standard_config_overrides

    return _get_param_groups(model_chunks, config, get_standard_config_overrides(config))


class Optimizer:
    """A torch optimizer over fp32 main parameters, with Megatron's grad handling."""

    def __init__(self, model_chunks: list[Any], ns: Mapping[str, Any]) -> None:
        from primus_runtime.loss_scale import make_loss_scaler

        self.config = optimizer_config(ns)
        self.scaler = make_loss_scaler(ns)
        self.model_params: list[torch.nn.Parameter] = []
        self.main_params: list[torch.nn.Parameter] = []
        groups = []
        for group in param_groups(model_chunks, self.config):
            mains = []
            for p in group["params"]:
                main = p if p.dtype == torch.float32 else torch.nn.Parameter(p.detach().float())
                for attr in ("tensor_model_parallel", "partition_dim", "partition_stride", "allreduce", "shared"):
                    if hasattr(p, attr):
                        setattr(main, attr, getattr(p, attr))
                self.model_params.append(p)
                self.main_params.append(main)
                mains.append(main)
            groups.append({**group, "params": mains})
        self.half = any(p is not m for p, m in zip(self.model_params, self.main_params))
        # Megatron passes weight_decay/lr through the scheduler; these are the initial values.
        if ns["optimizer"] == "adam":
            self.torch_opt: torch.optim.Optimizer = torch.optim.AdamW(
                groups, lr=ns["lr"], weight_decay=ns["weight_decay"],
                betas=(ns["adam_beta1"], ns["adam_beta2"]), eps=ns["adam_eps"],
            )
        else:
            self.torch_opt = torch.optim.SGD(
                groups, lr=ns["lr"], weight_decay=ns["weight_decay"], momentum=ns["sgd_momentum"]
            )
        self.clip_grad = float(ns["clip_grad"] or 0.0)

    @property
    def param_groups(self) -> list[dict]:
        return self.torch_opt.param_groups

    def loss_scale(self) -> float:
        """The current loss scale (1.0 without a scaler), as Megatron logs it."""
        return self.scaler.value() if self.scaler is not None else 1.0

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return self.scaler.scale_loss(loss) if self.scaler is not None else loss

    def zero_grad(self) -> None:
        for p in self.model_params:
            p.grad = None
            if hasattr(p, "main_grad"):
                p.main_grad = None
        if self.half:
            for m in self.main_params:
                m.grad = None

    def step(self) -> tuple[bool, float | None]:
        """Copy grads to fp32 main params, unscale and check them (with a loss scaler),
        clip by the global norm, step. Returns (update applied, grad norm or None if skipped).

        Without a scaler, a non-finite gradient norm also skips the step (Megatron would stop
        the run there with its NaN check); with one, inf/nan gradients are the scaler's signal.
        """
        for p, m in zip(self.model_params, self.main_params):
            grad = model_grad(p)
            m.grad = None if grad is None else grad.float() if m is not p else grad
        if self.scaler is not None:
            found_inf = self._unscale_and_check()
            self.scaler.update(found_inf)
            if found_inf:
                return False, None
        norm = global_grad_norm(self.main_params)
        if not math.isfinite(norm):
            return False, norm
        if self.clip_grad > 0:
            coeff = self.clip_grad / (norm + 1.0e-6)
            if coeff < 1.0:
                for m in self.main_params:
                    if m.grad is not None:
                        m.grad.mul_(coeff)
        self.torch_opt.step()
        if self.half:
            with torch.no_grad():
                for p, m in zip(self.model_params, self.main_params):
                    p.copy_(m)
        return True, norm

    def _unscale_and_check(self) -> bool:
        """Multiply the main grads by 1/scale; True if any is inf/nan on any rank.

        Megatron reduces the flag over the model-parallel group (and, through its chained
        expert optimizer, the expert model-parallel group); data-parallel replicas hold the
        same reduced gradients, so reducing over every rank gives the same answer."""
        assert self.scaler is not None
        inv_scale = self.scaler.inv_scale
        found = torch.zeros(1, dtype=torch.float32)
        for m in self.main_params:
            if m.grad is not None:
                m.grad.mul_(inv_scale.to(m.grad.device))
                if not bool(torch.isfinite(m.grad).all()):
                    found.fill_(1.0)
        if dist.is_initialized() and dist.get_world_size() > 1:
            found = _reduce_max(found, dist.group.WORLD)
        return bool(found.item() > 0)


def global_grad_norm(params: list[torch.nn.Parameter]) -> float:
    """L2 norm of all gradients of the model, each weight counted once across ranks."""
    from megatron.core import parallel_state as ps
    from megatron.core.tensor_parallel.layers import param_is_not_tensor_parallel_duplicate
    from megatron.core.transformer.module import param_is_not_shared

    dense = torch.zeros(1, dtype=torch.float64)
    expert = torch.zeros(1, dtype=torch.float64)
    for p in params:
        if p.grad is None or not param_is_not_shared(p):
            continue
        expert_param = not getattr(p, "allreduce", True)
        if expert_param:
            if getattr(p, "tensor_model_parallel", False) or ps.get_expert_tensor_parallel_rank() == 0:
                expert += _square_sum(p.grad)
        elif param_is_not_tensor_parallel_duplicate(p):
            dense += _square_sum(p.grad)
    if dist.is_initialized() and dist.get_world_size() > 1:
        dense = _reduce(dense, ps.get_model_parallel_group())
        expert = _reduce(expert, ps.get_expert_tensor_model_pipeline_parallel_group())
    return float((dense + expert).sqrt().item())


def _square_sum(grad: torch.Tensor) -> torch.Tensor:
    """Sum of squares in float64, on the CPU: the float64 copy is squared in place (`pow(2)` built a
    second float64 tensor and took 5x as long). The same values as `.double().pow(2).sum()`: a
    float32 value squared in float64 is exact either way, and the sum is the same reduction."""
    wide = grad.detach().double()
    if wide.data_ptr() == grad.data_ptr():  # already float64: do not square the gradient itself
        wide = wide.clone()
    return wide.square_().sum().cpu()


def _reduce(value: torch.Tensor, group: Any) -> torch.Tensor:
    if dist.get_world_size(group) == 1:
        return value
    device = _group_device()
    out = value.to(device)
    dist.all_reduce(out, group=group)
    return out.cpu()


def _reduce_max(value: torch.Tensor, group: Any) -> torch.Tensor:
    if dist.get_world_size(group) == 1:
        return value
    out = value.to(_group_device())
    dist.all_reduce(out, op=dist.ReduceOp.MAX, group=group)
    return out.cpu()


def _group_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def model_grad(p: torch.nn.Parameter) -> torch.Tensor | None:
    """The accumulated gradient of a model weight: its `main_grad` when attached, else `.grad`."""
    grad = getattr(p, "main_grad", None)
    return grad if grad is not None else p.grad


def unwrap(chunk: Any) -> Any:
    """The model inside megatron-core's Float16Module (the chunk itself when not wrapped)."""
    from megatron.core.transformer.module import Float16Module

    return chunk.module if isinstance(chunk, Float16Module) else chunk


def finalize_grads(model_chunks: list[Any], ns: Mapping[str, Any]) -> None:
    """Megatron's finalize_model_grads without DDP buffers: DP average, tied embeddings, SP norms."""
    from megatron.core import parallel_state as ps

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    dp_group = ps.get_data_parallel_group(with_context_parallel=True)
    edp_group = ps.get_expert_data_parallel_group()
    dp = dist.get_world_size(dp_group)
    dense: list[torch.nn.Parameter] = []
    experts: list[torch.nn.Parameter] = []
    for chunk in model_chunks:
        for p in chunk.parameters():
            if model_grad(p) is not None:
                (dense if getattr(p, "allreduce", True) else experts).append(p)
    # Megatron's DDP scales every gradient by 1/DP (the full data-parallel size, also for
    # expert weights, whose tokens come from all DP ranks) and sums over its own group.
    _flat_allreduce(dense, dp_group, 1.0 / dp)
    _flat_allreduce(experts, edp_group, 1.0 / dp)
    # Layer-norm (and other replicated) weights under sequence parallelism see only a
    # sequence shard: their gradients are summed over the tensor-parallel group.
    if ns["sequence_parallel"] and ps.get_tensor_model_parallel_world_size() > 1:
        sp = [p for chunk in model_chunks for p in chunk.parameters()
              if model_grad(p) is not None and getattr(p, "sequence_parallel", False)]
        _allreduce_sum(sp, ps.get_tensor_model_parallel_group())
    # Tied input/output embeddings live on the first and last pipeline stages.
    if ps.get_pipeline_model_parallel_world_size() > 1 and not ns["untie_embeddings_and_output_weights"]:
        if ps.is_rank_in_embedding_group(ignore_virtual=True):
            chunk = model_chunks[0] if ps.is_pipeline_first_stage() else model_chunks[-1]
            weight = unwrap(chunk).shared_embedding_or_output_weight()
            if weight is not None and model_grad(weight) is not None:
                _allreduce_sum([weight], ps.get_embedding_group())


def _grad_of(p: torch.nn.Parameter) -> torch.Tensor:
    """The gradient of a weight that took part in the step (it has one)."""
    grad = model_grad(p)
    if grad is None:
        raise RuntimeError("a trained weight has no gradient to reduce")
    return grad


def _flat_allreduce(params: list[torch.nn.Parameter], group: Any, scale: float | None) -> None:
    if not params or (dist.get_world_size(group) == 1 and scale in (None, 1.0)):
        return
    by_dtype: dict[torch.dtype, list[torch.nn.Parameter]] = {}
    for p in params:
        by_dtype.setdefault(_grad_of(p).dtype, []).append(p)
    for group_params in by_dtype.values():
        grads = [_grad_of(p).data for p in group_params]
        flat = torch._utils._flatten_dense_tensors(grads)
        if scale is not None:
            flat.mul_(scale)
        if dist.get_world_size(group) > 1:
            dist.all_reduce(flat, group=group)
        for g, synced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            g.copy_(synced)


def _allreduce_sum(params: list[torch.nn.Parameter], group: Any) -> None:
    _flat_allreduce(params, group, None)


def lr_scheduler(optimizer: Optimizer, ns: Mapping[str, Any]) -> Any:
    """megatron-core's OptimizerParamScheduler with the step counts Megatron's training loop uses."""
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    gbs = int(ns["global_batch_size"])
    train_iters = int(ns["train_iters"])
    decay_iters = ns["lr_decay_iters"] if ns["lr_decay_iters"] is not None else train_iters
    decay_steps = int(decay_iters) * gbs
    wsd_iters = ns.get("lr_wsd_decay_iters")
    warmup = (
        ns["lr_warmup_fraction"] * decay_steps
        if ns["lr_warmup_fraction"] is not None
        else int(ns["lr_warmup_iters"]) * gbs
    )
    wd = ns["weight_decay"]
    return OptimizerParamScheduler(
        optimizer,  # type: ignore[arg-type]  # only .param_groups is used
        init_lr=ns["lr_warmup_init"],
        max_lr=ns["lr"],
        min_lr=ns["min_lr"],
        lr_warmup_steps=warmup,
        lr_decay_steps=decay_steps,
        lr_decay_style=ns["lr_decay_style"],
        start_wd=ns["start_weight_decay"] if ns["start_weight_decay"] is not None else wd,
        end_wd=ns["end_weight_decay"] if ns["end_weight_decay"] is not None else wd,
        wd_incr_steps=train_iters * gbs,
        wd_incr_style=ns["weight_decay_incr_style"],
        use_checkpoint_opt_param_scheduler=False,
        override_opt_param_scheduler=False,
        wsd_decay_steps=int(wsd_iters) * gbs if wsd_iters is not None else None,
        lr_wsd_decay_style=ns.get("lr_wsd_decay_style"),
    )
