"""Run every script of a repository through the worker, in parallel, in a fixed order.

Every script runs in a worker process (`batch/pool.py`), one script per task
(all variants of a script in the same worker, so its parse and caches are
reused), under a wall-clock and a memory limit: a script past either, or one
that kills its worker, becomes a row ("timed out", "out of memory", "internal
error") and the others go on. The parent loads the schemas, presets and the
pipeline's modules (`Backend.warm_up`) before forking, so workers start with
them loaded. Workers die with the parent.

Without `fork` (not Linux), a ProcessPoolExecutor isolates crashes only: a
worker that dies breaks the pool, the scripts in flight are retried one at a
time in fresh pools, and the one that kills its worker again becomes an
"internal error" row.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from migrate.batch import pool as limited_pool
from migrate.batch.backend import Backend, ConvertSettings, PipelineBackend
from migrate.batch.discover import discover, matches
from migrate.batch.results import ScriptResult
from migrate.batch.variants import DEFAULT_MAX_VARIANTS
from migrate.batch.worker import ScriptJob, process_script
from migrate.diagnostics import MigrateError

Progress = Callable[[str, ScriptResult], None]


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass
class BatchOptions:
    settings: ConvertSettings = field(default_factory=ConvertSettings)
    jobs: int = field(default_factory=default_jobs)
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    knobs: dict[str, list[str]] | None = None
    max_variants: int = DEFAULT_MAX_VARIANTS
    all_choices: bool = False
    script_args: Sequence[tuple[str, tuple[str, ...]]] = ()  # (glob, arguments): the first matching glob wins


_WORKER_BACKEND: Backend | None = None


def _init_worker(backend: Backend) -> None:
    global _WORKER_BACKEND
    _WORKER_BACKEND = backend


def _run_in_worker(job: ScriptJob) -> ScriptResult:
    assert _WORKER_BACKEND is not None
    return process_script(job, _WORKER_BACKEND)


def _crashed(job: ScriptJob, exc: BaseException) -> ScriptResult:
    return ScriptResult(
        job.relpath,
        "rejected",
        reason=f"internal error: the worker process died while converting this script ({type(exc).__name__})",
    )


def _limit_row(job: ScriptJob, reason: str) -> ScriptResult:
    return ScriptResult(job.relpath, "rejected", reason=reason)


def _died_row(job: ScriptJob, how: str) -> ScriptResult:
    return ScriptResult(job.relpath, "rejected",
                        reason=f"internal error: the worker process died while converting this script ({how})")


def _pool(jobs: int, backend: Backend) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    # fork: workers inherit the parent's loaded schemas and presets (no re-import per worker).
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(backend,))


def run_jobs(jobs_list: Sequence[ScriptJob], jobs: int, backend: Backend,
             progress: Progress | None = None) -> dict[str, ScriptResult]:
    """Results by script path. `jobs <= 1` runs in this process (no crash isolation)."""
    results: dict[str, ScriptResult] = {}

    def done(job: ScriptJob, result: ScriptResult) -> None:
        results[job.relpath] = result
        if progress:
            progress(job.relpath, result)

    if limited_pool.available():
        # every script in a worker process, under the batch_script_seconds/_memory limits
        work = functools.partial(process_script, backend=backend)
        limited_pool.run_limited(jobs_list, max(1, min(jobs, len(jobs_list))), work, done,
                                 timed_out=_limit_row, died=_died_row, out_of_memory=_limit_row)
        return results
    if jobs <= 1 or len(jobs_list) <= 1:
        for job in jobs_list:
            done(job, process_script(job, backend))
        return results

    # Every script runs in a worker (crash isolation for all of them); the parent's warm_up
    # already loaded what workers share (schemas, presets, the pipeline's modules) before the fork.
    rest = list(jobs_list)
    retry: list[ScriptJob] = []
    with _pool(min(jobs, len(rest)), backend) as pool:
        futures: dict[Future, ScriptJob] = {pool.submit(_run_in_worker, job): job for job in rest}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = futures[future]
                try:
                    done(job, future.result())
                except BrokenProcessPool:
                    retry.append(job)
                except Exception as exc:  # noqa: BLE001 - e.g. a result that does not pickle
                    done(
                        job,
                        ScriptResult(job.relpath, "rejected", reason=f"internal error: {type(exc).__name__}: {exc}"),
                    )
    for job in sorted(retry, key=lambda j: j.relpath):
        # Alone in a fresh single-worker pool: if it dies again, it was this script.
        with _pool(1, backend) as pool:
            try:
                done(job, pool.submit(_run_in_worker, job).result())
            except BrokenProcessPool as exc:
                done(job, _crashed(job, exc))
    return results


def args_for(relpath: str, mapping: Sequence[tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
    """The positional arguments given to this script: those of the first glob that matches it."""
    return next((words for glob, words in mapping if matches(relpath, [glob])), ())


def run_batch(root: str | os.PathLike[str], options: BatchOptions, backend: Backend | None = None,
              progress: Progress | None = None, on_discovered: Callable[[int], None] | None = None,
              ) -> list[ScriptResult]:
    """Every discovered script's result, sorted by path."""
    base = Path(root)
    if not base.is_dir():
        raise MigrateError(f"{root}: not a directory", hint="primus-migrate batch takes a folder of launch scripts")
    backend = backend or PipelineBackend()
    candidates = discover(base, options.include, options.exclude)
    knobs = tuple((k, tuple(v)) for k, v in options.knobs.items()) if options.knobs is not None else None
    jobs_list: list[ScriptJob] = []
    results: dict[str, ScriptResult] = {}
    for cand in candidates:
        if cand.skip_reason:
            results[cand.relpath] = ScriptResult(cand.relpath, "skipped", reason=cand.skip_reason)
        else:
            settings = replace(options.settings, script_args=args_for(cand.relpath, options.script_args))
            jobs_list.append(ScriptJob(str(base.resolve()), cand.relpath, settings, knobs,
                                       options.max_variants, options.all_choices))
    if on_discovered:  # the report counts every discovered script, skipped ones too: so does the progress
        on_discovered(len(candidates))
    if progress:
        for relpath in sorted(results):
            progress(relpath, results[relpath])
    if jobs_list:
        backend.warm_up(options.settings)
        results.update(run_jobs(jobs_list, options.jobs, backend, progress))
    return [results[k] for k in sorted(results)]
