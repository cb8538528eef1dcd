"""One rank's training run: set up megatron-core, then the step loop.

Read top to bottom: process groups -> seeds -> model -> data -> optimizer/schedule ->
for each iteration: forward/backward over the micro-batches (megatron-core's
pipeline schedule), gradient reduction, clip + step, schedule step, log.
"""

from __future__ import annotations

import logging
import math
import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.distributed as dist


def setup_distributed(rank: int, world: int, port: int, device: str, timeout_s: float) -> None:
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(rank % torch.cuda.device_count())
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=timedelta(seconds=timeout_s),
    )


def setup_model_parallel(ns: Mapping[str, Any]) -> None:
    from megatron.core import parallel_state as ps

    ps.initialize_model_parallel(
        tensor_model_parallel_size=int(ns["tensor_model_parallel_size"] or 1),
        pipeline_model_parallel_size=int(ns["pipeline_model_parallel_size"] or 1),
        context_parallel_size=int(ns["context_parallel_size"] or 1),
        expert_model_parallel_size=int(ns["expert_model_parallel_size"] or 1),
        expert_tensor_parallel_size=ns.get("expert_tensor_parallel_size"),
    )


def set_seeds(seed: int, device: str) -> None:
    """Megatron's `_set_random_seed`: seed + 100 * pipeline rank, then the model-parallel tracker."""
    import numpy as np
    from megatron.core import parallel_state as ps

    seed = seed + 100 * ps.get_pipeline_model_parallel_rank()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device == "cuda":
        from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

        model_parallel_cuda_manual_seed(seed)
    else:
        from primus_runtime import cpu_compat

        cpu_compat.seed_model_parallel_rng(seed)


def run_rank(ns: Mapping[str, Any], device: str, out_dir: Path | None, echo: bool,
             header: Sequence[str] = ()) -> list[dict]:
    """Train on this rank (process groups already up). Returns the metrics (last rank only).
    `header`: lines the log starts with (RunOptions.log_header)."""
    run = RankRun(ns, device, out_dir, echo, header)
    try:
        for iteration in range(1, run.iters + 1):
            run.step(iteration)
    finally:
        run.writer.close()
    return run.metrics


class RankRun:
    """One rank's model, data, optimizer and schedule, trained one `step` at a time (the
    benchmark interleaves these steps with a bare megatron-core loop's)."""

    def __init__(self, ns: Mapping[str, Any], device: str, out_dir: Path | None, echo: bool,
                 header: Sequence[str] = ()) -> None:
        from megatron.core import parallel_state as ps
        from megatron.core.pipeline_parallel import get_forward_backward_func

        from primus_runtime import cpu_compat, data, model as model_lib, optim
        from primus_runtime.metrics import IntervalLog, MetricsWriter

        logging.getLogger("megatron.core.datasets").setLevel(logging.ERROR)  # "Unable to save ... indexes" per split
        on_cpu = device == "cpu"
        cpu_compat.fill_missing_te_names()
        if on_cpu:
            cpu_compat.install()
        setup_model_parallel(ns)
        set_seeds(int(ns["seed"]), device)
        self.ns = ns
        self.dev = dev = torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else torch.device("cpu")

        # Model.
        config = model_lib.transformer_config(ns, on_cpu)
        use_te = device == "cuda" and model_lib._have_te()
        vocab = int(ns["padded_vocab_size"])
        gpt = model_lib.build_gpt(ns, config, vocab, use_te)
        model_lib.init_layout_invariant(gpt, config, int(ns["seed"]))
        gpt.to(dev)
        self.chunks = [model_lib.wrap_precision(gpt, config)]
        optim.attach_main_grads(self.chunks, ns)

        # Data: every rank builds the (deterministic) dataset; only first/last stages read it.
        tp, pp = ps.get_tensor_model_parallel_world_size(), ps.get_pipeline_model_parallel_world_size()
        self.dp, dp_rank = ps.get_data_parallel_world_size(), ps.get_data_parallel_rank()
        self.mbs, self.gbs = int(ns["micro_batch_size"]), int(ns["global_batch_size"])
        self.num_micro = self.gbs // (self.mbs * self.dp)
        self.iters = int(ns["train_iters"])
        self.seq = int(ns["seq_length"])
        dataset = data.build_train_dataset(ns, vocab, self.iters * self.gbs, ns.get("data_cache_path"))
        self.batches = data.microbatches(dataset, self.mbs, dp_rank, self.dp, dev)

        self.opt = optim.Optimizer(self.chunks, ns)
        self.sched = optim.lr_scheduler(self.opt, ns)

        config.finalize_model_grads_func = None
        config.grad_scale_func = self.opt.scale_loss if self.opt.scaler is not None else None
        config.no_sync_func = None
        self.forward_backward = get_forward_backward_func()
        self.last_rank = dist.get_rank() == dist.get_world_size() - 1
        self.writer = MetricsWriter(out_dir if self.last_rank else None, echo and self.last_rank)
        if self.last_rank:
            for line in header:
                self.writer.text(line)
            self.writer.text(f" > layout: TP={tp} PP={pp} DP={self.dp} EP={ps.get_expert_model_parallel_world_size()} "
                             f"micro-batches per step={self.num_micro} device={device}")
        self.metrics: list[dict] = []
        self.consumed = self.skipped = self.nan_iters = 0
        self.interval_log = IntervalLog(int(ns["log_interval"] or 1), self.iters, self.gbs)

    def _forward_step(self, batch_iter: Any, model: Any) -> Any:
        batch = next(batch_iter)
        output = model(
            batch["tokens"], batch["position_ids"], None, labels=batch["labels"], loss_mask=batch["loss_mask"]
        )
        mask = batch["loss_mask"]

        def loss_func(output_tensor: torch.Tensor) -> Any:
            losses = output_tensor.view(-1).float()
            flat_mask = mask.view(-1).float()
            loss = torch.sum(losses * flat_mask)
            num_tokens = flat_mask.sum().clone().detach().to(torch.int)
            return loss, num_tokens, {"lm loss": torch.cat([loss.clone().detach().view(1), num_tokens.view(1).float()])}

        return output, loss_func

    def step(self, iteration: int) -> float:
        """One training iteration: forward/backward over the micro-batches, reduce, clip, step,
        schedule, log. Returns its wall time in seconds."""
        from primus_runtime import optim

        start = time.perf_counter()
        self.opt.zero_grad()
        for chunk in self.chunks:
            chunk.train()
        reduced = self.forward_backward(
            forward_step_func=self._forward_step, data_iterator=self.batches, model=self.chunks,
            num_microbatches=self.num_micro, seq_length=self.seq, micro_batch_size=self.mbs, forward_only=False,
        )
        optim.finalize_grads(self.chunks, self.ns)
        updated, grad_norm = self.opt.step()
        if updated:
            self.sched.step(increment=self.num_micro * self.mbs * self.dp)
        self.consumed += self.gbs
        loss = _lm_loss(reduced, self.dev)
        step_time = time.perf_counter() - start
        if not updated:
            self.skipped += 1
            self.nan_iters += 0 if math.isfinite(loss) else 1
        if self.last_rank:
            self._record(iteration, loss, grad_norm, step_time, updated)
        return step_time

    def _record(self, iteration: int, loss: float, grad_norm: float | None, step_time: float, updated: bool) -> None:
        from megatron.core.optimizer_param_scheduler import get_canonical_lr_for_logging

        record = {
            "iteration": iteration,
            "lm_loss": loss,
            "grad_norm": grad_norm,
            "lr": get_canonical_lr_for_logging(self.opt.param_groups),
            "loss_scale": self.opt.loss_scale(),
            "tokens_per_s": self.gbs * self.seq / step_time,
            "step_time": step_time,
            "consumed_samples": self.consumed,
            "skipped": self.skipped,
            "nan": self.nan_iters,
        }
        self.metrics.append(record)
        self.writer.record(record, self.interval_log.add(record, skipped=not updated))


def _lm_loss(reduced: list[dict], dev: torch.device) -> float:
    """Sum [loss, tokens] over micro-batches and data-parallel ranks, as Megatron reports it."""
    from megatron.core import parallel_state as ps

    total = torch.zeros(2, dtype=torch.float64, device=dev)
    for item in reduced or []:
        total += item["lm loss"].to(dev, torch.float64)
    group = ps.get_data_parallel_group(with_context_parallel=True)
    if ps.is_pipeline_last_stage() and dist.get_world_size(group) > 1:
        dist.all_reduce(total, group=group)
    return float(total[0] / total[1]) if total[1] > 0 else float("nan")


def teardown_model_parallel() -> None:
    from megatron.core import parallel_state as ps

    ps.destroy_model_parallel()


def teardown() -> None:
    teardown_model_parallel()
    if dist.is_initialized():
        dist.destroy_process_group()
