"""`train()`: check the namespace, apply proxy shrinking, run one process or spawn N.

All input errors are raised here as MigrateError before any process group starts.
One process runs in the caller's process (no re-import of megatron); N processes are
spawned with torch.multiprocessing and rendezvous over TCP on localhost. A crashed
rank ends the run with its message (spawn terminates the others; collectives time out
after `RunOptions.timeout_s` instead of hanging).
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from migrate.diagnostics import MigrateError
from migrate.tokenizer_vocab import known_vocab_size
from primus_runtime import namespace, proxy
from primus_runtime.options import RunOptions, RunResult

DEFAULT_VOCAB = 32000  # when the tokenizer is not in migrate.tokenizer_vocab's table


class TrainingFailed(MigrateError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=5)


def describe(exc: BaseException) -> str:
    """`Type: message`, and where it was raised when the message says nothing (a bare assert)."""
    import traceback

    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if not str(exc).strip():
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            where = frames[-1]
            parts = Path(where.filename).parts
            short = (
                "/".join(parts[parts.index("site-packages") + 1 :])
                if "site-packages" in parts
                else Path(where.filename).name
            )
            text += f" at {short}:{where.lineno}: {where.line}"
    return text


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
    model = str(ns.get("tokenizer_model") or ns.get("tokenizer_type") or "")
    known = known_vocab_size(ns.get("tokenizer_type"), ns.get("tokenizer_model"))
    if known is not None:
        notes.append(f"vocabulary size {known[0]} for tokenizer '{model}' (table, no download)")
        return known[0]
    notes.append(f"vocabulary size {DEFAULT_VOCAB}: no vocab_size and unknown tokenizer '{model}'")
    return DEFAULT_VOCAB


def prepare(config: Mapping[str, Any], options: RunOptions) -> tuple[dict[str, Any], list[str], list[str]]:
    """The namespace this run trains, proxy shrinks, notes. Raises MigrateError on bad input."""
    namespace.check_keys(config)
    namespace.check_values(config)
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
    for key in ("moe_layer_freq", "window_attn_skip_freq"):
        if key in ns:
            ns[key] = namespace.layer_pattern(ns[key])
    if options.proxy:
        ns, shrinks = proxy.shrink(ns, options.nproc)
        if options.iters is not None:
            proxy.shorten_schedule(ns, options.iters, shrinks)
    if options.iters is not None:
        if options.iters < 1:
            raise MigrateError(f"--iters must be at least 1, got {options.iters}")
        if not options.proxy and ns["train_iters"] != options.iters:
            notes.append(
                f"train_iters {ns['train_iters']} -> {options.iters} "
                f"(schedule kept: the first {options.iters} steps of the configured run)"
            )
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
    if ns.get("num_layers_per_virtual_pipeline_stage") or ns.get("virtual_pipeline_model_parallel_size"):
        notes.append(
            "interleaved (virtual) pipeline stages are not supported; each stage runs one model chunk (same math)"
        )
    for key in ("fp8", "fp4"):
        if ns.get(key):
            dtype = "bf16" if ns["bf16"] else "fp16" if ns["fp16"] else "fp32"
            notes.append(f"{key}={ns[key]} is not supported by the bundled runtime; trained in {dtype}")
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
    return train_many([config], options)[0]


def train_many(configs: Sequence[Mapping[str, Any]], options: RunOptions) -> list[RunResult]:
    """Several runs with the same options, one after another in the same process(es).

    With nproc > 1 the workers start (and import megatron-core) once for all runs, which
    is most of the cost of a short proxy run; the parity check trains both sides this way.
    With several runs, run i logs to `out_dir/run<i>/`.
    """
    if not configs:
        return []
    planned = [prepare(config, options) for config in configs]
    device = resolve_device(options.device)
    echo = not options.quiet
    base = Path(options.out_dir) if options.out_dir is not None else None
    runs: list[tuple[dict[str, Any], Path | None]] = []
    results: list[RunResult] = []
    for i, (ns, shrinks, notes) in enumerate(planned):
        if device == "cpu":
            from primus_runtime.cpu_compat import CPU_UNFUSED

            off = sorted(k for k, v in CPU_UNFUSED.items() if ns.get(k) and ns[k] != v)
            if off:
                notes.append("CPU: unfused kernels for " + ", ".join(off))
        out_dir = base if base is None or len(configs) == 1 else base / f"run{i}"
        runs.append((ns, out_dir))
        layout: dict[str, Any] = {
            "tp": int(ns["tensor_model_parallel_size"] or 1), "pp": int(ns["pipeline_model_parallel_size"] or 1),
            "cp": int(ns["context_parallel_size"] or 1), "ep": int(ns["expert_model_parallel_size"] or 1),
            "world_size": options.nproc, "device": device,
        }
        layout["dp"] = options.nproc // (layout["tp"] * layout["pp"] * layout["cp"])
        results.append(RunResult(
            metrics=[], shrinks=shrinks, layout=layout, notes=notes,
            log_path=out_dir / "train.log" if out_dir else None,
            metrics_path=out_dir / "metrics.jsonl" if out_dir else None,
        ))
    if echo:
        for result in results:
            for line in result.shrinks:
                print(f" > proxy: {line}", flush=True)
            for line in result.notes:
                print(f" > note: {line}", flush=True)
    if options.nproc == 1:
        threads = cpu_threads([ns for ns, _ in runs], options.threads) if device == "cpu" else None
        if threads is not None:
            for result in results:
                result.notes.append(f"CPU: {threads} thread(s) for every run of this call"
                                    + (" (at this model size one thread is faster than several)"
                                       if options.threads is None else ""))
        with _threads(threads):
            all_metrics = [_train_in_process(ns, device, out_dir, echo, options.timeout_s, options.log_header)
                           for ns, out_dir in runs]
    else:
        all_metrics = _train_spawned(runs, device, echo, options)
    for result, metrics in zip(results, all_metrics):
        result.metrics = metrics
    return results


SMALL_HIDDEN = 1024  # up to this hidden size a step's matrices are too small to share among threads


def cpu_threads(namespaces: Sequence[Mapping[str, Any]], requested: int | None) -> int | None:
    """Threads for one-process CPU runs: the caller's choice; else 1 when every model is small (at
    proxy sizes a step takes 0.1 s on one thread and several times that on two busy cores, the cost
    of handing tiny GEMMs to threads); else None: torch's default (OMP_NUM_THREADS or the cores).
    All runs of one call get the same number, so two runs compared exactly sum in the same order."""
    if requested is not None:
        if requested < 1:
            raise MigrateError(f"threads must be at least 1, got {requested}")
        return requested
    import os

    if os.environ.get("OMP_NUM_THREADS"):
        return None  # the user decided
    if all(int(ns.get("hidden_size") or 0) <= SMALL_HIDDEN for ns in namespaces):
        return 1
    return None


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_in_process(
    ns: dict[str, Any], device: str, out_dir: Path | None, echo: bool, timeout_s: float,
    header: Sequence[str] = (),
) -> list[dict]:
    import torch.distributed as dist

    from primus_runtime import loop

    if dist.is_initialized():
        raise MigrateError(
            "train() was called inside an initialised torch.distributed job; use nproc=1 from a plain process"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loop.setup_distributed(0, 1, _free_port(), device, timeout_s)
            return loop.run_rank(ns, device, out_dir, echo, header)
        except MigrateError:
            raise
        except Exception as exc:  # a failure inside megatron-core or torch is a failed run, not a crash
            raise TrainingFailed(f"training failed: {describe(exc)}") from exc
        finally:
            loop.teardown()


def _train_spawned(runs: list[tuple[dict[str, Any], Path | None]], device: str, echo: bool,
                   options: RunOptions) -> list[list[dict]]:
    """Start one `python -m primus_runtime.worker` per rank; the first failure stops them all."""
    import json
    import os
    import subprocess
    import sys
    import time

    from primus_runtime.metrics import read_metrics

    with tempfile.TemporaryDirectory(prefix="primus-runtime-") as tmp:
        run_dirs = [out_dir or Path(tmp) / f"run{i}" for i, (_, out_dir) in enumerate(runs)]
        errors_dir = Path(tmp)
        for run_dir in run_dirs:
            run_dir.mkdir(parents=True, exist_ok=True)
        spec = Path(tmp) / "run.json"
        spec.write_text(json.dumps({
            "runs": [{"ns": ns, "out_dir": str(d)} for (ns, _), d in zip(runs, run_dirs)],
            "header": list(options.log_header),
            "device": device, "echo": echo, "errors_dir": str(errors_dir),
            "timeout_s": options.timeout_s, "world": options.nproc, "port": _free_port(),
        }))
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("OMP_NUM_THREADS", "1")
        # stderr goes to files, not pipes: a full pipe would stop a chatty rank mid-collective.
        stderr_files = [open(Path(tmp) / f"rank{rank}.stderr", "w+") for rank in range(options.nproc)]
        procs = [
            subprocess.Popen([sys.executable, "-m", "primus_runtime.worker", str(spec), str(rank)], env=env,
                             stdout=None if echo else subprocess.DEVNULL, stderr=stderr_files[rank])
            for rank in range(options.nproc)
        ]
        failed: tuple[int, int] | None = None
        try:
            while True:
                codes = [p.poll() for p in procs]  # every rank, every time: a failed rank must be seen
                bad_ranks = [(r, code) for r, code in enumerate(codes) if code not in (None, 0)]
                if bad_ranks:
                    failed = bad_ranks[0]
                    break
                if all(code is not None for code in codes):
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
        stderr = {}
        for rank, handle in enumerate(stderr_files):
            handle.seek(0)
            stderr[rank] = handle.read()
            handle.close()
        if failed is not None:
            rank, code = failed
            error_file = errors_dir / f"rank{rank}.error"
            if error_file.is_file():
                message = error_file.read_text().strip()
            else:
                tail = [line for line in stderr.get(rank, "").splitlines() if line.strip()]
                message = f"rank {rank} exited with code {code}" + (f": {tail[-1]}" if tail else "")
            raise TrainingFailed(f"training failed: {message}")
        return [read_metrics(d / "metrics.jsonl") for d in run_dirs]
