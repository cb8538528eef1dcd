"""Dynamic parity: train the legacy script and its Primus conversion, compare per iteration.

Legacy side: launch plan -> Megatron effective args (`Conversion.expected`).
Primus side: the emitted files, written to a scratch directory, loaded by the
target's own rules (`resolve_experiment`) and derived like Megatron's
`validate_args`. Both namespaces then go to the bundled runtime with the same
options, seed source and synthetic data, in the same (shrunk) parallel layout;
lm loss, grad norm and learning rate must match iteration by iteration.

The collaborators (converter, Primus loader, runtime) come in through
`Backends`, so the orchestration is testable with small fakes and imports
torch only when the real runtime is used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from migrate.diagnostics import MigrateError
from migrate.parity import layout as layouts
from migrate.parity.data import choose_data
from migrate.parity.layout import Layout
from migrate.parity.logcompare import PARITY_METRICS
from migrate.parity.memory import MemoryEstimate, available_bytes, estimate, gib
from migrate.parity.progress import Progress
from migrate.parity.repro import Reproducibility, reproducibility
from migrate.parity.series import SeriesComparison, Tolerance, compare_runs
from migrate.primus.profiles import DEFAULT_TARGET

if TYPE_CHECKING:  # the runtime is imported only when a run trains (importing it sets its environment)
    from migrate.conversion.static_parity import StaticParity
    from migrate.pipeline import Conversion
    from primus_runtime.options import RunOptions, RunResult

METRICS = PARITY_METRICS  # what both runs are compared on
DEFAULT_ITERS = 10
DEFAULT_CUDA_RTOL = 1e-5  # Megatron's approximate-test default; GPUs reorder reductions
DEFAULT_LAYOUT_RTOL = 1e-4  # a sharded run sums in another order than TP=1


@dataclass
class ParityOptions:
    target: str = DEFAULT_TARGET
    iters: int | None = None  # None: DEFAULT_ITERS
    proxy: bool = False
    nproc: int = 1
    rtol: float | None = None  # None: exact on CPU, DEFAULT_CUDA_RTOL on GPU
    layout_rtol: float = DEFAULT_LAYOUT_RTOL
    seed: int | None = None  # None: each side uses its config's seed
    device: str = "auto"
    static_only: bool = False
    gpus_per_node: int = 8
    legacy_schema: str | None = None  # None: chosen per script (migrate.megatron.schema_choice)
    primus_path: str | None = None
    accept_null_tokenizer: bool = False  # see ConvertOptions.accept_null_tokenizer
    entry_as: str | None = None  # see ConvertOptions.entry_as
    assume_exists: tuple[str, ...] = ()  # see ConvertOptions.assume_exists
    logs_dir: Path | None = None  # keep each side's train.log + metrics.jsonl here (DIR/legacy, DIR/primus)


@dataclass
class Backends:
    """The pieces parity orchestrates (real ones from `real_backends()`)."""

    convert: Callable[[str, dict[str, str], list[str], ParityOptions], Conversion]
    primus_config: Callable[[Conversion, ParityOptions, dict[str, str], Path], dict]  # -> derived namespace
    train: Callable[[Mapping[str, Any], RunOptions], RunResult]
    run_options: Callable[..., RunOptions]  # RunOptions(**kwargs)
    device: Callable[[str], str]  # "auto" -> "cpu" | "cuda"
    available_memory: Callable[[str, int], int | None]  # (device, nproc) -> bytes
    vocab_size: Callable[[Mapping[str, Any]], int | None] = lambda cfg: None  # unpadded, as the runtime sees it
    # (configs, RunOptions) -> results: several runs sharing worker processes; None: one train() per run
    train_many: Callable[[list[Mapping[str, Any]], RunOptions], list[RunResult]] | None = None


@dataclass
class Side:
    name: str
    layout: Layout
    result: RunResult
    seconds: float
    shared: bool = False  # trained in the same worker processes as the other side (seconds: an even share)

    def series(self) -> dict[str, dict[int, float]]:
        return metrics_series(self.result.metrics)


@dataclass
class ParityRun:
    script: str
    target: str
    static: StaticParity
    static_only: bool
    sides: dict[str, Side] = field(default_factory=dict)
    comparison: SeriesComparison | None = None
    layout_comparison: SeriesComparison | None = None
    legacy_layout: Layout | None = None
    run_layout: Layout | None = None
    layout_notes: list[str] = field(default_factory=list)
    repro: Reproducibility | None = None
    memory: MemoryEstimate | None = None
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)

    @property
    def static_ok(self) -> bool:
        return bool(self.static.ok)

    @property
    def dynamic_ok(self) -> bool | None:
        if self.static_only:
            return None
        if self.comparison is None or not self.comparison.ok:
            return False
        return self.layout_comparison is None or self.layout_comparison.ok

    @property
    def ok(self) -> bool:
        return self.static_ok and (self.static_only or bool(self.dynamic_ok))


def metrics_series(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """RunResult.metrics rows -> {metric: {iteration: value}} for the compared metrics."""
    out: dict[str, dict[int, float]] = {m: {} for m in METRICS}
    for row in rows:
        it = int(row["iteration"])
        for m in METRICS:
            value = row.get(m)
            if value is not None:
                out[m][it] = float(value)
    return {m: s for m, s in out.items() if s}


def default_tolerance(options: ParityOptions, device: str) -> Tolerance:
    if options.rtol is not None:
        return Tolerance(options.rtol)
    return Tolerance(0.0 if device == "cpu" else DEFAULT_CUDA_RTOL)


def check_memory(cfg: Mapping[str, Any], run: Layout, device: str, backends: Backends) -> MemoryEstimate:
    """Refuse (exit 2) a full-size run that cannot fit, saying what it would need."""
    sized = dict(cfg)
    if not sized.get("padded_vocab_size"):
        sized["padded_vocab_size"] = backends.vocab_size(cfg)  # the tokenizer's size, as the runtime knows it
    need = estimate(sized, replicas=run.dp)
    have = backends.available_memory(device, run.world)
    if have is not None and need.bytes > have:
        raise MigrateError(
            f"a full-size parity run needs at least {gib(need.bytes):.1f} GiB for model, gradients and "
            f"optimizer state ({need.describe()}), but this machine has {gib(have):.1f} GiB available "
            f"({device})",
            hint="pass --proxy to check parity on a shrunk model with the same structure",
        )
    return need


def check_logs_dir(path: Path, force: bool) -> None:
    """Runs write their logs into DIR/<side>/: refuse to mix them with an earlier run's."""
    used = [path / side for side in ("legacy", "primus", "reference") if (path / side).exists()]
    if used and not force:
        raise MigrateError(f"{used[0]} already exists: logs of an earlier run would be mixed in",
                           hint="choose another --keep-logs directory, or pass --force")
    if force:
        for old in used:
            shutil.rmtree(old)


def _train(names: list[str], cfgs: list[Mapping[str, Any]], lay: Layout, *, options: ParityOptions,
           backends: Backends, work: Path, progress: Progress, report: ParityRun, iters: int,
           seed: int | None) -> list[Side]:
    """Train one run per name in `lay`; several share worker processes when the runtime can."""
    base = options.logs_dir or work / "runs"
    train_many = backends.train_many if len(names) > 1 else None
    shared = train_many is not None
    ro = backends.run_options(iters=iters, proxy=options.proxy, nproc=lay.world,
                              out_dir=base / (".shared" if shared else names[0]), device=options.device,
                              seed=seed)
    start = time.perf_counter()
    files = [(name, (base / ".shared" / f"run{i}" if shared else base / name) / "metrics.jsonl")
             for i, name in enumerate(names)]
    progress.phase(f"training {' and '.join(names)}: {iters} iterations, {lay.world} process(es)"
                   f"{', proxy size' if options.proxy else ''} (loading torch and megatron-core first)")
    with progress.watch(files, iters):
        if train_many is not None:
            run_all = train_many
            results = _guarded(" and ".join(names), lambda: run_all([layouts.apply(c, lay) for c in cfgs], ro))
        else:
            results = [
                _guarded(name, lambda cfg=cfg, name=name: backends.train(  # type: ignore[misc]
                    layouts.apply(cfg, lay), _with_out_dir(ro, base / name)))
                for name, cfg in zip(names, cfgs)
            ]
    if shared:
        for i, name in enumerate(names):  # run<i>/ -> <side>/, as --keep-logs promises
            if (base / ".shared" / f"run{i}").is_dir():
                os.replace(base / ".shared" / f"run{i}", base / name)
        shutil.rmtree(base / ".shared", ignore_errors=True)
    seconds = (time.perf_counter() - start) / len(names)
    sides = []
    for name, result in zip(names, results):
        if not result.metrics:
            raise MigrateError(f"the {name} training run reported no iterations", exit_code=5)
        report.sides[name] = Side(name, lay, result, seconds, shared)
        sides.append(report.sides[name])
    return sides


def run_parity(
    script: str,
    env: Mapping[str, str],
    args: Sequence[str],
    options: ParityOptions,
    backends: Backends | None = None,
    progress: Progress | None = None,
) -> ParityRun:
    backends = backends or real_backends()
    progress = progress or Progress()
    if options.logs_dir is not None:
        check_logs_dir(Path(options.logs_dir), force=False)
    progress.phase(f"converting {Path(script).name} (static parity)")
    conversion = backends.convert(script, dict(env), list(args), options)
    report = ParityRun(script, options.target, conversion.parity, options.static_only)
    if options.static_only:
        return report

    legacy_cfg = dict(conversion.expected)
    device = backends.device(options.device)
    report.device = device
    with tempfile.TemporaryDirectory(prefix="primus-migrate-parity-") as tmp:
        work = Path(tmp)
        primus_cfg = backends.primus_config(conversion, options, dict(env), work / "emitted")
        legacy_cfg, primus_cfg, data_note = choose_data(legacy_cfg, primus_cfg)
        world = layouts.launcher_world(conversion.plan.launcher.options())
        report.legacy_layout = layouts.legacy_layout(legacy_cfg, world)
        run_layout, report.layout_notes = layouts.shrink(legacy_cfg, max(1, options.nproc))
        report.run_layout = run_layout
        if not options.proxy:
            report.memory = check_memory(legacy_cfg, run_layout, device, backends)

        iters = options.iters or DEFAULT_ITERS
        seed = options.seed

        train = functools.partial(_train, options=options, backends=backends, work=work, progress=progress,
                                  report=report, iters=iters, seed=seed)

        if run_layout.world > 1:
            legacy_cfg, primus_cfg = _same_model_in_every_layout(legacy_cfg, primus_cfg, run_layout, options,
                                                                 backends, report)
        legacy, primus = train(["legacy", "primus"], [legacy_cfg, primus_cfg], run_layout)
        progress.phase("comparing lm loss, grad norm and lr per iteration")
        report.comparison = compare_runs(legacy.series(), primus.series(), METRICS,
                                         default_tolerance(options, device))
        if run_layout.world > 1:
            (reference,) = train(["reference"], [legacy_cfg], Layout())
            report.layout_comparison = compare_runs(reference.series(), legacy.series(), METRICS,
                                                    Tolerance(max(options.layout_rtol, options.rtol or 0.0)))

    plan_env = {k: v.value for k, v in conversion.plan.env.items()}
    report.repro = reproducibility(dict(conversion.expected), plan_env, {
        "device": device,
        "iterations": iters,
        "proxy": options.proxy,
        "seed": seed if seed is not None else legacy_cfg.get("seed"),
        "seed_source": "--seed" if seed is not None else "each side's config",
        "rng": "torch.manual_seed(seed) and Megatron's model-parallel RNG streams, set by the runtime per rank",
        "data": data_note,
        "mode": report.comparison.tolerance.mode,
    })
    _seed_note(report, legacy_cfg, primus_cfg)
    _collect_side_notes(report)
    return report


def _collect_side_notes(report: ParityRun) -> None:
    """What each side's runtime shrank (proxy) or noted, once each, in the report's notes."""
    for side in report.sides.values():
        for prefix, items in (("proxy", side.result.shrinks), ("runtime", side.result.notes)):
            for item in items:
                note = f"{prefix}: {item}"
                if note not in report.notes:
                    report.notes.append(note)


def _guarded(label: str, run: Callable[[], Any]) -> Any:
    """A runtime failure becomes the user's answer (exit 5), naming the run, never a traceback."""
    try:
        return run()
    except MigrateError as exc:
        exc.message = f"the {label} run: {exc.message}"
        raise
    except Exception as exc:
        raise MigrateError(f"the {label} training run failed: {type(exc).__name__}: {exc}",
                           hint="rerun with --proxy or fewer --iters; PRIMUS_MIGRATE_DEBUG=1 shows more",
                           exit_code=5) from exc


def _with_out_dir(run_options: RunOptions, out_dir: Path) -> RunOptions:
    return dataclasses.replace(run_options, out_dir=out_dir)


def _same_model_in_every_layout(legacy: dict, primus: dict, run: Layout, options: ParityOptions,
                                backends: Backends, report: ParityRun) -> tuple[dict, dict]:
    """Multi-process runs are also compared with a TP=1 reference: take out what legitimately
    depends on the layout (dropout masks, vocabulary padding) so a difference means a bug."""
    legacy, primus, note = layouts.without_dropout(legacy, primus)
    if note:
        report.layout_notes.append(note)
    if not options.proxy:  # proxy runs use a fixed vocabulary already
        legacy, primus, note = layouts.pin_padded_vocab(legacy, primus, backends.vocab_size(legacy), run)
        if note:
            report.layout_notes.append(note)
    return legacy, primus


def _seed_note(report: ParityRun, legacy: Mapping[str, Any], primus: Mapping[str, Any]) -> None:
    a, b = legacy.get("seed"), primus.get("seed")
    if a != b:
        report.notes.append(f"the sides use different seeds (legacy {a}, primus {b}); static parity reports it too")


def real_backends() -> Backends:
    """The converter, Primus loader and bundled runtime as they exist in this build."""
    return Backends(
        convert=_real_convert,
        primus_config=_real_primus_config,
        train=_real_train,
        run_options=_real_run_options,
        device=_real_device,
        available_memory=_real_available_memory,
        vocab_size=_real_vocab_size,
        train_many=_real_train_many,
    )


def _real_convert(script: str, env: dict[str, str], args: list[str], options: ParityOptions) -> Conversion:
    from migrate.pipeline import ConvertOptions, convert_script

    return convert_script(script, env, args, ConvertOptions(
        target=options.target, gpus_per_node=options.gpus_per_node, legacy_schema=options.legacy_schema,
        primus_path=options.primus_path, accept_null_tokenizer=options.accept_null_tokenizer,
        entry_as=options.entry_as, assume_exists=options.assume_exists))


def _real_primus_config(conversion: Conversion, options: ParityOptions, env: dict[str, str], workdir: Path) -> dict:
    """Write the emitted files, load them as the target Primus would, derive like Megatron.

    A dest the target's namespace lacks (Primus v0.1 hands Megatron only what its
    presets define) takes its argparse default, as Megatron's parser would give it.
    The release's trainer rewrites are applied (26.5 fills an unset tokenizer_type with
    GPT2BPETokenizer, which sizes the vocabulary), as static parity does.
    """
    from migrate.megatron import derive, load_schema
    from migrate.output import OutputTree
    from migrate.primus import get_profile, resolve_experiment

    tree = OutputTree(workdir)
    # the loader finds a generated models/megatron/<m>.yaml beside the experiment
    for rel, content in conversion.files.items():
        tree.add(rel, content)
    tree.commit()
    profile = get_profile(options.target, options.primus_path)
    resolved = resolve_experiment(workdir / conversion.experiment_path, profile, env, trainer_rewrites=True)
    schema = load_schema(profile.megatron_schema)
    filled = dict(schema.defaults())
    filled.update(resolved.values)
    return derive(filled, schema)


def _real_train(config: Mapping[str, Any], run_options: RunOptions) -> RunResult:
    from primus_runtime import train

    with stdout_to_stderr():
        return train(config, run_options)


def _real_train_many(configs: list[Mapping[str, Any]], run_options: RunOptions) -> list[RunResult]:
    from primus_runtime import train_many

    with stdout_to_stderr():
        return train_many(configs, run_options)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Training libraries print to stdout (also from spawned ranks); the report owns stdout
    (`--json` must stay parseable), so file descriptor 1 points at stderr meanwhile."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (embedded, captured): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _real_run_options(**kwargs: Any) -> RunOptions:
    from primus_runtime import RunOptions

    kwargs.setdefault("quiet", True)  # the report is the output; logs go to out_dir
    return RunOptions(**kwargs)


def _real_vocab_size(cfg: Mapping[str, Any]) -> int | None:
    from primus_runtime.launch import vocab_size

    return vocab_size(cfg, [])


def _real_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import primus_runtime  # noqa: F401 - fixes MKL's threading before torch loads (reproducible runs)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _real_available_memory(device: str, nproc: int) -> int | None:
    if device == "cuda":
        import primus_runtime  # noqa: F401 - fixes MKL's threading before torch loads (reproducible runs)
        import torch

        count = min(max(1, nproc), torch.cuda.device_count())
        return sum(torch.cuda.mem_get_info(i)[0] for i in range(count))
    return available_bytes()
