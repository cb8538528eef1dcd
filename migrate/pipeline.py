"""Script -> Primus files, in memory: the conversion `convert`, `parity` and `batch` share.

`convert_script` is the list of steps; each step is a function below with a typed input and
output. It writes nothing: callers stage `Conversion.files` into an `OutputTree`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from migrate.diagnostics import Diagnostics, MigrateError
from migrate.primus.profiles import DEFAULT_TARGET, Profile

if TYPE_CHECKING:  # each step imports its modules where used (`inspect` and `batch` import this one cheaply)
    from migrate.conversion.static_parity import NullTokenizerAcceptance, StaticParity
    from migrate.conversion.tokenizer_policy import RunValues
    from migrate.entries import EntryDecision
    from migrate.megatron.args import MegatronArgs
    from migrate.megatron.schema import Schema
    from migrate.megatron.schema_choice import SchemaChoice
    from migrate.primus.emit.emitter import EmitResult
    from migrate.primus.emit.runenv import RunEnvironment
    from migrate.primus.emit.runtime import RuntimeRef
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
    assume_exists: tuple[str, ...] = ()  # --assume-exists: paths the script's file tests find (EvalOptions)
    inputs_root: str | None = None  # batch: files sourced from outside this folder are not read (EvalOptions)


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
    accepted: NullTokenizerAcceptance | None = None  # when --accept-null-tokenizer applied




@dataclass
class ScriptRun:
    """The input: a script and how it is run (`KEY=VALUE bash SCRIPT ARGS...`)."""
    script: Path
    env: dict[str, str]
    args: list[str]
    options: ConvertOptions


@dataclass
class LegacyRun:
    """The script's Megatron run as the Megatron-LM it was written for parses it."""
    plan: LaunchPlan
    launched: EntryDecision  # the entry script and the model it builds
    schema_choice: SchemaChoice
    schema: Schema  # the legacy option table with the entry's extra_args_provider options
    args: MegatronArgs
    entry_defaults: dict[str, Any]  # the args_defaults the entry passes to pretrain()
    diags: Diagnostics


@dataclass
class TargetRun:
    """The same run re-expressed at the target release's pinned Megatron."""
    profile: Profile
    schema: Schema
    translated: MegatronArgs
    expected: dict[str, Any]  # derive(translated): what Megatron would train with


@dataclass
class Emitted:
    """The Primus experiment (static parity checked) and what the script did besides its argv."""
    name: str
    result: EmitResult
    runtime: list[RuntimeRef]
    knob_of: dict[str, str]  # dest -> knob (--keep-knobs)
    placeholders: dict[str, str]  # dest -> `${KNOB:value}`
    files: dict[str, str]
    environment: RunEnvironment | None = None


def convert_script(script: str | Path, env: Mapping[str, str] | None = None, args: Sequence[str] = (),
                   options: ConvertOptions | None = None) -> Conversion:
    """Convert one legacy launch script (pure: writes nothing)."""
    run = ScriptRun(Path(script), dict(env or {}), list(args), options or ConvertOptions())
    plan = evaluate(run)
    legacy = parse_legacy_args(run, plan)
    check_legacy_run_starts(legacy)
    target = translate_to_target(legacy, run.options)
    values = tokenizer_policy(legacy, target, run.options)
    emitted = emit_experiment(run, legacy, target, values)  # checked with the release's loader: static parity
    emitted = add_launch_files(run, plan, target.profile, emitted)
    hint = parity_hint(emitted.result.parity, target.expected, values.hint)
    return build_report(run, legacy, target, values, emitted, hint)


def evaluate(run: ScriptRun) -> LaunchPlan:
    """The launch the script makes (evaluated, never executed); a torchtitan launch is routed elsewhere."""
    from migrate.shell import EvalOptions, evaluate_script
    from migrate.torchtitan import is_torchtitan_entry

    plan = evaluate_script(run.script, run.env, run.args, EvalOptions(gpus_per_node=run.options.gpus_per_node,
                                                                      assume_exists=run.options.assume_exists,
                                                                      inputs_root=run.options.inputs_root))
    if is_torchtitan_entry(plan.entry):  # another framework: the caller routes it (migrate.torchtitan.cli)
        from migrate.torchtitan.cli import TorchtitanLaunch

        raise TorchtitanLaunch(plan)
    return plan


def parse_legacy_args(run: ScriptRun, plan: LaunchPlan) -> LegacyRun:
    """The entry script, the legacy Megatron-LM's option table for it, and the argv parsed with it."""
    from migrate.entries import apply_entry
    from migrate.megatron import parse_argv
    from migrate.megatron.schema_choice import LEGACY_SCHEMA_CODE, choose_legacy_schema

    diags = Diagnostics()
    diags.extend(plan.diagnostics)
    from migrate.primus import get_profile

    profile = get_profile(run.options.target, run.options.primus_path)  # the release that would train it
    launched = apply_entry(plan, profile.name, run.options.entry_as, profile.rules.builds)  # or refused
    try:
        # the option table of the Megatron-LM the script was written for, with the entry script's own
        # extra_args_provider options (e.g. pretrain_deepseek.py's) added
        choice = choose_legacy_schema(run.options.legacy_schema, run.script, launched.program_as, plan.argv)
        schema = choice.schema.for_entry(launched.program_as)
        legacy = parse_argv(schema, plan.argv, diags)
    except MigrateError as exc:
        from migrate.conversion.hints import add_parse_hints  # only for argv that cannot be parsed

        add_parse_hints(exc, plan)
        raise
    if choice.guessed:
        diags.warn(LEGACY_SCHEMA_CODE, choice.why)
    elif choice.why:
        diags.note(LEGACY_SCHEMA_CODE, choice.why)
    # ... and the args_defaults the entry passes to pretrain() (pretrain_gpt.py: GPT2BPETokenizer) fill
    # validate_args' Nones
    entry_defaults = choice.schema.entry_args_defaults(launched.program_as)
    return LegacyRun(plan, launched, choice, schema, legacy, entry_defaults, diags)


def check_legacy_run_starts(legacy: LegacyRun) -> None:
    """Refuse argv that Megatron-LM itself would reject (migrate.megatron.required)."""
    from migrate.megatron.required import check_legacy_run_starts as check

    check(legacy.args, legacy.entry_defaults, legacy.plan, legacy.launched.origin, legacy.diags)


def translate_to_target(legacy: LegacyRun, options: ConvertOptions) -> TargetRun:
    """The run at the target release's pinned Megatron, and what Megatron would derive from it."""
    from migrate.megatron import derive, load_schema, translate
    from migrate.primus import get_profile

    profile = get_profile(options.target, options.primus_path)
    schema = load_schema(profile.megatron_schema)
    translated = translate(legacy.args, schema, legacy.diags)
    expected = derive(translated.args, schema, args_defaults=legacy.entry_defaults)
    return TargetRun(profile, schema, translated, expected)


def tokenizer_policy(legacy: LegacyRun, target: TargetRun, options: ConvertOptions) -> RunValues:
    """What the Primus files must say: the entry's args_defaults filled in, the NullTokenizer policy applied."""
    from migrate.conversion.tokenizer_policy import RunValues, apply_tokenizer_policy
    from migrate.megatron.derive import fill_args_defaults

    values = RunValues(dict(target.translated.args), dict(target.expected))
    for key in fill_args_defaults(values.values, legacy.entry_defaults):
        values.notes[key] = f"{legacy.schema_choice.schema.match_entry(legacy.launched.program_as)} args_defaults"
    explicit = target.translated.explicit
    return apply_tokenizer_policy(target.profile, values, options.accept_null_tokenizer,
                                  explicit.get("tokenizer_model") or explicit.get("tokenizer_type"))


def emit_experiment(run: ScriptRun, legacy: LegacyRun, target: TargetRun, values: RunValues) -> Emitted:
    """The experiment (and model) files, searched until they resolve, with the release's own loading
    rules, to the legacy run (static parity, migrate.conversion.static_parity)."""
    from migrate.conversion.flags import ShortOrigins, target_dests
    from migrate.conversion.naming import experiment_name
    from migrate.conversion.static_parity import check_static_parity
    from migrate.megatron import derive
    from migrate.primus import resolve_experiment
    from migrate.primus.emit.emitter import EmitRequest, emit, stage_and_resolve
    from migrate.primus.emit.report import experiment_header
    from migrate.primus.emit.runtime import flag_dests, runtime_refs

    plan, profile, schema, translated = legacy.plan, target.profile, target.schema, target.translated
    name = experiment_name(run.options.name, run.script, plan)
    knob_of: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    if run.options.keep_knobs:
        from migrate.conversion.knob_search import knob_placeholders

        for dest, (knob, text) in knob_placeholders(run.script, run.env, run.args, profile.rules.interpolation,
                                                    run.options.gpus_per_node, plan, translated.args,
                                                    schema, legacy.schema, run.options.assume_exists).items():
            knob_of[dest] = knob
            placeholders[dest] = text
    short = ShortOrigins(run.script)
    runtime = runtime_refs(plan.runtime, lambda o: str(short(o)),
                           lambda rv: target_dests(flag_dests(plan.argv, rv.argv_tokens, legacy.schema.by_option),
                                                   legacy.args, translated))
    in_argv = [r for r in runtime if "argv" in r.used_in]
    variant = ", ".join(f"{k.name}={k.value}" for k in plan.knobs if k.source in ("env", "arg"))
    header = experiment_header(name, run.script.name, variant, profile.name,
                               legacy.launched.describe() if legacy.launched.accepted_as else None,
                               values.accepted.legacy_tokenizer if values.accepted else None,
                               [(r.command, r.assumed) for r in in_argv])
    request = EmitRequest(name, values.values, values.expected,
                          {d: short(o) for d, o in translated.explicit.items()},
                          knob_of, placeholders, header, legacy.launched.family, values.notes, runtime=in_argv)

    def derive_target(resolved_values: Mapping[str, Any]) -> dict[str, Any]:
        return derive(resolved_values, schema)

    def check(_searched: Mapping[str, Any], resolved: ResolvedConfig) -> StaticParity:
        # the emitter searches against `values.expected`; parity is always checked against the legacy run
        return check_static_parity(target.expected, resolved, profile, accept=values.accepted)

    defaults = schema.defaults()
    result = emit(request, profile, stage_and_resolve(profile, resolve_experiment), derive_target, check,
                  set(defaults), defaults)
    return Emitted(name, result, runtime, knob_of, placeholders, dict(result.files))


def add_launch_files(run: ScriptRun, plan: LaunchPlan, profile: Profile, emitted: Emitted) -> Emitted:
    """run.sh (and env.sh): everything else the script did, its environment and launcher settings."""
    from migrate.primus.emit.runenv import plan_environment
    from migrate.primus.emit.runscript import env_sh, run_sh
    from migrate.primus.emit.runtime import record_uses, runtime_exports

    script, result = run.script, emitted.result
    environment = plan_environment(profile.rules.run, plan.env, plan.launcher.options(),
                                   {k.name: k.value for k in plan.knobs},
                                   [[t.value for t in w] for w in plan.launcher.wrappers])
    for placement in environment.placements:
        if placement.origin and placement.origin.startswith(str(script) + ":"):
            placement.origin = script.name + placement.origin[len(str(script)):]
    has_env_file = bool(environment.env_file or environment.secrets)
    if has_env_file:
        emitted.files["env.sh"] = env_sh(environment.env_file, script.name, environment.secrets)
    record_uses(emitted.runtime, result.overrides)
    emitted.files["run.sh"] = run_sh(profile.name, profile.release, profile.rules.run, script.name,
                                     result.experiment_path, result.model_path, environment.run_vars, has_env_file,
                                     runtime_exports(emitted.runtime))
    emitted.environment = environment
    return emitted


# Megatron-LM rocm_dev and 5a676b36..d3528a21 (pretrain_gpt.py, BlendedMegatronDatasetBuilder) build the mock
# dataset from the blend, split by --split, when --data-path is given; only with no path is it pure mock
# data (split 1,1,1). Older checkouts' pretrain_gpt.py (e.g. ROCm c0aee090) ignore the path under mock data.
MOCK_DATA_PATH_HINT = ("the release's trainer clears data paths under --mock-data, while the script gives both: "
                       "Megatron-LM's mock dataset then reads --data-path and --split, so the runs differ; "
                       "remove --data-path from the script if its run was pure mock data (or its Megatron-LM "
                       "ignores the path under --mock-data), or remove --mock-data to train on the data")


def parity_hint(parity: StaticParity, expected: Mapping[str, Any], policy_hint: str | None) -> str | None:
    """What to do when static parity failed for a known reason (None when it passed)."""
    from migrate.primus.emit.report import SAVE_INTERVAL_HINT
    from migrate.primus.handoff import DATA_PATH_KEYS

    if parity.ok:
        return None
    hint = policy_hint
    if expected.get("save") is not None and expected.get("save_interval") is None:
        hint = SAVE_INTERVAL_HINT
    if expected.get("mock_data") and any(dest in DATA_PATH_KEYS and got is None for dest, _, got in parity.differences):
        hint = MOCK_DATA_PATH_HINT
    parity.hint = hint
    return hint


def build_report(run: ScriptRun, legacy: LegacyRun, target: TargetRun, values: RunValues, emitted: Emitted,
                 hint: str | None) -> Conversion:
    """Where every flag, knob and variable went (report.json / report.md), and the Conversion."""
    from migrate.conversion.flags import ShortOrigins, flag_table
    from migrate.conversion.tokenizer_policy import is_hub_model_id
    from migrate.primus.emit.report import guidance_lines, migration_report, render_json, render_markdown
    from migrate.primus.emit.runtime import runtime_report

    plan, profile, translated, result = legacy.plan, target.profile, target.translated, emitted.result
    assert emitted.environment is not None
    table = flag_table(plan, legacy.schema, legacy.args, translated, set(target.schema.defaults()), result,
                       profile, legacy.diags, ShortOrigins(run.script))
    tok = translated.args.get("tokenizer_model")
    guidance = list(emitted.environment.guidance) + guidance_lines(
        profile.name, [o.key for o in result.overrides if o.key.startswith("profile")
                       or o.key == "use_pytorch_profiler"], bool(translated.args.get("profile")), tok,
        isinstance(tok, str) and is_hub_model_id(tok, plan), result.preset_values.get("tokenizer_model"),
        bool(result.parity.documented))
    knobs = [{**k.to_json(), "kept_as": next((emitted.placeholders[d] for d, kn in emitted.knob_of.items()
                                               if kn == k.name), None)} for k in plan.knobs]
    content = migration_report(
        script_name=run.script.name, profile=profile, legacy_schema=legacy.schema_choice.label,
        entry=legacy.launched.to_json(), result=result, flags=table.flags, unmapped=table.unmapped, knobs=knobs,
        launcher=plan.launcher.to_json(), environment=[p.to_json() for p in emitted.environment.placements],
        guidance=guidance, runtime_values=runtime_report(emitted.runtime), diagnostics=legacy.diags.to_json(),
        hint=hint)
    files = emitted.files
    if run.options.render_reports:
        files["report.json"] = render_json(content)
        files["report.md"] = render_markdown(content)
    return Conversion(plan, legacy.args, dict(target.expected), files, result.experiment_path, result.model_path,
                      content, result.parity, legacy.diags, [f"{u['flag']} ({u['origin']})" for u in table.unmapped],
                      translated, result.resolved, profile, hint, values.accepted)
