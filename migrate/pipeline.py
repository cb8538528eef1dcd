"""Script -> Primus files, in memory: the conversion `convert`, `parity` and `batch` share.

`convert_script` evaluates the script, parses its Megatron argv with the legacy
schema, re-expresses it at the target's pinned Megatron, emits the Primus
files, and checks them with the target's own loader (static parity). It writes
nothing: callers stage `Conversion.files` into an `OutputTree`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.primus.profiles import DEFAULT_TARGET, Profile

if TYPE_CHECKING:  # imported where used: parity.dynamic imports this module
    from migrate.megatron.args import MegatronArgs
    from migrate.parity.static import NullTokenizerAcceptance, StaticParity
    from migrate.primus.emit.emitter import EmitResult
    from migrate.primus.resolved import ResolvedConfig
    from migrate.shell.plan import LaunchPlan


@dataclass
class ConvertOptions:
    target: str = DEFAULT_TARGET
    name: str | None = None  # experiment name; default from script stem + variant
    keep_knobs: bool = False
    strict: bool = False
    gpus_per_node: int = 8
    legacy_schema: str | None = None  # None: chosen per script (migrate.megatron.schema_choice)
    primus_path: str | None = None
    # primus-26.5 trains --mock-data runs with the NullTokenizer: accept that one difference
    # (vocab_size is then set so that the padded vocabulary stays the legacy one).
    accept_null_tokenizer: bool = False
    # report.json / report.md in `files`; the batch, which writes its own report, turns them off.
    render_reports: bool = True
    # --entry-as KEY: convert an entry script unknown to migrate.entries as that family builds it
    entry_as: str | None = None


@dataclass
class Conversion:
    plan: LaunchPlan
    legacy: MegatronArgs  # parsed with the legacy schema
    expected: dict[str, Any]  # derive(translate(legacy)): what Megatron would train with
    files: dict[str, str]  # relpath -> content
    experiment_path: str
    model_path: str | None
    report: dict
    parity: StaticParity
    diagnostics: Diagnostics
    unmapped: list[str]
    translated: MegatronArgs | None = None  # at the target schema
    resolved: ResolvedConfig | None = None  # of the emitted files
    profile: Profile | None = None
    hint: str | None = None  # what to do when parity fails for a known reason
    accepted: Any = None  # NullTokenizerAcceptance when --accept-null-tokenizer applied


def missing_arguments_hint(plan: LaunchPlan) -> str | None:
    """When the script read positional arguments it was not given, say which (the usual cause
    of a flag with no value: `--lr ${LR}` with LR=$5 and no fifth argument)."""
    from migrate.shell.params import MISSING_ARGUMENT

    seen: dict[str, str] = {}
    for item in plan.diagnostics:
        if item.code == MISSING_ARGUMENT:
            name = item.message.split(" ", 1)[0]
            seen.setdefault(name, f"{name} (line {item.origin.line})" if item.origin and item.origin.line else name)
    if not seen:
        return None
    usage = usage_line(plan.script)
    return (f"the script reads arguments it was not given: {', '.join(seen.values())}"
            + (f" (its usage line: {usage})" if usage else "") + f"; {PASS_ARGUMENTS}")


PASS_ARGUMENTS = "pass them after `--` (primus-migrate SCRIPT -o OUT -- ARG1 ARG2 ...)"  # batch says it its way
_USAGE = re.compile(r"^\s*(?:echo|printf)\b.*\busage\b", re.IGNORECASE)


def usage_line(script: str | Path | None) -> str | None:
    """The first `echo "Usage: ..."` line of the script, as written (it names the arguments it wants)."""
    try:
        lines = Path(script).read_text(encoding="utf-8", errors="replace").splitlines() if script else []
    except OSError:
        return None
    found = next((line.strip() for line in lines[:2000] if _USAGE.match(line)), None)
    return found[:200] if found else None


def empty_value_hint(plan: Any, exc: MigrateError) -> str | None:
    """`option --tensorboard-dir expects a value`: name the variable that expanded to nothing.

    The flag's origin line is read again; the variable written right after the flag there
    (`--tensorboard-dir $TB_DIR`, `--save="${CKPT}"`) is the one that came out empty. A knob
    the script never gave a value is said to be unset, with how to set it."""
    match = re.match(r"option (--?[\w-]+) expects", exc.message)
    origin = exc.origin
    if match is None or origin is None or not origin.line:
        return None
    try:
        with open(origin.file, encoding="utf-8", errors="replace") as handle:
            text = handle.read().splitlines()[origin.line - 1]
    except (OSError, IndexError):
        return None
    used = re.search(re.escape(match.group(1)) + r"""(?:\s+|=)["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)""", text)
    if used is None:
        return None
    name = used.group(1)
    knob = plan.knob(name) if hasattr(plan, "knob") else None
    if knob is not None and knob.value is None:
        return (f"${name} is unset, so {match.group(1)} got no value; set it: primus-migrate SCRIPT {name}=... "
                f"(as `{name}=... bash SCRIPT` would)")
    return f"${name} expands to nothing here, so {match.group(1)} got no value"


_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_TOKENIZER_FILE = re.compile(r"\.(model|json|txt|vocab|tiktoken|spm|bpe|merges|pkl|bin)$", re.I)


def is_hub_model_id(value: str, plan: Any) -> bool:
    """`meta-llama/Llama-3.1-8B` is fetched from the Hugging Face Hub; `experiment/tokenizer_llama2`
    (a folder the script tests for and fills with wget) and `data/tokenizer.model` are local paths.
    A Hub id is `owner/name` (one slash), names no tokenizer file, and is no path the script tests."""
    if not _HUB_ID.fullmatch(value) or _TOKENIZER_FILE.search(value):
        return False
    tested = [d.message for d in getattr(plan, "diagnostics", []) if getattr(d, "code", "") == "shell-assumption"]
    return not any(f"`{value}`" in m or f"`{value}/" in m for m in tested)


def null_tokenizer_forced(profile: Profile, run: Mapping[str, Any]) -> bool:
    """primus-26.5's mock_data patch replaces the script's tokenizer by the NullTokenizer."""
    return (not profile.is_v01 and bool(run.get("mock_data"))
            and run.get("tokenizer_type") != "NullTokenizer")


def null_tokenizer_hint(profile: Profile, run: Mapping[str, Any]) -> str:
    return (f"{profile.name} trains --mock-data runs with the NullTokenizer (its mock_data patch replaces "
            f"tokenizer_type {run.get('tokenizer_type')}), so the resolved arguments differ from the script's. "
            "Pass --accept-null-tokenizer to accept that one difference (vocab_size is then set so the padded "
            "vocabulary stays the script's), or convert with --target primus-0.1, which keeps the script's tokenizer.")


def null_tokenizer_acceptance(profile: Profile, run: Mapping[str, Any],
                              origin: Origin | None = None) -> NullTokenizerAcceptance:
    """The accepted difference for --accept-null-tokenizer; refuses when the legacy vocabulary is unknown."""
    from migrate.parity.static import NullTokenizerAcceptance
    from migrate.tokenizer_files import unread_tokenizer_files
    from migrate.tokenizer_vocab import known_tokenizer_names, known_vocab_size

    known = known_vocab_size(run.get("tokenizer_type"), run.get("tokenizer_model"))
    if known is None:
        raise MigrateError(
            f"--accept-null-tokenizer: the vocabulary size of the script's tokenizer "
            f"'{run.get('tokenizer_model') or run.get('tokenizer_type')}' ({run.get('tokenizer_type')}) is unknown, "
            f"{unread_tokenizer_files(run.get('tokenizer_type'), run.get('tokenizer_model'))}"
            f"so no vocab_size can give {profile.name}'s NullTokenizer the same padded vocabulary; nothing written",
            origin=origin, category="unknown-tokenizer",
            hint=f"known tokenizers: {', '.join(known_tokenizer_names())} (or point --tokenizer-model at the "
                 "tokenizer's files, which are then read); or convert with "
                 "--target primus-0.1, which keeps the script's tokenizer")
    return NullTokenizerAcceptance(str(run.get("tokenizer_type")), known[0], known[1])


_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
_NAME_MAX = 200  # `<name>-pretrain.yaml` stays below the usual 255-byte file name limit


def default_name(script: str | Path, plan: LaunchPlan) -> str:
    """`train_llama3` plus the knobs set from outside: `train_llama3-MODEL_SIZE70-TP2`."""
    name = Path(script).stem
    for knob in plan.knobs:
        if knob.source in ("env", "arg") and knob.value is not None:
            name += f"-{knob.name}{knob.value}"
    name = _NAME_CHARS.sub("_", name).strip("._-") or "experiment"  # never a hidden file (`..sh`)
    if len(name) > _NAME_MAX:  # knob values can be long: keep file names well below the 255-byte limit
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[:_NAME_MAX - 11].rstrip('._-')}-{digest}"
    return name


def knob_placeholders(script, env, args, options, plan, translated_args, target_schema, legacy_schema):
    """dest -> (knob, text) for the knobs that map 1:1 to a key (see migrate.primus.emit.knobs).

    Found by evaluating the script again with each numeric knob at two other values.
    """
    from migrate.megatron import parse_argv, translate
    from migrate.primus.emit.knobs import apply_spans, classify, sentinels
    from migrate.shell import EvalOptions, evaluate_script

    out: dict[str, tuple[str, str]] = {}
    spans: dict[str, list] = {}
    words = [t.value for t in plan.argv]
    for knob in plan.knobs:
        value = knob.value
        if value is None or not re.fullmatch(r"-?\d+", value):
            continue
        if not any(value in word for word in words):
            continue  # a 1:1 knob's text is in the argv; this one only steers the script
        runs: list[tuple[str, dict[str, Any]]] = []
        for sentinel in sentinels(value):
            if runs and classify(knob.name, value, translated_args, runs, options.target) is None:
                break  # one re-evaluation already shows it is not 1:1
            env2, args2 = dict(env), list(args)
            if knob.source == "arg":
                args2.append(f"{knob.name}={sentinel}")
            else:
                env2[knob.name] = sentinel
            try:
                plan2 = evaluate_script(script, env2, args2, EvalOptions(gpus_per_node=options.gpus_per_node))
                diags = Diagnostics()
                runs.append((sentinel, translate(parse_argv(legacy_schema, plan2.argv, diags), target_schema,
                                                 diags).args))
            except MigrateError:
                break
        if len(runs) == 2:
            mapping = classify(knob.name, value, translated_args, runs, options.target)
            for dest, mapped in (mapping or {}).items():
                if isinstance(mapped, tuple):
                    spans.setdefault(dest, []).append((knob.name, mapped))
                elif dest not in out:
                    out[dest] = (knob.name, mapped)
    for dest, found in spans.items():
        text = apply_spans(translated_args[dest], [span for _, span in found])
        if text is not None and dest not in out:
            out[dest] = (", ".join(name for name, _ in found), text)
    return out


def _translate_note(diags: Diagnostics, origin: Origin | None) -> str | None:
    """What translate() said about the flag at `origin` (removed / unsupported value)."""
    if origin is None:
        return None
    for item in diags:
        if item.origin == origin and item.code in ("megatron-option-removed", "megatron-value-unsupported"):
            return item.message
    return None


def _short_origin(origin: Origin | None, script: Path, real: dict[str, Path] | None = None) -> Origin | None:
    """`train_llama3.sh:74` rather than the path the user typed, for lines of the script itself.

    `real` memoises resolved paths within one conversion (thousands of origins, a few files)."""
    if origin is None:
        return None
    real = {} if real is None else real
    try:
        same = _resolved(str(origin.file), real) == _resolved(str(script), real)
    except OSError:
        same = False
    return Origin(script.name, origin.line, origin.col) if same else origin


def _resolved(file: str, real: dict[str, Path]) -> Path:
    if file not in real:
        real[file] = Path(file).resolve()
    return real[file]


def _flag_of(schema: Any, dest: str) -> str:
    specs = schema.by_dest.get(dest) or []
    for spec in specs:
        longs = [o for o in spec.option_strings if o.startswith("--")]
        if longs:
            return longs[0]
    return f"--{dest.replace('_', '-')}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def convert_script(script: str | Path, env: Mapping[str, str] | None = None, args: Sequence[str] = (),
                   options: ConvertOptions | None = None) -> Conversion:
    """Convert one legacy launch script (pure: writes nothing)."""
    from migrate.entries import apply_entry
    from migrate.megatron import derive, load_schema, parse_argv, translate
    from migrate.megatron.derive import fill_args_defaults
    from migrate.megatron.required import check_legacy_run_starts, unset_variables_hint
    from migrate.megatron.schema_choice import LEGACY_SCHEMA_CODE, choose_legacy_schema
    from migrate.parity.static import check_static_parity
    from migrate.primus import get_profile, resolve_experiment
    from migrate.primus.emit.emitter import EmitRequest, emit, stage_and_resolve
    from migrate.primus.emit.report import render_json, render_markdown
    from migrate.primus.emit.runenv import plan_environment
    from migrate.primus.emit.runscript import alternative_command, env_sh, run_command, run_sh
    from migrate.primus.emit.runtime import flag_dests, record_uses, runtime_exports, runtime_refs, runtime_report
    from migrate.shell import EvalOptions, evaluate_script

    options = options or ConvertOptions()
    env = dict(env or {})
    script = Path(script)
    script_name = script.name
    diags = Diagnostics()

    plan = evaluate_script(script, env, list(args), EvalOptions(gpus_per_node=options.gpus_per_node))
    from migrate.torchtitan import is_torchtitan_entry

    if is_torchtitan_entry(plan.entry):  # another framework: the caller routes it (migrate.torchtitan.cli)
        from migrate.torchtitan.cli import TorchtitanLaunch

        raise TorchtitanLaunch(plan)
    diags.extend(plan.diagnostics)
    launched = apply_entry(plan, options.target, options.entry_as)  # the model it builds, or refused
    try:
        # the option table of the Megatron-LM the script was written for, with the entry script's own
        # extra_args_provider options (e.g. pretrain_deepseek.py's) added
        schema_choice = choose_legacy_schema(options.legacy_schema, script, launched.program_as, plan.argv)
        legacy_base = schema_choice.schema
        legacy_schema = legacy_base.for_entry(launched.program_as)
        legacy = parse_argv(legacy_schema, plan.argv, diags)
    except MigrateError as exc:
        specific = empty_value_hint(plan, exc)  # the variable right after the flag, when it is there
        general = missing_arguments_hint(plan) or unset_variables_hint(plan)
        for extra in (specific, general):
            if extra:
                exc.hint = f"{exc.hint}; {extra}" if exc.hint else extra
        raise
    if schema_choice.guessed:
        diags.warn(LEGACY_SCHEMA_CODE, schema_choice.why)
    elif schema_choice.why:
        diags.note(LEGACY_SCHEMA_CODE, schema_choice.why)
    # ... and the args_defaults the entry passes to pretrain() (pretrain_gpt.py: GPT2BPETokenizer) fill
    # validate_args' Nones
    entry_defaults = legacy_base.entry_args_defaults(launched.program_as)
    check_legacy_run_starts(legacy, entry_defaults, plan, launched.origin, diags)  # Megatron would start it
    profile = get_profile(options.target, options.primus_path)
    target_schema = load_schema(profile.megatron_schema)
    translated = translate(legacy, target_schema, diags)
    expected = derive(translated.args, target_schema, args_defaults=entry_defaults)
    dests = set(target_schema.defaults())
    defaults = target_schema.defaults()

    def derive_target(values: Mapping[str, Any]) -> dict[str, Any]:
        return derive(values, target_schema)

    accepted = None
    hint = None
    notes: dict[str, str] = {}
    # the legacy run's values with its entry's args_defaults in place: what the Primus files must say
    run_values, emit_expected = dict(translated.args), dict(expected)
    for key in fill_args_defaults(run_values, entry_defaults):
        notes[key] = f"{legacy_base.match_entry(launched.program_as)} args_defaults"
    if null_tokenizer_forced(profile, run_values):
        hint = null_tokenizer_hint(profile, run_values)
        if options.accept_null_tokenizer:
            from migrate.tokenizer_vocab import null_tokenizer_vocab_size

            accepted = null_tokenizer_acceptance(profile, run_values, translated.explicit.get(
                "tokenizer_model") or translated.explicit.get("tokenizer_type"))
            size = null_tokenizer_vocab_size(accepted.legacy_vocab)
            run_values["vocab_size"] = emit_expected["vocab_size"] = size
            notes["vocab_size"] = (f"NullTokenizer reports vocab_size+1 = {accepted.legacy_vocab} tokens, as "
                                   f"{run_values.get('tokenizer_model') or accepted.legacy_tokenizer} did "
                                   "(--accept-null-tokenizer)")

    def check(exp: Mapping[str, Any], resolved: Any) -> Any:
        # the emitter searches against `emit_expected`; parity is always checked against the legacy run
        return check_static_parity(expected, resolved, profile, accept=accepted)

    name = options.name or default_name(script, plan)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", name) or len(name) > _NAME_MAX:
        raise MigrateError(f"--name {name!r} is not a usable file name",
                           hint=f"use letters, digits, '_', '.', '-', not first a '.' or '-', at most {_NAME_MAX}")

    knob_of: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    if options.keep_knobs:
        for dest, (knob, text) in knob_placeholders(script, env, args, options, plan, translated.args,
                                                    target_schema, legacy_schema).items():
            knob_of[dest] = knob
            placeholders[dest] = text

    variant = ", ".join(f"{k.name}={k.value}" for k in plan.knobs if k.source in ("env", "arg"))
    header = (
        f"{name}: converted by primus-migrate from {script_name}"
        + (f" ({variant})" if variant else "") + f" for {profile.name}.\n"
        "Each override says where its value comes from: the script line that set it, or\n"
        "`Megatron default` when the script left it at Megatron's default and the Primus preset differs."
        + (f"\nAccepted: {launched.describe()}." if launched.accepted_as else "")
        + (f"\nAccepted difference (--accept-null-tokenizer): {profile.name} trains mock data with the\n"
           f"NullTokenizer instead of {accepted.legacy_tokenizer}; vocab_size keeps the padded vocabulary."
           if accepted else "")
    )
    real: dict[str, Path] = {}
    runtime = runtime_refs(getattr(plan, "runtime", None) or [], lambda o: str(_short_origin(o, script, real)),
                           lambda rv: _target_dests(flag_dests(plan.argv, rv.argv_tokens, legacy_schema.by_option),
                                                    legacy, translated))
    if any("argv" in r.used_in for r in runtime):
        header += ("\nRun-time values (see report.md): " + ", ".join(f"`{r.command}` (evaluated as {r.assumed})"
                                                                   for r in runtime if "argv" in r.used_in)
                   + ";\nkeys holding them say so; ${PRIMUS_RUN_...:value} ones vary at run time (run.sh).")
    request = EmitRequest(name, run_values, emit_expected,
                          {d: _short_origin(o, script, real) for d, o in translated.explicit.items()},
                          knob_of, placeholders, header, launched.family, notes,
                          runtime=[r for r in runtime if "argv" in r.used_in])
    resolver = stage_and_resolve(profile, resolve_experiment)
    result = emit(request, profile, resolver, derive_target, check, dests, defaults)

    # ---- everything else the script did -------------------------------------------------
    knob_values = {k.name: k.value for k in plan.knobs}
    environment = plan_environment(profile.name, plan.env, plan.launcher.options(), knob_values,
                                   [[t.value for t in w] for w in plan.launcher.wrappers])

    for placement in environment.placements:
        if placement.origin and placement.origin.startswith(str(script) + ":"):
            placement.origin = script.name + placement.origin[len(str(script)):]

    files = dict(result.files)
    has_env_file = bool(environment.env_file or environment.secrets)
    if has_env_file:
        files["env.sh"] = env_sh(environment.env_file, script_name, environment.secrets)
    record_uses(runtime, result.overrides)
    files["run.sh"] = run_sh(profile.name, profile.release, script_name, result.experiment_path,
                             result.model_path, environment.run_vars, has_env_file, runtime_exports(runtime))

    # ---- where every flag went ------------------------------------------------------------
    override_keys = {o.key: o for o in result.overrides}
    translated_by_origin: dict[Any, str] = {}
    for dest, origin in translated.explicit.items():
        if origin is not None:
            translated_by_origin.setdefault(origin, dest)
    flags: list[dict[str, Any]] = []
    unmapped: list[dict[str, str]] = []
    # translate() lists the flags the target cannot honour (`dropped`); without that list every
    # flag missing at the target counts as unmapped.
    dropped = dict(getattr(translated, "dropped", None) or {})
    dropped_unknown = getattr(translated, "dropped", None) is None
    from migrate.megatron.argv import written_flags

    as_written = written_flags(legacy_schema, plan.argv)
    for dest, origin in sorted(legacy.explicit.items(), key=lambda kv: (kv[1] or Origin(""), kv[0])):
        flag, words = as_written.get(dest, (_flag_of(legacy_schema, dest), None))
        target_dest = dest if dest in translated.explicit else translated_by_origin.get(origin)
        short = _short_origin(origin, script, real)
        entry = {"flag": flag, "dest": dest, "value": _jsonable(legacy.args.get(dest)),
                 "origin": str(short) if short else "command line"}
        if words is not None:  # what the script wrote after the flag ("" for a switch such as --disable-bias-linear)
            entry["written"] = " ".join(words)
        note = _translate_note(diags, origin)
        if dest in dropped or ((target_dest is None or target_dest not in dests) and dropped_unknown):
            why = (
                f"no Primus equivalent: {note or 'the option does not exist in Megatron-LM ' + profile.megatron_schema}"
                f" (Megatron-LM {profile.megatron_schema} is what {profile.name} runs)"
            )
            entry["destination"] = why
            unmapped.append({"flag": flag, "dest": dest, "origin": entry["origin"], "why": why})
        elif target_dest is None or target_dest not in dests:
            entry["destination"] = f"not needed at {profile.name}: {note or 'the legacy run did not depend on it'}"
        elif target_dest in result.unsettable:
            why = f"no Primus equivalent: {result.unsettable[target_dest]}"
            entry["destination"] = why
            unmapped.append({"flag": flag, "dest": dest, "origin": entry["origin"], "why": why})
        elif target_dest in override_keys:
            entry["destination"] = f"{result.experiment_path}: overrides.{target_dest}"
        elif target_dest in result.model_values:
            entry["destination"] = f"{result.model_path}: {target_dest}"
        else:
            entry["destination"] = f"preset already equal ({result.preset.name})"
        if target_dest and target_dest != dest:
            entry["renamed_to"] = target_dest
        flags.append(entry)

    guidance = list(environment.guidance)
    profiling = [o.key for o in result.overrides if o.key.startswith("profile") or o.key == "use_pytorch_profiler"]
    if translated.args.get("profile") or profiling:
        guidance.append("Profiling: the legacy --profile* flags are kept as overrides "
                        f"({', '.join(profiling) or 'already equal in the preset'}); Primus writes traces "
                        "under its workspace (exp output folder) instead of --tensorboard-dir when that is unset.")
    tok = translated.args.get("tokenizer_model")
    if tok and isinstance(tok, str) and is_hub_model_id(tok, plan):
        guidance.append(f"Tokenizer: {tok} is a Hugging Face model id; it is fetched from the Hub at start-up "
                        "(set HF_TOKEN for gated models; HF_HOME decides the cache).")
    elif tok and isinstance(tok, str):
        guidance.append(f"Tokenizer: the script points tokenizer_model at the local path {tok} (files it "
                        "prepares or downloads itself; those commands are not part of a Primus config). Make "
                        "the same files available at that path where Primus runs, or replace it with the "
                        "Hugging Face model id they came from; the preset's own tokenizer differs"
                        + (f" ({result.preset_values.get('tokenizer_model')})." if result.preset_values.get(
                            "tokenizer_model") else "."))
    if result.parity.documented:
        guidance.append("EXP_ROOT is the Primus experiment folder, <workspace>/<work_group>/<user_name>/<exp_name>; "
                        f"{profile.name}'s trainer puts the outputs listed under Documented differences there.")

    report: dict[str, Any] = {
        "script": str(script_name),
        "target": profile.name,
        "primus_release": profile.release,
        "megatron_schema": profile.megatron_schema,
        "legacy_schema": schema_choice.label,
        "entry": launched.to_json(),
        "experiment": result.experiment_path,
        "model_file": result.model_path,
        "model_ref": result.model_ref,
        "preset": result.preset.name,
        "preset_match": {"exact": result.preset.exact, "structure_diff": result.preset.structure_diff,
                         "tokenizer_diff": result.preset.tokenizer_diff, "model_line": result.preset.run_lineage},
        "candidates": [{"preset": m.name, "structure_diff": len(m.structure_diff), "other_line": m.off_lineage}
                       for m in result.ranking[:5]],
        "run_command": run_command(profile.name, result.experiment_path),
        "run_command_alternative": alternative_command(profile.name, result.experiment_path),
        "overrides": [{"key": o.key, "value": _jsonable(o.value), "origin": o.origin, "knob": o.knob,
                       "written_as": o.raw, "preset_value": _jsonable(baseline_value(result, o.key))}
                      for o in result.overrides],
        "model_keys": {k: _jsonable(v) for k, v in result.model_values.items()},
        "flags": flags,
        "unmapped": unmapped,
        "knobs": [{**k.to_json(), "kept_as": next((placeholders[d] for d, kn in knob_of.items() if kn == k.name), None)}
                  for k in plan.knobs],
        "launcher": plan.launcher.to_json(),
        "environment": [p.to_json() for p in environment.placements],
        "guidance": guidance,
        "parity": result.parity.to_json(),
        "accepted_differences": list(result.parity.exceptions) if result.parity.ok else [],
        "documented_differences": list(result.parity.documented),
        "runtime_values": runtime_report(runtime),
        "diagnostics": diags.to_json(),
    }
    if not result.parity.ok and expected.get("save") is not None and expected.get("save_interval") is None:
        hint = ("the legacy run fails the same check: Megatron's validate_args asserts save_interval is not None "
                "whenever save is set; give the script --save-interval N")
    if not result.parity.ok and hint:
        result.parity.hint = hint
        report["parity"]["hint"] = hint
    if options.render_reports:
        files["report.json"] = render_json(report)
        files["report.md"] = render_markdown(report)
    return Conversion(plan, legacy, dict(expected), files, result.experiment_path, result.model_path, report,
                      result.parity, diags, [f"{u['flag']} ({u['origin']})" for u in unmapped], translated,
                      result.resolved, profile, None if result.parity.ok else hint, accepted)


def _target_dests(legacy_dests: set[str], legacy: Any, translated: Any) -> set[str]:
    """The target's dests the legacy dests became (same name, or the one translate() wrote from the flag)."""
    by_origin = {o: d for d, o in translated.explicit.items() if o is not None}
    out = set()
    for dest in legacy_dests:
        if dest in translated.explicit:
            out.add(dest)
        elif legacy.explicit.get(dest) in by_origin:
            out.add(by_origin[legacy.explicit[dest]])
    return out


def baseline_value(result: EmitResult, key: str) -> Any:
    """What the preset chain alone gives `key` (for the report), if known."""
    return result.preset_values.get(key)
