"""Why a key of an experiment has the value it has: `primus-migrate explain EXP.yaml KEY`.

Reads what the emitter records and what the release's loader says, nothing else: the override's
trailing comment (its legacy origin, `Megatron default`, or the converter's note; see
migrate/primus/emit/overrides.py), the loader's origin of the resolved value, the same experiment
resolved without that one override (the preset's value and the preset line that sets it), and the
inertness rules (migrate/primus/emit/inert.py) on the resolved run. So it works on any experiment,
hand-edited or not; the comment is only trusted for what only the script knew (the flag's line).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from migrate.diagnostics import MigrateError, Origin
from migrate.primus.emit.inert import inert_reason
from migrate.primus.emit.overrides import MEGATRON_DEFAULT
from migrate.primus.profiles import Profile
from migrate.primus.resolved import ResolvedConfig

COMMENT_MARK = "  # "  # the emitter's comments never hold two spaces in a row (yamltext._one_line)
INERT_MARK = "; inert: "


@dataclass
class PresetValue:
    value: Any
    origin: str  # preset file:line, or "Megatron default (no preset sets it)"


@dataclass
class Explanation:
    key: str
    experiment: str
    target: str
    emitted: bool  # written by the experiment or its generated model file (else a preset or a default)
    in_model_file: bool  # written by the generated model file beside the experiment
    where: str | None  # file:line of the value Primus resolves
    value: Any  # what the release's loader resolves
    trainer_value: Any  # after the release's trainer rewrites (same as value when it rewrites nothing)
    written_as: str | None  # the override's text when it is not the value itself (`${TP:8}`)
    legacy_origin: str | None  # from the override's comment: script file:line, `Megatron default`, a note
    legacy_flag: str | None  # the script's flag as written (`--lr 1e-4`), from report.json beside the experiment
    origin_kind: str  # "script", "megatron default", "converter", "hand-written", "preset"
    preset: PresetValue | None  # what the experiment resolves to without this override
    affects_run: bool
    inert_rule: str | None
    inert_reason: str | None
    why: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def explain_key(experiment: Path, text: str, key: str, profile: Profile) -> Explanation:
    """Explain `key` of `experiment` (whose text is `text`) as `profile`'s release loads it; MigrateError
    (exit 2) for a key the experiment neither overrides nor resolves, with the closest names."""
    from migrate.primus import resolve_experiment

    resolved = resolve_experiment(experiment, profile)
    overrides, module = _overrides(text, experiment)
    known = set(resolved.values) | set(resolved.primus_only) | set(overrides)
    if key not in known:
        close = difflib.get_close_matches(key, sorted(known), n=5, cutoff=0.6)
        raise MigrateError(f"'{key}' is neither an override of {experiment.name} nor a setting {profile.name} "
                           f"resolves", Origin(str(experiment), 0, 0),
                           hint=("did you mean " + ", ".join(f"`{c}`" for c in close) + "?") if close else
                           "`primus-migrate resolve --all EXP.yaml` lists every key", exit_code=2)
    value = resolved.values[key] if key in resolved.values else resolved.primus_only.get(key)
    origin = resolved.origins.get(key)
    rewrite = resolved.trainer_rewrites.get(key)
    in_model_file = key not in overrides and _generated_model_file(origin, experiment)
    emitted = key in overrides or in_model_file
    comment = _comment(origin, experiment) if emitted else None
    legacy, kind = _legacy_origin(comment, emitted)
    preset = _preset_value(experiment, text, module, key, profile) if key in overrides else None
    inert = inert_reason(key, _views(resolved, profile))
    explanation = Explanation(
        key=key, experiment=str(experiment), target=profile.name, emitted=emitted, in_model_file=in_model_file,
        where=_short(origin) if origin is not None else None, value=value,
        trainer_value=rewrite[1] if rewrite else value, written_as=_written(overrides.get(key), value, emitted),
        legacy_origin=legacy, legacy_flag=_legacy_flag(experiment, key, legacy) if kind == "script" else None,
        origin_kind=kind if emitted else "preset", preset=preset,
        affects_run=inert is None, inert_rule=inert.rule if inert else None,
        inert_reason=inert.reason if inert else None, why="")
    explanation.why = _why(explanation, origin, GENERATED_MARK in text[:4000])
    return explanation


def _overrides(text: str, experiment: Path) -> tuple[dict[str, Any], str | None]:
    """The experiment's overrides (of the module that has them; pre_trainer first) and that module's name."""
    try:
        data = yaml.safe_load(text)  # noqa: S506 - a SafeLoader, as Primus reads it
    except yaml.YAMLError as exc:
        raise MigrateError(f"{experiment} is not YAML: {exc}", Origin(str(experiment), 0, 0), exit_code=2) from exc
    modules = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(modules, dict):
        return {}, None
    names = sorted(modules, key=lambda n: (n != "pre_trainer", str(n)))
    for name in names:
        body = modules[name]
        if isinstance(body, dict) and isinstance(body.get("overrides"), dict):
            return dict(body["overrides"]), str(name)
    return {}, names[0] if names else None


def _generated_model_file(origin: Origin | None, experiment: Path) -> bool:
    """Set by a model file beside the experiment (models/megatron/<model>.yaml, as the emitter writes it)."""
    if origin is None or str(origin.file).startswith("<"):
        return False
    try:
        Path(origin.file).resolve().relative_to((experiment.parent / "models").resolve())
        return True
    except ValueError:
        return False


def _comment(origin: Origin | None, experiment: Path) -> str | None:
    """The trailing comment of the line that sets the value (the loader names the line): the experiment's
    override, or the generated model file's key."""
    if origin is None or origin.line < 1:
        return None
    path = Path(origin.file)
    if path.resolve() != experiment.resolve() and not _generated_model_file(origin, experiment):
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if origin.line > len(lines):
        return None
    line = lines[origin.line - 1]
    return line.rsplit(COMMENT_MARK, 1)[1].strip() if COMMENT_MARK in line else None


def _legacy_origin(comment: str | None, emitted: bool) -> tuple[str | None, str]:
    if comment is None:
        return None, "hand-written" if emitted else "preset"
    origin = comment.split(INERT_MARK, 1)[0].strip()
    if origin.startswith(MEGATRON_DEFAULT):
        return origin, "megatron default"
    head = origin.split(";", 1)[0].split(" (", 1)[0]
    if ":" in head and head.rsplit(":", 1)[1].isdigit() or head == "command line":
        return origin, "script"
    return origin, "converter"


def _legacy_flag(experiment: Path, key: str, legacy: str | None) -> str | None:
    """The flag behind `key` as the script wrote it, from the report the converter wrote with the experiment
    (report.json, same folder, naming this experiment); only a flag at the comment's own file:line counts."""
    if not legacy:
        return None
    report = experiment.parent / "report.json"
    try:
        data = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("experiment") != experiment.name:
        return None
    where = legacy.split(";", 1)[0].split(" (", 1)[0].strip()
    for flag in data.get("flags") or []:
        if isinstance(flag, dict) and flag.get("dest") == key and flag.get("origin") == where:
            written = str(flag.get("written") or "")
            return f"{flag.get('flag')} {written}".strip()
    return None


def _written(raw: Any, value: Any, emitted: bool) -> str | None:
    """The override's text where the loader turned it into something else (`${TP:8}` -> 8)."""
    return raw if emitted and isinstance(raw, str) and raw != value and "${" in raw else None


def _preset_value(experiment: Path, text: str, module: str | None, key: str, profile: Profile) -> PresetValue | None:
    """The experiment resolved without this one override: what the presets (or Megatron's defaults) give."""
    from migrate.primus.loader import resolve_experiment_text

    data = yaml.safe_load(text)
    body = data["modules"][module]
    body["overrides"] = {k: v for k, v in body["overrides"].items() if k != key}
    files = {experiment.name: yaml.safe_dump(data, sort_keys=False)}
    models = experiment.parent / "models"
    if models.is_dir():  # the model files the emitter writes beside the experiment
        for path in sorted(models.rglob("*.yaml")):
            files[path.relative_to(experiment.parent).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    try:
        resolved = resolve_experiment_text(files, experiment.name, profile)
    except MigrateError:
        return None
    if key in resolved.values:
        value = resolved.values[key]
    elif key in resolved.primus_only:
        value = resolved.primus_only[key]
    else:
        return PresetValue(None, f"absent: no {profile.name} preset defines it")
    origin = resolved.origins.get(key)
    return PresetValue(value, _short(origin) if origin is not None else "Megatron default (no preset sets it)")


def _short(origin: Origin) -> str:
    """A preset's origin relative to the bundled presets (`<presets>/primus-26.5/...`) when it is one."""
    from migrate.primus.presets import presets_root

    root = str(presets_root()) + "/"
    text = str(origin)
    return "<presets>/" + text[len(root):] if text.startswith(root) else text


def _views(resolved: ResolvedConfig, profile: Profile) -> list[Mapping[str, Any]]:
    """The run as the inertness rules read it: as resolved (before and after the trainer's rewrites, Primus-only
    keys included) and after Megatron's derivation."""
    from migrate.megatron import derive
    from migrate.primus.emit.emitter import run_views

    schema = profile.schema()
    try:
        derived = derive({**schema.defaults(), **resolved.values}, schema)
    except Exception:  # noqa: BLE001 - a namespace derive() rejects: judge on what was resolved
        derived = None
    views = run_views(derived or resolved.values, resolved)
    return views


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


GENERATED_MARK = "converted by primus-migrate from"  # in the header of every experiment the converter writes


def _why(e: Explanation, origin: Origin | None, generated: bool) -> str:
    if not e.emitted:
        where = f"not an override: {e.target} resolves it from {_short(origin) if origin else 'Megatron default'}"
        return where + ("; the legacy run has the same value, so the converter wrote nothing" if generated else "")
    preset = e.preset
    if e.in_model_file:
        before = "it is written in the generated model file, whose architecture differs from the preset it extends"
    elif preset is not None:
        before = f"the preset gives {_shown(preset.value)} ({preset.origin})"
    else:
        before = "the value without the override could not be resolved"
    if e.origin_kind == "script":
        head = f"the script sets it ({e.legacy_origin}) and {before}"
    elif e.origin_kind == "megatron default":
        head = f"the script leaves it at Megatron's default {_shown(e.value)}, while {before}"
    elif e.origin_kind == "converter":
        head = f"the converter chose it ({e.legacy_origin}); {before}"
    else:
        head = f"written by hand (no comment says where it comes from); {before}"
    effect = ("it changes the run" if e.affects_run else
              f"nothing in this run reads it ({e.inert_reason}; rule `{e.inert_rule}`), but it is kept so that "
              "the resolved arguments equal the legacy run's key for key (static parity)")
    return f"{head}; {effect}"
