"""Shared by the end-to-end conversion tests: the fixture matrix and an independent oracle.

The oracle recomputes what the legacy run trains with straight from the
pieces (shell evaluation, legacy argparse table, version translation,
derivation) and what Primus resolves the written files to with the Primus
loader itself, without going through the emitter's own parity check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "fixtures" / "scripts"
TARGETS = ("primus-0.1", "primus-26.5")


# Fixtures whose entry script builds a model no Primus release trains: every conversion of them is
# refused (ROCm's pretrain_deepseek.py, see migrate/entries/deepseek_v2.py; tests/test_entries.py).
REFUSED_ENTRY_FIXTURES = frozenset({"rocm/train_deepseekv2.sh"})


def fixture_scripts() -> list[Path]:
    """Every convertible fixture launch script (not the deliberately broken ones under bad/, not
    sourced helpers, not the refused entries)."""
    if not SCRIPTS.is_dir():
        return []
    out = []
    for path in sorted(SCRIPTS.rglob("*.sh")):
        if "bad" in path.relative_to(SCRIPTS).parts or path.relative_to(SCRIPTS).as_posix() in REFUSED_ENTRY_FIXTURES:
            continue
        if "pretrain_" not in path.read_text(errors="replace"):
            continue  # a file other scripts source, with no launch of its own
        out.append(path)
    return out


# Fixtures that take positional arguments (the NVIDIA examples layout).
FIXTURE_ARGS: dict[str, list[str]] = {
    "train_gpt3_distributed.sh": ["ckpt", "tb_logs", "gpt2-vocab.json", "gpt2-merges.txt", "data/my-gpt3_00_text_document"],
}


def script_args(script: Path) -> list[str]:
    return list(FIXTURE_ARGS.get(script.name, []))


def knob_variants(script: Path) -> list[dict[str, str]]:
    """The default run plus each literal a knob is compared against, one knob at a time."""
    from migrate.shell import evaluate_script

    variants: list[dict[str, str]] = [{}]
    try:
        plan = evaluate_script(script, {}, script_args(script))
    except Exception:  # noqa: BLE001 - a fixture that needs settings gets only its explicit variants
        return variants
    for knob in plan.knobs:
        for literal in knob.compared_with:
            if literal != knob.value and {knob.name: literal} not in variants:
                variants.append({knob.name: literal})
    return variants


# What the fixtures' entry scripts pass to pretrain() as args_defaults, written down from the
# upstream sources (pretrain_gpt.py in ROCm rocm_dev and NVIDIA Megatron-LM; ROCm's
# examples/deepseek_v2/pretrain_deepseek.py passes none). validate_args sets each key whose
# parsed value is None; none of the derivations before that step touch these keys.
ENTRY_ARGS_DEFAULTS: dict[str, dict[str, Any]] = {"pretrain_gpt.py": {"tokenizer_type": "GPT2BPETokenizer"}}


def legacy_expected(script: Path, env: dict[str, str], target: str) -> dict[str, Any]:
    """derive(translate(parse_argv(rocm_dev, plan.argv))) computed without the pipeline,
    with the entry script's args_defaults filled in."""
    from migrate.diagnostics import Diagnostics
    from migrate.megatron import derive, load_schema, parse_argv, translate
    from migrate.primus import get_profile
    from migrate.shell import evaluate_script

    plan = evaluate_script(script, env, script_args(script))
    diags = Diagnostics()
    # plus the options the entry script's extra_args_provider adds (Schema.for_entry)
    legacy = parse_argv(load_schema("rocm_dev").for_entry(plan.entry), plan.argv, diags)
    # a run Megatron-LM would not start is bad input, refused like an unknown option (MigrateError);
    # tests/test_megatron_required_upstream.py checks that verdict against Megatron's own code
    from migrate.megatron.required import check_legacy_run_starts

    check_legacy_run_starts(legacy, ENTRY_ARGS_DEFAULTS.get(Path(plan.entry).name, {}), plan, None)
    schema = load_schema(get_profile(target).megatron_schema)
    args = dict(translate(legacy, schema, diags).args)
    for key, value in ENTRY_ARGS_DEFAULTS.get(Path(plan.entry).name, {}).items():
        if args.get(key) is None:
            args[key] = value
    return derive(args, schema)


def resolve_written(outdir: Path, experiment: str, model_path: str | None, target: str) -> dict[str, Any]:
    """Resolve the files as written with the Primus loader, then derive. A generated model
    file is found where convert writes it, OUTDIR/models/megatron/ (migrate.primus.loader)."""
    from migrate.megatron import derive, load_schema
    from migrate.primus import get_profile, resolve_experiment

    profile = get_profile(target)
    assert model_path is None or (outdir / model_path).is_file()
    resolved = resolve_experiment(outdir / experiment, profile, {}, trainer_rewrites=True)
    schema = load_schema(profile.megatron_schema)
    values = {**schema.defaults(), **resolved.values}
    return derive(values, schema)


def compare(expected: dict[str, Any], derived: dict[str, Any], target: str) -> list[str]:
    """Dests that differ, outside the documented Primus-only list and runtime-evaluated defaults."""
    from migrate.conversion.static_parity import INT_LISTS
    from migrate.primus import get_profile
    from migrate.megatron.schema import is_runtime_value
    from migrate.values import same_value

    def same(dest: str) -> bool:
        got, want = derived.get(dest), expected[dest]
        if dest in INT_LISTS and isinstance(got, list) and isinstance(want, list):
            return [int(x) for x in got] == [int(x) for x in want]
        output = _same_output(dest, want, got, expected, derived)
        return same_value(got, want) if output is None else output

    ignored = get_profile(target).rules.ignored_dests
    return sorted(d for d in expected if d not in ignored and not is_runtime_value(expected[d]) and not same(d))


def _same_output(dest: str, want: Any, got: Any, expected: dict[str, Any], derived: dict[str, Any]) -> bool | None:
    """Output locations, by our reading of the trainers (trainer.py@v0.1.0-rc1 update_primus_config,
    patches/args/*_path_patches.py@v26.5.1): the release puts checkpoints and TensorBoard logs in its
    experiment folder (EXP_ROOT/...), so a set legacy path and an EXP_ROOT path are the same output.
    Every Megatron use of save_interval is behind `args.save` (validate_args, checkpoint_and_decide_exit,
    the final save), so it does not matter when the legacy run sets no save; Megatron makes a W&B
    writer only for a non-empty wandb_project. Whether the forced `save` writes anything is checked
    by tests/test_primus_trainer_rules.py. None: compare values."""
    if dest in ("save_interval", "non_persistent_save_interval") and expected.get("save") is None:
        return True
    if dest.startswith("wandb_") and not expected.get("wandb_project") and not derived.get("wandb_project"):
        return True
    if dest in ("save", "tensorboard_dir", "wandb_save_dir") and isinstance(got, str) and got.startswith("EXP_ROOT"):
        return want is not None or dest == "save"
    return None
