"""Convert one script with all its variants; never raise.

One call handles one script from start to end (evaluation, every variant, the
layout in the final tree, the parity re-check on that layout), so a worker
process parses and loads once per script and a failure stays inside its row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from migrate.batch import knobmap, layout
from migrate.batch.backend import Backend, Converted, ConvertSettings
from migrate.batch.results import ScriptResult, Status, VariantResult, worst_status
from migrate.batch.variants import (
    DEFAULT_MAX_VARIANTS,
    KnobInfo,
    Variant,
    auto_variants,
    drop_thresholds,
    explicit_variants,
    is_varied,
    label_for,
)
from migrate.batch.discover import launch_in_text
from migrate.diagnostics import MigrateError
from migrate.conversion.hints import PASS_ARGUMENTS
from migrate.shell.gates import Gate, GatedScript
from migrate.shell.plan import LaunchPlan
from migrate.primus.yamlio import mark_emitted

NO_LAUNCH = "no training launch"
# Per-conversion files the batch replaces: its own report covers report.*, and run.sh is
# written beside each experiment with the tree's paths (_place_run_sh).
DROPPED_FILES = frozenset({"run.sh", "report.md", "report.json"})


@dataclass(frozen=True)
class ScriptJob:
    root: str                                   # the batch root (never written into outputs)
    relpath: str                                # script, relative to root, posix
    settings: ConvertSettings = field(default_factory=ConvertSettings)
    knobs: tuple[tuple[str, tuple[str, ...]], ...] | None = None  # --knobs, None: automatic
    max_variants: int = DEFAULT_MAX_VARIANTS
    all_choices: bool = False                   # vary every non-boolean choice, not only model selectors


@contextlib.contextmanager
def _inside(directory: str) -> Iterator[None]:
    """Evaluate with the batch root as working directory: scripts are named by relative
    paths, so `$0`, origins and every emitted comment stay free of machine paths."""
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


class _Relativizer:
    def __init__(self, root: str) -> None:
        real = os.path.realpath(root)
        self.prefixes = sorted({real.rstrip("/") + "/", os.path.abspath(root).rstrip("/") + "/"}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for prefix in self.prefixes:
            text = text.replace(prefix, "")
        return text


def process_script(job: ScriptJob, backend: Backend) -> ScriptResult:
    """The row(s) for one script. Any exception becomes "rejected: internal error"."""
    rel = _Relativizer(job.root)
    try:
        with _inside(job.root):
            return _process(job, backend, rel)
    except MemoryError:
        raise  # the worker pool gives it an "out of memory" row and replaces the worker (batch/pool.py)
    except Exception as exc:  # noqa: BLE001 - one script must never stop the batch
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" (in {Path(frame.filename).name}:{frame.lineno})" if frame else ""
        return ScriptResult(job.relpath, "rejected",
                            reason=rel(f"internal error: {type(exc).__name__}: {exc}{where}"))


def _error_row(job: ScriptJob, exc: MigrateError, rel: _Relativizer) -> ScriptResult:
    if isinstance(exc, GatedScript) and exc.gate is not None:  # a stop no value gets past, and no launch in its text
        return ScriptResult(job.relpath, "skipped", reason=rel(f"helper: {NO_LAUNCH} found ({exc.message})"))
    if NO_LAUNCH in exc.message.lower():
        return ScriptResult(job.relpath, "skipped", reason=rel(f"helper: {exc.message}"))
    hint = (exc.hint or "").replace(PASS_ARGUMENTS, f"pass them with --script-args '{job.relpath}=ARG1 ARG2 ...'")
    hint = "; ".join(filter(None, [_template_note(exc), hint]))
    reason = exc.message + (f" (hint: {hint})" if hint else "")
    return ScriptResult(job.relpath, "rejected", reason=rel(reason),
                        location=rel(str(exc.origin)) if exc.origin else None, category=exc.category)


_PLACEHOLDER = re.compile(r"<[A-Za-z][^<>\n]*>")  # `<Specify path>`, `<PATH TO THE FIRST DATASET>`


def _template_note(exc: MigrateError) -> str:
    """A script that stops at a template line (bash cannot parse `X=<Specify path>`; Megatron gets
    `--save <PATH TO CHECKPOINTS>` as words): the line and its unfilled placeholders."""
    origin = exc.origin
    if origin is None or not origin.line:
        return ""
    try:
        with open(origin.file, encoding="utf-8", errors="replace") as handle:
            line = handle.read().splitlines()[origin.line - 1]
    except (OSError, IndexError):
        return ""
    found = list(dict.fromkeys(_PLACEHOLDER.findall(line)))
    return (f"line {origin.line} is a template line with unfilled placeholders {', '.join(found)}: "
            "fill them in") if found else ""


def _knob_infos(plan: LaunchPlan, infos: dict[str, KnobInfo] | None = None) -> tuple[dict[str, KnobInfo], bool]:
    """Merge a plan's knobs into `infos`; True when a new knob or comparison literal appeared."""
    infos = {} if infos is None else infos
    changed = False
    for knob in plan.knobs:
        info = infos.get(knob.name)
        if info is None:
            infos[knob.name] = KnobInfo(knob.name, knob.default, list(knob.compared_with))
            changed = True
        else:
            changed |= info.merge(knob.compared_with)
    return infos, changed


class _Sources:
    """Every file an evaluation read (the script, the files its knobs and argv came from), for the
    threshold test that tells a knob's variants from the bounds it is only compared with."""

    def __init__(self, relpath: str) -> None:
        self.relpath = relpath
        self.texts: dict[str, str] = {}

    def read(self, plan: LaunchPlan) -> None:
        files = {self.relpath}
        files |= {k.defined_at.file for k in plan.knobs if k.defined_at is not None}
        files |= {t.origin.file for t in plan.argv}
        for name in sorted(files - set(self.texts)):
            path = Path(name)
            if path.is_file():
                self.texts[name] = path.read_text(encoding="utf-8", errors="replace")

    def candidates(self, known: dict[str, KnobInfo]) -> dict[str, KnobInfo]:
        text = "\n".join(self.texts.values())
        return {name: drop_thresholds(info, text) for name, info in known.items()}


@dataclass
class _ScriptRun:
    """One script's variants as they are found and converted, then laid out as in the final tree."""

    job: ScriptJob
    backend: Backend
    rel: _Relativizer
    result: ScriptResult
    sources: _Sources
    stem_name: str
    conversions: dict[str, Converted] = field(default_factory=dict)  # by variant label
    variant_rows: list[VariantResult] = field(default_factory=list)
    infos: dict[str, KnobInfo] = field(default_factory=dict)
    done: list[Variant] = field(default_factory=list)
    pending: list[Variant] = field(default_factory=list)
    capped: bool = False
    gated: bool = False  # the defaults stop at a gate: every variant carries the gate's value
    plan_for_tracing: LaunchPlan | None = None  # the evaluation without overrides, where every knob holds its default


def _process(job: ScriptJob, backend: Backend, rel: _Relativizer) -> ScriptResult:
    """Find the script's variants, convert each, lay them out and re-check them; one row."""
    run = _ScriptRun(job, backend, rel, ScriptResult(job.relpath, "converted"), _Sources(job.relpath),
                     stem_name=layout.experiment_name(job.relpath, "").rstrip("-"))
    stop = _start_with_knobs(run, job.knobs) if job.knobs is not None else _start_with_defaults(run)
    if stop is not None:
        return stop
    for i, variant in enumerate(run.pending):
        run.pending[i] = _unique_label(variant, run.done + run.pending[:i])
    _convert_variants(run)
    _record_knobs(run)
    _place_variants(run)
    return _finish(run)


def _start_with_knobs(run: _ScriptRun, knobs: tuple[tuple[str, tuple[str, ...]], ...]) -> ScriptResult | None:
    """--knobs: the variants are the values asked for, of the knobs this script declares. A row
    when the script cannot be evaluated."""
    job, settings = run.job, run.job.settings
    try:
        plan = run.plan_for_tracing = run.backend.evaluate(job.relpath, {}, settings)
    except MigrateError as exc:
        gate = _gate_of(exc, job)
        if gate is None:
            return _error_row(job, exc, run.rel)
        if not gate.launching:
            return _needs_row(job, gate, run.rel)
        # the knobs are read where the script launches: behind its gate's first value
        try:
            plan = run.plan_for_tracing = run.backend.evaluate(job.relpath, dict(gate.launching[0]), settings)
        except MigrateError as behind:
            return _error_row(job, behind, run.rel)
    run.infos, _ = _knob_infos(plan)
    run.sources.read(plan)
    wanted = {name: list(values) for name, values in knobs}
    variants, run.capped, ignored = explicit_variants(wanted, run.infos, job.max_variants)
    if ignored:
        run.result.notes.append("--knobs not declared by this script (ignored): " + ", ".join(ignored))
    run.pending = list(variants) or [Variant("default", (), True)]
    return None


def _start_with_defaults(run: _ScriptRun) -> ScriptResult | None:
    """Automatic variants: the defaults first, their plan tells which knobs select model sizes; a
    script whose defaults stop at a gate varies the values that open it. A row when neither works."""
    job = run.job
    try:
        conv = run.backend.convert(job.relpath, {}, run.stem_name, job.settings)
    except MigrateError as exc:
        gate = _gate_of(exc, job)
        if gate is None:
            return _error_row(job, exc, run.rel)
        if not gate.launching:
            return _needs_row(job, gate, run.rel)
        # The defaults stop at a gate (ARCH unset, MODEL_SIZE=4): the values that open it are the variants.
        run.result.notes.append(run.rel(f"the defaults do not launch: {gate.reason()}; "
                                        f"converted with each value that launches"))
        variants = [Variant(label_for(assignment), assignment, False) for assignment in gate.launching]
        run.pending = variants[: job.max_variants]
        run.capped = len(gate.launching) > job.max_variants
        run.gated = True
        return None
    run.infos, _ = _knob_infos(conv.plan)
    run.sources.read(conv.plan)
    variants, run.capped = auto_variants(run.sources.candidates(run.infos), job.max_variants, job.all_choices)
    # Rename the defaults after their values (MODEL_SIZE=8) once the knobs are known.
    run.conversions = {variants[0].label: conv}
    run.done = [variants[0]]
    run.pending = list(variants[1:])
    return None


def _convert_variants(run: _ScriptRun) -> None:
    """Convert every pending variant; without --knobs, a branch taken only under one variant may
    compare knobs with new literals, which adds variants (up to the cap)."""
    job = run.job
    while run.pending:
        variant = run.pending.pop(0)
        run.done.append(variant)
        name = run.stem_name if variant.is_default else layout.experiment_name(job.relpath, variant.label)
        try:
            conv = run.backend.convert(job.relpath, variant.env_dict, name, job.settings)
        except MigrateError as exc:
            status: Status = "skipped" if NO_LAUNCH in exc.message.lower() else "rejected"
            run.variant_rows.append(VariantResult(
                variant.label, variant.env_dict, status, reason=run.rel(exc.message),
                location=run.rel(str(exc.origin)) if exc.origin else None,
                is_default=variant.is_default, category=exc.category))
            continue
        run.conversions[variant.label] = conv
        if job.knobs is None:
            _add_found_variants(run, variant, conv.plan)


def _add_found_variants(run: _ScriptRun, variant: Variant, plan: LaunchPlan) -> None:
    """The variants a conversion's plan reveals (new knobs or literals), each once."""
    job = run.job
    run.infos, changed = _knob_infos(plan, run.infos)
    run.sources.read(plan)
    if not changed:
        return
    more, capped_now = auto_variants(run.sources.candidates(run.infos), job.max_variants, job.all_choices)
    run.capped = run.capped or capped_now
    # Same assignment, same variant, whatever its label became with more knobs known.
    seen = {v.env for v in run.done} | {v.env for v in run.pending}
    for extra in more:
        if run.gated:
            extra = _behind_gate(extra, variant)
        if extra.env in seen:
            continue
        if len(run.done) + len(run.pending) >= job.max_variants:
            run.capped = True
            break
        run.pending.append(_unique_label(extra, run.done + run.pending))


def _record_knobs(run: _ScriptRun) -> None:
    """The script's knobs in its row: default, the literals compared with, varied or not."""
    job, result = run.job, run.result
    result.capped = run.capped
    chosen = {name for name, _ in job.knobs} if job.knobs is not None else None
    result.knobs = {
        name: {"default": info.default, "compared_with": list(run.infos[name].compared_with),
               "varied": (name in chosen) if chosen is not None else is_varied(info, job.all_choices)}
        for name, info in sorted(run.sources.candidates(run.infos).items())
    }
    if run.capped:
        result.notes.append(f"variants capped at {job.max_variants}; choose them with --knobs")


def _place_variants(run: _ScriptRun) -> None:
    """Lay out each converted variant and re-check it; a variant that runs like an earlier one
    (`MODEL_SIZE=7` and `MODEL_SIZE=7B` often select the same network) shares its experiment."""
    by_label = {v.label: v for v in run.done}
    with tempfile.TemporaryDirectory(prefix="primus-migrate-batch-") as scratch:
        placed: list[tuple[Converted, VariantResult]] = []
        for label in [v.label for v in run.done]:
            conv = run.conversions.get(label)
            if conv is None:
                continue
            twin = next((row for prev, row in placed if _same_run(prev, conv)), None)
            if twin is not None:
                variant = by_label[label]
                run.variant_rows.append(dataclasses.replace(
                    twin, label=label, env=variant.env_dict, is_default=variant.is_default, same_as=twin.label,
                    changed_keys=[]))
                continue
            row = _place(run.job, by_label[label], conv, Path(scratch), run.backend, run.rel, run.result.files)
            run.variant_rows.append(row)
            if row.status != "rejected":
                placed.append((conv, row))


def _finish(run: _ScriptRun) -> ScriptResult:
    """Which settings each knob reaches, the rows in the order found, the script's status."""
    result, done = run.result, run.done
    by_label = {v.label: v for v in done}
    knobmap.measure(result, run.variant_rows, run.conversions, by_label, run.infos)
    # Trace on the evaluation without overrides: there every knob holds its default.
    first = run.conversions.get(done[0].label) if done else None
    traced = knobmap.trace(run.plan_for_tracing or (first.plan if first is not None else None),
                           lambda f: run.backend.dest_of(f, run.job.settings))
    merged = {k: set(v) for k, v in result.knob_keys.items()}
    for knob, dests in traced.items():
        merged.setdefault(knob, set()).update(dests)
    result.knob_keys = {k: sorted(v) for k, v in sorted(merged.items()) if v}
    order = {v.label: i for i, v in enumerate(done)}
    result.variants = sorted(run.variant_rows, key=lambda r: order.get(r.label, len(order)))
    result.status = worst_status([r.status for r in result.variants])
    if all(r.status == "skipped" for r in result.variants):
        result.reason = result.variants[0].reason if result.variants else None
    return result


def _gate_of(exc: MigrateError, job: ScriptJob) -> Gate | None:
    """The gate a training script stopped at (see migrate/shell/gates.py), or None for a helper.

    A gate found by trying values is proof of a launch; a `set -u` stop or a missing sourced file
    is taken as one only when the script's own text contains a launch (else it stays a helper).
    """
    gate = exc.gate if isinstance(exc, GatedScript) else None
    if gate is None or not gate.requirements:
        return None
    if gate.launching:
        return gate
    try:
        text = Path(job.relpath).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return gate if launch_in_text(text) else None


def _needs_row(job: ScriptJob, gate: Gate, rel: _Relativizer) -> ScriptResult:
    """Rejected, not skipped: a training script that needs something from its environment."""
    return ScriptResult(job.relpath, "rejected", reason=rel(gate.reason()),
                        location=rel(str(gate.exit_at)) if gate.exit_at else None)


def _behind_gate(extra: Variant, through: Variant) -> Variant:
    """A variant found after a gate, with the gate's value kept (`ARCH=gfx942,MODEL_SIZE=70`)."""
    overrides = dict(extra.env)
    env = tuple(sorted([(n, v) for n, v in through.env if n not in overrides] + list(extra.env)))
    return Variant(label_for(env), env, False)


def _same_run(a: Converted, b: Converted) -> bool:
    """Same Megatron namespace and same extra files (exported environment): the same run."""
    if knobmap.changed_keys(a.expected, b.expected):
        return False
    extras = lambda conv: {k: v for k, v in conv.files.items()  # noqa: E731
                           if k not in (conv.experiment_path, conv.model_path) and k not in DROPPED_FILES}
    return extras(a) == extras(b)


def _unique_label(variant: Variant, others: list[Variant]) -> Variant:
    """File-name-safe labels can collide (`a/b` and `a_b`): number the later one."""
    taken = {v.label for v in others}
    label, n = variant.label, 2
    while label in taken:
        label, n = f"{variant.label}~{n}", n + 1
    return dataclasses.replace(variant, label=label)


def _place(job: ScriptJob, variant: Variant, conv: Converted, scratch: Path, backend: Backend,
           rel: _Relativizer, files: dict[str, str]) -> VariantResult:
    """Lay out one conversion as in the final tree, then re-check parity on exactly those bytes."""
    exp_rel = layout.experiment_path(job.relpath, variant.label)
    exp_text = conv.files[conv.experiment_path]
    model_rel = None
    placed: dict[str, str] = {}
    scratch_only: dict[str, str] = {}
    if conv.model_path:
        model_text = layout.canonical_model(conv.files[conv.model_path])
        model_rel = layout.model_file_name(model_text, Path(conv.model_path).stem)
        exp_text = layout.rewrite_model_reference(exp_text, layout.model_reference(model_rel))
        placed[model_rel] = model_text
        scratch_only[layout.installed_path(exp_rel, model_rel)] = model_text
    placed[exp_rel] = exp_text
    for path, text in sorted(conv.files.items()):
        if path not in (conv.experiment_path, conv.model_path) and path not in DROPPED_FILES:
            placed[layout.companion_path(exp_rel, path)] = text
    run_rel = _place_run_sh(conv, exp_rel, model_rel, placed)
    # The emitter's files with the model reference renamed: still emitted text (see mark_emitted).
    mark_emitted(exp_text)
    if model_rel is not None:
        mark_emitted(placed[model_rel])
    for path, text in {**placed, **scratch_only}.items():
        target = scratch / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    ok, differences = backend.recheck(scratch / exp_rel, conv.expected, job.settings)
    plain_diffs = [[str(d), _plain(e), _plain(r)] for d, e, r in differences]
    if not ok:
        # Like `convert`: a config that would not run like the script is not written.
        shown = "; ".join(f"{d}: {e!r} -> {r!r}" for d, e, r in plain_diffs[:5])
        more = f" (+{len(plain_diffs) - 5} more)" if len(plain_diffs) > 5 else ""
        hint = f"; hint: {conv.hint}" if conv.hint else ""
        return VariantResult(
            label=variant.label, env=variant.env_dict, status="rejected",
            reason=rel(f"static parity failed, not written: {shown}{more} (legacy -> Primus){hint}"),
            parity_ok=False, parity_differences=plain_diffs, is_default=variant.is_default)
    files.update(placed)

    diagnostics = list(conv.diagnostics)
    diagnostics += [d for d in conv.plan.diagnostics if d not in diagnostics]
    warnings = [rel(str(d)) for d in diagnostics if d.severity == "warning"]
    unmapped = [rel(str(u)) for u in conv.unmapped]
    status: Status = "converted_with_warnings" if warnings or unmapped else "converted"
    return VariantResult(
        label=variant.label, env=variant.env_dict, status=status, warnings=warnings, unmapped=unmapped,
        experiment=exp_rel, model=model_rel, parity_ok=ok, parity_differences=plain_diffs,
        is_default=variant.is_default, legacy_schema=_schema_label(conv, job.root), run=run_rel,
    )


def _place_run_sh(conv: Converted, exp_rel: str, model_rel: str | None, placed: dict[str, str]) -> str | None:
    """The conversion's run.sh beside the experiment, its paths moved to the tree's (None: it has none)."""
    text = conv.files.get("run.sh")
    if text is None:
        return None
    env_rel = layout.companion_path(exp_rel, "env.sh")
    run_rel = layout.run_script_path(exp_rel)
    placed[run_rel] = layout.relocate_run_sh(text, conv.experiment_path, conv.model_path, exp_rel, model_rel,
                                             env_rel if env_rel in placed else None)
    return run_rel


def _schema_label(conv: Converted, root: str) -> str | None:
    """The table that read the script: a bundled name; `checkout` for the checkout the batch folder is or
    sits in; `checkout:REL` for one inside the batch folder (REL: its folder, relative to the batch root)."""
    label = (conv.report or {}).get("legacy_schema")
    if not isinstance(label, str) or "/" not in label:
        return label
    inside = os.path.relpath(os.path.realpath(label), os.path.realpath(root))
    return "checkout" if inside == "." or inside.startswith("..") else f"checkout:{Path(inside).as_posix()}"


def _plain(value: Any) -> Any:
    """JSON-safe and deterministic (tuples as lists, unknown objects as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return repr(value)
