"""Choose the preset, write the model file if needed, compute the overrides, check them.

The target release's loader is the oracle throughout: a preset's values are
whatever that release resolves an experiment naming it to, and the emitted
files are accepted only when the loader, resolving them, gives back the legacy
run after derivation. The loader and derive() are passed in, so the algorithm
can be tested on small hand-built inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

from migrate.diagnostics import MigrateError, Origin
from migrate.primus.emit.architecture import (
    ARCHITECTURE_KEYS,
    STRUCTURE_KEYS,
    TOKENIZER_KEYS,
    PresetMatch,
    rank_presets,
    safe_derive,
)
from migrate.primus.emit.files import experiment_yaml, model_yaml
from migrate.primus.emit.inert import inert_reason
from migrate.primus.emit.runtime import runtime_text
from migrate.primus.emit.overrides import Override, build_overrides, mismatches, needed_overrides, origin_note
from migrate.primus.emit.parity_verdict import StaticParity
from migrate.primus.handoff import output_settings, written_shape
from migrate.primus.profiles import Profile
from migrate.primus.releases import Release
from migrate.primus.resolved import ResolvedConfig
from migrate.primus.yamlio import mark_emitted
from migrate.values import same_value as _same


class Resolver(Protocol):
    def __call__(self, files: Mapping[str, str], experiment: str) -> ResolvedConfig:
        ...


@dataclass
class EmitRequest:
    name: str  # experiment name (file stem)
    run_values: dict[str, Any]  # the legacy run at the target schema, before derivation
    expected: dict[str, Any]  # derive(run_values): what Megatron trains with
    explicit: dict[str, Origin | None]  # dests the script set -> flag origin
    knob_of: dict[str, str] = field(default_factory=dict)  # dest -> knob that sets it (annotation)
    placeholders: dict[str, str] = field(default_factory=dict)  # dest -> `${KNOB:value}` (--keep-knobs)
    header: str = ""  # comment block on top of the experiment file
    family: str = "gpt"  # the network the legacy entry builds (migrate.entries: EntryDecision.family)
    notes: dict[str, str] = field(default_factory=dict)  # dest -> comment for a value the converter chose
    # the script's run-time values (migrate.primus.emit.runtime): written as `${PRIMUS_RUN_...:assumed}`
    runtime: list[Any] = field(default_factory=list)


@dataclass
class EmitResult:
    files: dict[str, str]  # relpath -> text: experiment, model file if any
    experiment_path: str
    model_path: str | None
    model_ref: str
    preset: PresetMatch
    ranking: list[PresetMatch]
    model_values: dict[str, Any]
    overrides: list[Override]
    unsettable: dict[str, str]  # dest -> why it cannot be expressed at the target
    resolved: ResolvedConfig  # of the final files
    parity: StaticParity
    preset_values: dict[str, Any] = field(default_factory=dict)  # the presets alone, no overrides


class StagedResolver:
    """A Resolver over `resolve_experiment(path, profile, env)` through a temporary folder.

    Inside `session()` (one `emit`), one folder serves every resolve: a file is rewritten in place
    only when its text changed, and given a fresh, strictly increasing mtime, so the loader's caches
    (keyed by path, mtime and size) can never hand back an earlier text. Creating and removing a
    folder per resolve was a tenth of a cold `convert` (unlink and rmdir are slow on busy disks).
    Outside a session, each call gets its own folder."""

    def __init__(self, profile: Profile, resolve_experiment: Callable[..., ResolvedConfig]) -> None:
        self.profile, self.resolve_experiment = profile, resolve_experiment
        self._folder: Path | None = None
        self._written: dict[str, str] = {}

    @contextmanager
    def session(self) -> Iterator[None]:
        if self._folder is not None:  # already in one
            yield
            return
        from migrate.output import scratch_folder

        with scratch_folder("primus-migrate-emit-") as tmp:
            self._folder, self._written = tmp, {}
            try:
                yield
            finally:
                self._folder, self._written = None, {}

    def __call__(self, files: Mapping[str, str], experiment: str) -> ResolvedConfig:
        if self._folder is None:
            with self.session():
                return self(files, experiment)
        tmp = self._folder
        self._stage(tmp, files)
        try:
            return self.resolve_experiment(tmp / experiment, self.profile, {})
        except MigrateError as exc:  # name the file as it will be written, never the temporary folder
            exc.message = exc.message.replace(str(tmp) + os.sep, "")
            if exc.origin is not None and exc.origin.file.startswith(str(tmp) + os.sep):
                exc.origin = Origin(exc.origin.file[len(str(tmp)) + 1:], exc.origin.line, exc.origin.col)
            raise

    def _stage(self, tmp: Path, files: Mapping[str, str]) -> None:
        global _STAMP
        for rel in [r for r in self._written if r not in files]:
            (tmp / rel).unlink(missing_ok=True)
            del self._written[rel]
        for rel, text in files.items():
            if self._written.get(rel) == text:
                continue
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(mark_emitted(text), encoding="utf-8")
            _STAMP = max(_STAMP + 1, time.time_ns())
            os.utime(path, ns=(_STAMP, _STAMP))
            self._written[rel] = text


_STAMP = 0  # the last mtime StagedResolver gave a file (nanoseconds), never given twice


def stage_and_resolve(profile: Profile, resolve_experiment: Callable[..., ResolvedConfig]) -> StagedResolver:
    """A Resolver over `resolve_experiment(path, profile, env)` through a temporary folder."""
    return StagedResolver(profile, resolve_experiment)


def _session(resolve: Resolver) -> Any:
    """The resolver's session (StagedResolver), or nothing to enter (a resolver of tests)."""
    session = getattr(resolve, "session", None)
    return session() if session is not None else nullcontext()


_BASELINES: dict[tuple, tuple | None] = {}
_RAW_PRESETS: dict[tuple, dict[str, Any] | None] = {}

# How many presets, closest first by their own files, are resolved with the full loader.
SHORTLIST = 4


def _raw_preset(profile: Profile, name: str) -> dict[str, Any] | None:
    key = (profile.name, str(profile.configs_dir), name)
    if key not in _RAW_PRESETS:
        try:
            _RAW_PRESETS[key] = dict(profile.load_model_preset(name))
        except MigrateError:
            _RAW_PRESETS[key] = None
    return _RAW_PRESETS[key]


def load_raw_presets(profile: Profile) -> None:
    """Read every model preset of `profile` into the cache `shortlist` uses (a warm-up)."""
    for name in sorted(profile.model_presets()):
        _raw_preset(profile, name)


def model_family(values: Mapping[str, Any]) -> str:
    """The kind of network a preset builds (Primus-only keys `model_type`, `is_hybrid_model`)."""
    if values.get("is_hybrid_model"):
        return "hybrid"
    return str(values.get("model_type") or "gpt")


def shortlist(profile: Profile, defaults: Mapping[str, Any], run: Mapping[str, Any],
              run_derived: Mapping[str, Any], size: int = SHORTLIST, family: str = "gpt") -> list[str]:
    """Preset names worth resolving: the closest by the preset files alone (cheap), ties kept."""
    names = sorted(profile.model_presets())
    if not hasattr(profile, "load_model_preset"):
        return names
    # The ranking reads only the architecture keys (the raw presets are cached per release
    # folder, like `_raw_preset`): variants of one script, and scripts of one model, share it.
    key = (profile.name, str(profile.configs_dir), tuple(names), size, family,
           frozen_items(defaults, ARCHITECTURE_KEYS), frozen_items(run, ARCHITECTURE_KEYS),
           frozen_items(run_derived, ARCHITECTURE_KEYS))
    hit = _SHORTLISTS.get(key)
    if hit is not None:
        return list(hit)
    indexed = _indexed_presets(profile, names)
    raw = {n: v for n in names if (v := indexed[n] if indexed is not None else _raw_preset(profile, n)) is not None
           and model_family(v) == family}
    ranked = rank_presets({n: ({**defaults, **v}, None) for n, v in raw.items()}, run, run_derived)
    if len(ranked) <= size:
        chosen = [m.name for m in ranked]
    else:
        cut = ranked[size - 1].closeness()
        chosen = [m.name for m in ranked if m.closeness() <= cut]
    if len(_SHORTLISTS) > 4096:
        _SHORTLISTS.clear()
    _SHORTLISTS[key] = tuple(chosen)
    return chosen


_SHORTLISTS: dict[tuple, tuple[str, ...]] = {}
_INDEXES: dict[tuple, dict[str, Any] | None] = {}


def _indexed_presets(profile: Profile, names: list[str]) -> dict[str, Any] | None:
    """The release's precomputed preset index (migrate/primus/preset_index.py) when it still matches
    the preset files and names exactly these presets; None: read the presets themselves."""
    key = (profile.name, str(profile.configs_dir))
    if key not in _INDEXES:
        from migrate.primus.preset_index import load_index

        _INDEXES[key] = load_index(profile) if hasattr(profile, "models_dir") else None
    index = _INDEXES[key]
    return index if index is not None and sorted(index) == names else None


def frozen_items(values: Mapping[str, Any], keys: frozenset[str]) -> tuple:
    """A hashable, exact picture of `values` on `keys` (absent keys left out): a cache key part.

    Values are taken with their type and repr, so 1, 1.0 and True, or [1] and (1,), never share."""
    return tuple((k, type(values[k]).__name__, repr(values[k])) for k in sorted(keys) if k in values)


def preset_baselines(
    profile: Profile, resolve: Resolver, derive: Callable[[Mapping[str, Any]], dict[str, Any]],
    defaults: Mapping[str, Any], names: list[str] | None = None,
) -> dict[str, tuple]:
    """preset -> (resolved values, derived values or None, origins, primus-only values), for an
    experiment with no overrides.

    Cached per release folder: a preset resolves the same for every script.
    """
    out = {}
    for name in (sorted(profile.model_presets()) if names is None else names):
        key = (profile.name, str(profile.configs_dir), name)
        if key not in _BASELINES:
            files = {"baseline.yaml": experiment_yaml("baseline", f"{name}.yaml", [])}
            try:
                resolved = resolve(files, "baseline.yaml")
            except MigrateError:
                _BASELINES[key] = None  # a preset its own release cannot load is no candidate
            else:
                values = dict(resolved.values)
                filled = {**defaults, **values}
                _BASELINES[key] = (values, safe_derive(derive, filled), dict(resolved.origins),
                                   dict(resolved.primus_only))
        baseline = _BASELINES[key]
        if baseline is not None:
            out[name] = baseline
    return out


LANGUAGE_MODEL_ROOT = "language_model.yaml"


@dataclass(frozen=True)
class _BaselineFacts:
    family: str  # model_family of the preset's values
    describes_a_model: bool
    language_model_rooted: bool  # inherits LANGUAGE_MODEL_ROOT from the models folder
    size: int  # keys the preset chain sets from the models folder


_FACTS: dict[tuple[int, str], tuple[tuple, _BaselineFacts]] = {}


def _baseline_facts(baseline: tuple, models_dir: Path) -> _BaselineFacts:
    """What emit() asks of a cached preset baseline, once per baseline: each question walks
    every origin of the preset (hundreds), for every variant of every script otherwise.

    Keyed by the baseline object itself (kept in the entry, so its id cannot be reused)."""
    key = (id(baseline), str(models_dir))
    hit = _FACTS.get(key)
    if hit is not None and hit[0] is baseline:
        return hit[1]
    values, _, origins, primus_only = baseline
    # where a key comes from is a question about its file: asked once per file, not once per key
    files = {str(o.file) for o in origins.values() if o is not None}
    under = {file: _is_under_resolved(file, str(models_dir)) for file in files}
    from_models = [key for key, o in origins.items() if o is not None and under[str(o.file)]]
    facts = _BaselineFacts(model_family({**values, **primus_only}),
                           # a model preset sets at least one architecture key (some carry only Primus extensions)
                           any(key in STRUCTURE_KEYS for key in from_models),
                           any(inside and _file_name(file) == LANGUAGE_MODEL_ROOT for file, inside in under.items()),
                           len(from_models))
    if len(_FACTS) > 4096:
        _FACTS.clear()
    _FACTS[key] = (baseline, facts)
    return facts


@lru_cache(maxsize=8192)
def _file_name(file: str) -> str:
    return Path(file).name


def _rewritten(origin: Origin | None) -> bool:
    """Set by a release's post-load rule rather than by a file (the loader marks it `<...>`)."""
    return origin is not None and str(origin.file).startswith("<")


def _is_under(origin: Origin | None, folder: Path) -> bool:
    if origin is None:
        return False
    return _is_under_resolved(str(origin.file), str(folder))


@lru_cache(maxsize=8192)
def _is_under_resolved(file: str, folder: str) -> bool:
    """Cached: emit() asks this for every origin of every candidate preset (tens of thousands of
    times per batch) about the same few hundred files, and each `resolve()` walks the filesystem."""
    try:
        Path(file).resolve().relative_to(_resolved_folder(folder))
        return True
    except ValueError:
        return False


@lru_cache(maxsize=64)
def _resolved_folder(folder: str) -> Path:
    """A release's models/ or modules/ folder, resolved once for all the files asked about it."""
    return Path(folder).resolve()


@dataclass
class _Emission:
    """What the steps of one `emit` share: the request, the release and its oracles, and the
    experiment being built (its files, the keys it changes, and why)."""

    request: EmitRequest
    profile: Profile
    resolve: Resolver
    derive: Callable[[Mapping[str, Any]], dict[str, Any]]
    check_parity: Callable[[Mapping[str, Any], ResolvedConfig], StaticParity]
    dests: set[str]
    defaults: Mapping[str, Any]
    experiment_path: str = ""
    model_ref: str = ""
    files: dict[str, str] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)
    unsettable: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    baseline: Any = None  # the experiment with no overrides, resolved (_plan_overrides)

    @property
    def rules(self) -> Release:
        """The release's rules (migrate.primus.releases): what its loader and trainer accept."""
        return self.profile.rules


def emit(
    request: EmitRequest,
    profile: Profile,
    resolve: Resolver,
    derive: Callable[[Mapping[str, Any]], dict[str, Any]],
    check_parity: Callable[[Mapping[str, Any], ResolvedConfig], StaticParity],
    dests: set[str],
    defaults: Mapping[str, Any],
    model_name: str | None = None,
) -> EmitResult:
    """The experiment (and model) files for one legacy run at `profile`'s release: choose the
    preset, write a model file where the architecture differs, find the overrides, check them."""
    job = _Emission(request, profile, resolve, derive, check_parity, dests, defaults,
                    experiment_path=f"{request.name}-pretrain.yaml")
    with _session(resolve):
        ranking, baselines = _rank_candidates(job)
        best = ranking[0]
        model_values = _model_values(job, best, baselines[best.name][2])
        model_path = _add_model_file(job, best.name, model_values, model_name)
        baseline = _plan_overrides(job)
        overrides, resolved, parity = _search_overrides(job)
        if parity is not None and parity.ok:
            overrides, resolved, parity = _drop_rewritten(job, baseline, overrides, resolved, parity)
        if parity is not None:
            overrides, resolved, parity = _settle_inert(job, overrides, resolved, parity)
    return EmitResult(job.files, job.experiment_path, model_path, job.model_ref, best, ranking, model_values,
                      overrides, job.unsettable, resolved, parity, dict(baseline.values))


def _rank_candidates(job: _Emission) -> tuple[list[PresetMatch], dict[str, tuple]]:
    """The loadable presets of the run's family, closest first (ties: the smaller chain)."""
    request, profile, run, defaults = job.request, job.profile, job.request.run_values, job.defaults
    names = shortlist(profile, defaults, run, request.expected, family=request.family)
    models_dir = Path(profile.configs_dir) / "models"
    facts = {n: (b, _baseline_facts(b, models_dir))
             for n, b in preset_baselines(profile, job.resolve, job.derive, defaults, names).items()}
    baselines = {n: b for n, (b, f) in facts.items() if f.family == request.family and f.describes_a_model}
    # Primus's language-model presets all build on `language_model.yaml`; other presets that set
    # architecture keys (diffusion, vision) build something else. Prefer that chain when present.
    rooted = {n: b for n, b in baselines.items() if facts[n][1].language_model_rooted}
    baselines = rooted or baselines
    if not baselines:
        raise MigrateError(f"no {request.family} model preset of {profile.name} could be loaded from "
                           f"{profile.configs_dir}")
    # a release that hands Megatron only the keys its presets define: a preset lacking a key the run
    # needs at a non-default value cannot express the run at all.
    lacking = {n: sorted(k for k in job.dests if k in run and k not in b[0] and not _same(run[k], defaults.get(k)))
               for n, b in baselines.items()} if job.rules.only_preset_keys_reach_megatron else {}
    sizes = {n: facts[n][1].size for n in baselines}
    ranking = rank_presets({n: (b[0], b[1]) for n, b in baselines.items()}, run, request.expected, lacking, sizes)
    return ranking, baselines


def _model_values(job: _Emission, best: PresetMatch, base_origins: Mapping[str, Origin]) -> dict[str, Any]:
    """Architecture keys the model file carries: set by the script, not by the module preset (refused
    as shared keys, or the module's value silently kept), and under `bases:` already defined by the
    base chain."""
    run = job.request.run_values
    modules_dir = Path(job.profile.configs_dir) / "modules"
    models_dir = Path(job.profile.configs_dir) / "models"
    model_values: dict[str, Any] = {}
    for key in best.structure_diff:
        if key not in job.dests or key not in run:
            continue
        if key not in job.request.explicit:
            # the script never set it: the preset changes a Megatron default. That is not a
            # different model, so it is an override annotated `Megatron default`, not a model file.
            continue
        if _is_under(base_origins.get(key), modules_dir):
            continue
        if job.rules.inherit_key == "bases" and not _is_under(base_origins.get(key), models_dir):
            continue
        model_values[key] = run[key]
    return model_values


def _add_model_file(job: _Emission, preset: str, model_values: Mapping[str, Any],
                    model_name: str | None) -> str | None:
    """Write models/megatron/<model>.yaml (inheriting `preset`) when the architecture differs;
    sets the experiment's model reference either way. Returns the model file's path, if any."""
    job.model_ref = f"{preset}.yaml"
    if not model_values:
        return None
    model_name = model_name or model_file_stem(preset, model_values)
    model_path = f"models/megatron/{model_name}.yaml"
    job.model_ref = f"{model_name}.yaml"
    origins = {k: origin_note(k, job.request.explicit) for k in model_values}
    job.files[model_path] = model_yaml(
        job.profile.inherit_key, preset, {k: written_shape(k, v, job.rules.trainer) for k, v in model_values.items()},
        origins,
        header=f"{model_name}: {preset} with {len(model_values)} architecture key(s) changed "
               f"(generated by primus-migrate)\n"
               f"install: copy into <Primus>/primus/configs/models/megatron/ (run.sh does it)",
    )
    return model_path


def _plan_overrides(job: _Emission) -> ResolvedConfig:
    """Resolve the experiment with no overrides (the baseline) and fill `job.changes` with the minimal
    overrides for parity, the output settings, and what the release cannot express. Returns the
    baseline's ResolvedConfig."""
    request, run = job.request, job.request.run_values
    # the loader finds models/megatron/<model>.yaml beside the experiment (migrate.primus.loader)
    baseline = job.resolve({**job.files, job.experiment_path: experiment_yaml(request.name, job.model_ref, [])},
                           job.experiment_path)
    job.present = set(baseline.values) | set(baseline.primus_only)
    job.changes = needed_overrides(baseline.values, run, request.expected, sorted(job.dests), job.derive,
                                   job.defaults, keep=[k for k in request.placeholders if k in job.dests])
    if job.rules.presets.overrides_must_exist:
        for key in list(job.changes):
            if key not in job.present:
                job.unsettable[key] = (f"{job.profile.name} presets do not define '{key}', and that release only "
                                       f"overrides keys its presets define")
                del job.changes[key]
    job.placeholders = {k: v for k, v in request.placeholders.items() if k in job.changes}
    job.notes = dict(request.notes)
    _output_settings(job.changes, job.notes, run, baseline, job.present, job.rules, job.dests)
    job.baseline = baseline
    return baseline


def run_views(expected: Mapping[str, Any], resolved: ResolvedConfig,
              changes: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]:
    """The run as the inertness rules read it (migrate.primus.emit.inert): the legacy run after
    derivation, and what the release resolves, before and after its trainer's rewrites (Primus-only
    keys included). A key is inert only when it is in all of them.

    With `changes`, `resolved` is the baseline and the views are those it leads one to expect once
    the changes are written over it (the trainer still rewriting what it rewrote there): a forecast,
    which `_settle_inert` checks on the written files' own resolution."""
    changes = changes or {}
    primus_only = dict(resolved.primus_only)
    kept = resolved.trainer_rewrites  # the keys its trainer rewrites
    return [expected, {**primus_only, **resolved.values, **changes},
            {**primus_only, **resolved.with_trainer_rewrites(), **{k: v for k, v in changes.items() if k not in kept}}]


def _build(job: _Emission, chosen: Mapping[str, Any], views: list[Mapping[str, Any]]) -> list[Override]:
    """Override records for `chosen` (dest -> value), written in the release's shapes, each judged
    inert or not in `views` (run_views)."""
    request = job.request
    shaped = {k: written_shape(k, v, job.rules.trainer) for k, v in chosen.items()}
    raw = {k: found[:2] for k, v in shaped.items()
           if (found := runtime_text(k, v, request.runtime, job.rules.interpolation)) is not None}
    overrides = build_overrides(shaped, request.explicit, request.knob_of, job.placeholders, job.notes, raw)
    for override in overrides:
        override.inert = inert_reason(override.key, views)
    return overrides


def _write_and_check(job: _Emission, changes: Mapping[str, Any], views: list[Mapping[str, Any]] | None = None
                     ) -> tuple[list[Override], dict[str, str], ResolvedConfig, StaticParity]:
    """The experiment written with `changes`, resolved by the release's loader, and its parity.
    Its layout (which keys are inert) is judged in `views`, by default the forecast from the baseline."""
    overrides = _build(job, changes, views if views is not None else
                       run_views(job.request.expected, job.baseline, changes))
    files = {**job.files, job.experiment_path: experiment_yaml(job.request.name, job.model_ref, overrides,
                                                               job.request.header)}
    resolved = job.resolve(files, job.experiment_path)
    return overrides, files, resolved, job.check_parity(job.request.expected, resolved)


def _search_overrides(job: _Emission) -> tuple[list[Override], Any, Any]:
    """Write, resolve and check; where parity still differs on a key the run sets, override it too
    (up to three rounds): the in-memory minimisation cannot see every rule of the release."""
    run = job.request.run_values
    overrides: list[Override] = []
    resolved = parity = None
    for _ in range(3):
        overrides, job.files, resolved, parity = _write_and_check(job, job.changes)
        if parity.ok:
            break
        added = False
        for dest, _, _ in parity.differences:
            if dest in job.changes or dest in job.unsettable or dest not in run:
                continue
            if job.rules.presets.overrides_must_exist and dest not in job.present:
                job.unsettable[dest] = f"{job.profile.name} presets do not define '{dest}'"
                continue
            job.changes[dest] = run[dest]
            added = True
        if not added:
            break
    return overrides, resolved, parity


DROP_TOGETHER = 4  # from this many candidates on, `_drop_rewritten` first tries dropping them all at once


def _drop_rewritten(job: _Emission, baseline: ResolvedConfig, overrides: list[Override], resolved: ResolvedConfig,
                    parity: StaticParity) -> tuple[list[Override], ResolvedConfig, StaticParity]:
    """Keys a release's trainer rewrites after loading (`trainer_rewrites`) are not modelled by the
    in-memory minimisation, which may keep one the loader shows is not needed: try each again.
    Output keys (save_interval without save, W&B names without W&B, ...) may be inert as well."""
    from migrate.primus.handoff import OUTPUT_DESTS

    rewritten = set(baseline.trainer_rewrites) | set(OUTPUT_DESTS)
    candidates = [k for k in job.changes if k not in job.placeholders
                  and (k in rewritten or _rewritten(baseline.origins.get(k)))]
    if len(candidates) >= DROP_TOGETHER:
        # usually most of them go: one resolve for all, else one each (what that costs at most: one more)
        trial = {k: v for k, v in job.changes.items() if k not in candidates}
        trial_overrides, trial_files, trial_resolved, trial_parity = _write_and_check(job, trial)
        if trial_parity.ok:
            job.changes, job.files = trial, trial_files
            return trial_overrides, trial_resolved, trial_parity
    for key in candidates:
        trial = {k: v for k, v in job.changes.items() if k != key}
        trial_overrides, trial_files, trial_resolved, trial_parity = _write_and_check(job, trial)
        if trial_parity.ok:
            job.changes, job.files = trial, trial_files
            overrides, resolved, parity = trial_overrides, trial_resolved, trial_parity
    return overrides, resolved, parity


def _settle_inert(job: _Emission, overrides: list[Override], resolved: ResolvedConfig,
                  parity: StaticParity) -> tuple[list[Override], ResolvedConfig, StaticParity]:
    """Judge inertness on the final files' resolution: the layout was written from a forecast
    (run_views with changes); where the resolution says otherwise, write the experiment again and
    check it again (the text moves keys between blocks, never values)."""
    views = run_views(job.request.expected, resolved)
    if all(o.inert == inert_reason(o.key, views) for o in overrides):
        return overrides, resolved, parity
    trial_overrides, trial_files, trial_resolved, trial_parity = _write_and_check(job, job.changes, views)
    if (trial_parity.ok, trial_parity.differences) != (parity.ok, parity.differences):
        return overrides, resolved, parity  # cannot happen unless the layout changed values: keep what was checked
    job.files = trial_files
    return trial_overrides, trial_resolved, trial_parity


MODEL_STEM_CHARS = 80  # longer descriptive names become `<preset>-custom-<hash>`
_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")


def model_file_stem(preset: str, model_values: Mapping[str, Any]) -> str:
    """The generated model file's name says what it is: its preset and the keys it changes,
    `llama2_70B-max_position_embeddings-32000`; when that is too long, `llama2_7B-custom-<hash>`
    (a hash of the changed keys and values, so the same model gets the same name)."""
    def text(value: Any) -> str:
        shown = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
        return _UNSAFE.sub("_", shown).strip("_") or "_"

    parts = [f"{key}-{text(value)}" for key, value in sorted(model_values.items())]
    stem = "-".join([preset, *parts])
    if len(stem) <= MODEL_STEM_CHARS:
        return stem
    digest = hashlib.sha256(json.dumps(sorted(model_values.items()), sort_keys=True, default=repr)
                            .encode("utf-8")).hexdigest()[:8]
    return f"{preset}-custom-{digest}"


_OUTPUT_OF = {"disable_tensorboard": "tensorboard_dir", "disable_wandb": "wandb_project",
              "disable_last_saving": "save", "save_interval": "save"}


def _output_settings(changes: dict[str, Any], notes: dict[str, str], run: Mapping[str, Any], baseline: ResolvedConfig,
                     present: set[str], rules: Release, dests: set[str]) -> None:
    """Add the keys that make the release write checkpoints, TensorBoard and W&B logs as the legacy
    run did (migrate.primus.handoff.output_settings), where the presets say otherwise."""
    current = {**dict(baseline.primus_only), **dict(baseline.values)}
    for key, (value, why) in output_settings(dict(run), rules.trainer).items():
        if _OUTPUT_OF.get(key, key) not in dests:
            continue  # the output it steers is not an argument of this Megatron
        if rules.presets.overrides_must_exist and key not in present:
            continue  # the release overrides only keys its presets define; parity shows what follows
        if key in current and _same(current[key], value) and key not in changes:
            continue
        changes[key] = value
        notes[key] = why


__all__ = ["EmitRequest", "EmitResult", "emit", "preset_baselines", "stage_and_resolve",
           "STRUCTURE_KEYS", "TOKENIZER_KEYS", "mismatches"]
