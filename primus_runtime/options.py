"""What a caller asks of a run, and what it gets back (the CONTRACTS.md surface)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunOptions:
    iters: int | None = None      # override train_iters
    proxy: bool = False           # shrink the model keeping its structure
    nproc: int = 1                # processes (gloo on CPU, NCCL on GPU)
    out_dir: Path | None = None   # logs + metrics.jsonl
    device: str = "auto"          # auto | cpu | cuda
    seed: int | None = None       # override seed
    timeout_s: float = 300.0      # collective time-out; a stuck rank ends the run instead of hanging
    quiet: bool = False           # do not echo the Megatron-format log to stdout
    threads: int | None = None    # CPU threads of a one-process run; None: chosen by model size (launch.cpu_threads)
    log_header: tuple[str, ...] = ()  # lines the log starts with (train.log and the echo): what the caller changed


@dataclass
class RunResult:
    metrics: list[dict]           # per iteration: iteration, lm_loss, grad_norm, lr, tokens_per_s, step_time
    shrinks: list[str] = field(default_factory=list)   # what proxy mode changed
    layout: dict = field(default_factory=dict)  # tp, pp, dp, ep, cp, world_size, device
    notes: list[str] = field(
        default_factory=list
    )  # execution changes that do not alter the math (CPU unfused kernels, ...)
    log_path: Path | None = None
    metrics_path: Path | None = None
