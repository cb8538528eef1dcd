"""`train()`: check the namespace, apply proxy shrinking, run one process or spawn N.

All input errors are raised here as MigrateError before any process group starts.
One process runs in the caller's process (no re-import of megatron); N processes are
spawned with torch.multiprocessing and rendezvous over TCP on localhost. A crashed
rank ends the run with its message (spawn terminates the others; collectives time out
after `RunOptions.timeout_s` instead of hanging).
"""

from __future__ import annotations

import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

from migrate.diagnostics import MigrateError
from primus_runtime import namespace, proxy
from primus_runtime.options import RunOptions, RunResult

# Tokenizer-free vocabulary sizes for tokenizers a namespace may name (no download).
KNOWN_VOCABS = {
    "llama-3": 128256, "llama3": 128256, "llama-2": 32000, "llama2": 32000, "mixtral": 32000,
    "mistral": 32000, "deepseek-v3": 129280, "deepseek-v2": 102400, "qwen2": 151643, "qwen3": 151643,
}
DEFAULT_VOCAB = 32000


class TrainingFailed(MigrateError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=5)


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise MigrateError("--device cuda requested but no CUDA device is available")
    if requested not in ("cpu", "cuda"):
        raise MigrateError(f"unknown device '{requested}' (auto, cpu, cuda)")
    return requested


def vocab_size(ns: Mapping[str, Any], notes: list[str]) -> int:
    """Unpadded vocabulary (with the end-of-document token) without loading a tokenizer."""
    if ns.get("vocab_size"):
        return int(ns["vocab_size"]) + 1
    model = str(ns.get("tokenizer_model") or ns.get("tokenizer_type") or "").lower()
    for marker, size in KNOWN_VOCABS.items():
        if marker in model:
            notes.append(f"vocabulary size {size} for tokenizer '{model}' (table, no download)")
            return size
    notes.append(f"vocabulary size {DEFAULT_VOCAB}: no vocab_size and unknown tokenizer '{model}'")
    return DEFAULT_VOCAB


def prepare(config: Mapping[str, Any], options: RunOptions) -> tuple[dict[str, Any], list[str], list[str]]:
    """The namespace this run trains, proxy shrinks, notes. Raises MigrateError on bad input."""
    namespace.check_keys(config)
    ns = dict(config)
    notes: list[str] = []
    shrinks: list[str] = []
    if options.nproc < 1:
        raise MigrateError(f"--nproc must be at least 1, got {options.nproc}")
    if options.seed is not None:
        ns["seed"] = options.seed
    if ns["train_iters"] is None and options.iters is None:
        raise MigrateError("train_iters is not set (sample-based schedules need --iters)")
    if ns.get("sequence_parallel") and int(ns["tensor_model_parallel_size"] or 1) == 1:
        ns["sequence_parallel"] = False
    if options.proxy:
        ns, shrinks = proxy.shrink(ns, options.nproc)
        if options.iters is not None:
            proxy.shorten_schedule(ns, options.iters, shrinks)
    if options.iters is not None:
        if options.iters < 1:
            raise MigrateError(f"--iters must be at least 1, got {options.iters}")
        if not options.proxy and ns["train_iters"] != options.iters:
            notes.append(f"train_iters {ns['train_iters']} -> {options.iters} (schedule kept: the first {options.iters} steps of the configured run)")
            if ns["lr_decay_iters"] is None:
                ns["lr_decay_iters"] = ns["train_iters"]
        elif options.proxy and ns["train_iters"] != options.iters:
            shrinks.append(f"train_iters: {ns['train_iters']} -> {options.iters}")
        ns["train_iters"] = options.iters
    if not ns.get("padded_vocab_size"):
        ns["padded_vocab_size"] = _padded(vocab_size(ns, notes), ns)
    if ns["optimizer"] not in ("adam", "sgd"):
        raise MigrateError(f"optimizer '{ns['optimizer']}' is not supported by the bundled runtime (adam, sgd)")
    namespace.check_layout(ns, options.nproc)
    namespace.check_data(ns)
    for key in ("fp8", "fp4"):
        if ns.get(key):
            notes.append(f"{key}={ns[key]} is not supported by the bundled runtime; trained in {'bf16' if ns['bf16'] else 'fp32'}")
            ns[key] = None
    return ns, shrinks, notes


def _padded(vocab: int, ns: Mapping[str, Any]) -> int:
    multiple = int(ns["make_vocab_size_divisible_by"]) * int(ns["tensor_model_parallel_size"] or 1)
    return vocab + (-vocab) % multiple


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(config: Mapping[str, Any], options: RunOptions) -> RunResult:
    ns, shrinks, notes = prepare(config, options)
    device = resolve_device(options.device)
    echo = not options.quiet
    if echo:
        for line in shrinks:
            print(f" > proxy: {line}", flush=True)
        for line in notes:
            print(f" > note: {line}", flush=True)
    if device == "cpu":
        from primus_runtime.cpu_compat import CPU_UNFUSED

        off = sorted(k for k, v in CPU_UNFUSED.items() if ns.get(k) and ns[k] != v)
        if off:
            notes.append("CPU: unfused kernels for " + ", ".join(off))
    out_dir = Path(options.out_dir) if options.out_dir is not None else None
    layout = {
        "tp": int(ns["tensor_model_parallel_size"] or 1), "pp": int(ns["pipeline_model_parallel_size"] or 1),
        "cp": int(ns["context_parallel_size"] or 1), "ep": int(ns["expert_model_parallel_size"] or 1),
        "world_size": options.nproc, "device": device,
    }
    layout["dp"] = options.nproc // (layout["tp"] * layout["pp"] * layout["cp"])
    if options.nproc == 1:
        metrics = _train_in_process(ns, device, out_dir, echo, options.timeout_s)
    else:
        metrics = _train_spawned(ns, device, out_dir, echo, options)
    return RunResult(
        metrics=metrics, shrinks=shrinks, layout=layout, notes=notes,
        log_path=out_dir / "train.log" if out_dir else None,
        metrics_path=out_dir / "metrics.jsonl" if out_dir else None,
    )


def _train_in_process(ns: dict[str, Any], device: str, out_dir: Path | None, echo: bool, timeout_s: float) -> list[dict]:
    import torch.distributed as dist

    from primus_runtime import loop

    if dist.is_initialized():
        raise MigrateError("train() was called inside an initialised torch.distributed job; use nproc=1 from a plain process")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loop.setup_distributed(0, 1, _free_port(), device, timeout_s)
            return loop.run_rank(ns, device, out_dir, echo)
        except MigrateError:
            raise
        except Exception as exc:  # a failure inside megatron-core or torch is a failed run, not a crash
            raise TrainingFailed(f"training failed: {type(exc).__name__}: {exc}") from exc
        finally:
            loop.teardown()


def _train_spawned(ns: dict[str, Any], device: str, out_dir: Path | None, echo: bool, options: RunOptions) -> list[dict]:
    """Start one `python -m primus_runtime.worker` per rank; the first failure stops them all."""
    import json
    import os
    import subprocess
    import sys
    import time

    from primus_runtime.metrics import read_metrics

    with tempfile.TemporaryDirectory(prefix="primus-runtime-") as tmp:
        run_dir = out_dir or Path(tmp)
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in run_dir.glob("rank*.error"):
            stale.unlink()
        spec = Path(tmp) / "run.json"
        spec.write_text(json.dumps({"ns": ns, "device": device, "out_dir": str(run_dir), "echo": echo,
                                    "timeout_s": options.timeout_s, "world": options.nproc, "port": _free_port()}))
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("OMP_NUM_THREADS", "1")
        procs = [
            subprocess.Popen([sys.executable, "-m", "primus_runtime.worker", str(spec), str(rank)], env=env,
                             stdout=None if echo else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for rank in range(options.nproc)
        ]
        failed: tuple[int, int] | None = None
        try:
            while any(p.poll() is None for p in procs):
                bad_ranks = [(r, p.returncode) for r, p in enumerate(procs) if p.returncode not in (None, 0)]
                if bad_ranks:
                    failed = bad_ranks[0]
                    break
                time.sleep(0.05)
            if failed is None:
                bad_ranks = [(r, p.returncode) for r, p in enumerate(procs) if p.returncode != 0]
                failed = bad_ranks[0] if bad_ranks else None
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        stderr = {r: (p.stderr.read() if p.stderr else "") for r, p in enumerate(procs)}
        if failed is not None:
            rank, code = failed
            error_file = run_dir / f"rank{rank}.error"
            if error_file.is_file():
                message = error_file.read_text().strip()
            else:
                tail = [line for line in stderr.get(rank, "").splitlines() if line.strip()]
                message = f"rank {rank} exited with code {code}" + (f": {tail[-1]}" if tail else "")
            raise TrainingFailed(f"training failed: {message}")
        return read_metrics(run_dir / "metrics.jsonl")
