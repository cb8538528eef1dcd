"""Round trips on the fixture scripts: the written Primus files resolve back to the legacy run.

Checked independently of the converter's own parity check: the test resolves
the written files with the Primus loader and compares with
derive(translate(parse_argv(rocm_dev, argv))) computed from the pieces.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from helpers_convert import (SCRIPTS, TARGETS, compare, fixture_scripts, knob_variants, legacy_expected,
                             resolve_written, script_args)


LLAMA3 = SCRIPTS / "rocm" / "train_llama3.sh"
LLAMA2 = SCRIPTS / "rocm" / "train_llama2.sh"


def _convert(script, env, target, tmp_path, **options):
    from migrate.output import OutputTree
    from migrate.pipeline import ConvertOptions, convert_script

    conversion = convert_script(script, env, script_args(script), ConvertOptions(target=target, **options))
    out = tmp_path / "out"
    tree = OutputTree(out)
    for rel, text in conversion.files.items():
        tree.add(rel, text)
    tree.commit()
    return conversion, out


def _roundtrip(script: Path, env: dict, target: str, tmp_path):
    conversion, out = _convert(script, env, target, tmp_path)
    assert conversion.parity.ok, conversion.parity.format()
    derived = resolve_written(out, conversion.experiment_path, conversion.model_path, target)
    assert compare(legacy_expected(script, env, target), derived, target) == []
    return conversion, out


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("env", [{"MODEL_SIZE": "8"}, {"MODEL_SIZE": "70", "TP": "4", "TE_FP8": "1"}],
                         ids=["8B", "70B-tp4-fp8"])
def test_llama3_roundtrip(env, target, tmp_path):
    _roundtrip(LLAMA3, env, target, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("script", fixture_scripts(), ids=lambda p: p.name)
def test_every_fixture_and_knob_variant_roundtrips(script, target, tmp_path):
    """Parity holds, confirmed independently; where the converter refuses, the independent check
    sees the same difference and it comes from a value the release rewrites after loading."""
    from migrate.pipeline import ConvertOptions, convert_script

    from migrate.diagnostics import MigrateError

    for i, env in enumerate(knob_variants(script)):
        try:
            legacy_expected(script, env, target)
        except MigrateError:
            # the legacy side itself is bad input (an option the legacy Megatron does not know):
            # the converter must refuse it the same way
            with pytest.raises(MigrateError):
                convert_script(script, env, script_args(script), ConvertOptions(target=target))
            continue
        conversion = convert_script(script, env, script_args(script), ConvertOptions(target=target))
        if conversion.parity.ok:
            _roundtrip(script, env, target, tmp_path / str(i))
            continue
        for dest, _, _ in conversion.parity.differences:
            assert conversion.parity.origins.get(dest, "").startswith("<"), (env, conversion.parity.format())


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("script,env,presets", [
    (LLAMA3, {"MODEL_SIZE": "8"}, {"llama3_8B", "llama3.1_8B"}),
    (LLAMA3, {"MODEL_SIZE": "70"}, {"llama3_70B", "llama3.1_70B"}),
    (LLAMA2, {"MODEL_SIZE": "7", "MOCK_DATA": "0"}, {"llama2_7B"}),
], ids=["llama3-8B", "llama3-70B", "llama2-7B"])
def test_known_sizes_reuse_the_preset_with_no_architecture_override(script, env, presets, target, tmp_path):
    from migrate.primus.emit.architecture import STRUCTURE_KEYS
    from migrate.primus.emit.overrides import MEGATRON_DEFAULT

    if not script.exists():
        pytest.skip(f"{script.name} fixture not present")
    conversion, out = _convert(script, env, target, tmp_path)
    assert conversion.parity.ok, conversion.parity.format()
    assert conversion.model_path is None
    module = yaml.safe_load((out / conversion.experiment_path).read_text())["modules"]["pre_trainer"]
    assert Path(module["model"]).stem in presets
    # no key of the architecture the script set differs from the preset
    scripted = [o for o in conversion.report["overrides"]
                if o["key"] in STRUCTURE_KEYS and o["origin"] != MEGATRON_DEFAULT]
    assert scripted == []


@pytest.mark.parametrize("target", TARGETS)
def test_deleting_any_override_breaks_parity_naming_that_key(target, tmp_path):
    from migrate.conversion.static_parity import check_static_parity
    from migrate.primus import get_profile, resolve_experiment

    conversion, out = _convert(LLAMA3, {"MODEL_SIZE": "8"}, target, tmp_path)
    profile = get_profile(target)
    path = out / conversion.experiment_path
    original = path.read_text()
    keys = list(yaml.safe_load(original)["modules"]["pre_trainer"]["overrides"])
    assert len(keys) > 5
    for key in keys:
        lines = [line for line in original.splitlines() if not line.strip().startswith(f"{key}:")]
        assert len(lines) == len(original.splitlines()) - 1
        path.write_text("\n".join(lines) + "\n")
        parity = check_static_parity(conversion.expected, resolve_experiment(path, profile, {}), profile)
        assert not parity.ok, f"deleting {key} kept parity"
        # a Primus-only switch (disable_last_saving, ...) is no Megatron dest: its deletion shows on the
        # output it steers (save: primus-0.1 then writes a final checkpoint the legacy run did not)
        named = {d for d, _, _ in parity.differences}
        assert key in named or SWITCHED.get(key) in named, (key, parity.differences[:5])
    path.write_text(original)


SWITCHED = {"disable_last_saving": "save", "disable_tensorboard": "tensorboard_dir", "disable_wandb": "wandb_project"}


@pytest.mark.parametrize("target", TARGETS)
def test_written_floats_are_floats_for_pyyaml_safeloader(target, tmp_path):
    conversion, out = _convert(LLAMA3, {"MODEL_SIZE": "8"}, target, tmp_path)
    text = (out / conversion.experiment_path).read_text()
    overrides = yaml.load(text, Loader=yaml.SafeLoader)["modules"]["pre_trainer"]["overrides"]
    assert overrides["min_lr"] == 1e-5 and isinstance(overrides["min_lr"], float)
    assert "min_lr: 1.0e-05" in text
    for key, value in overrides.items():
        expected = conversion.expected.get(key)
        if isinstance(expected, float):
            assert isinstance(value, float), (key, value)


@pytest.mark.parametrize("target", TARGETS)
def test_script_silent_preset_difference_is_annotated_megatron_default(target, tmp_path):
    # the fixture never sets --exit-on-missing-checkpoint / --finetune; Primus presets turn them on
    conversion, out = _convert(LLAMA3, {"MODEL_SIZE": "8"}, target, tmp_path)
    text = (out / conversion.experiment_path).read_text()
    overrides = {o["key"]: o for o in conversion.report["overrides"]}
    for key in ("exit_on_missing_checkpoint", "finetune"):
        assert overrides[key]["value"] is False and overrides[key]["origin"] == "Megatron default"
        assert any(line.strip().startswith(f"{key}: false") and "# Megatron default" in line
                   for line in text.splitlines())
    # set by the script and different from the preset: annotated with the script line
    assert overrides["lr_warmup_iters"]["origin"].startswith("train_llama3.sh:")
    # equal in both (the script sets --bf16, the presets too): not written
    assert "bf16" not in overrides


@pytest.mark.parametrize("target", TARGETS)
def test_keep_knobs_writes_parameters_that_resolve_like_the_knob(target, tmp_path):
    from migrate.megatron import derive, load_schema
    from migrate.primus import get_profile, resolve_experiment

    conversion, out = _convert(LLAMA3, {"MODEL_SIZE": "8"}, target, tmp_path, keep_knobs=True)
    assert conversion.parity.ok, conversion.parity.format()
    text = (out / conversion.experiment_path).read_text()
    assert "tensor_model_parallel_size: ${TP:8}" in text
    assert "micro_batch_size: ${MBS:2}" in text
    assert "MODEL_SIZE" not in text.split("overrides:")[1]  # an if-branch knob is not 1:1
    # with the knob set at run time, Primus gives what the script gives with it
    profile = get_profile(target)
    schema = load_schema(profile.megatron_schema)
    resolved = resolve_experiment(out / conversion.experiment_path, profile, {"TP": "4", "MBS": "1"},
                                  trainer_rewrites=True)
    derived = derive({**schema.defaults(), **resolved.values}, schema)
    expected = legacy_expected(LLAMA3, {"MODEL_SIZE": "8", "TP": "4", "MBS": "1"}, target)
    assert derived["tensor_model_parallel_size"] == expected["tensor_model_parallel_size"] == 4
    assert derived["micro_batch_size"] == expected["micro_batch_size"] == 1
    assert compare(expected, derived, target) == []


def test_mock_data_with_a_real_tokenizer_cannot_be_expressed_at_26_5(tmp_path):
    # primus-26.5 forces the NullTokenizer (and its vocabulary) whenever mock_data is on
    # (patches/args/mock_data_patches.py@v26.5.1): a different embedding, so no parity.
    from migrate.pipeline import ConvertOptions, convert_script

    conversion = convert_script(LLAMA2, {"MODEL_SIZE": "7", "MOCK_DATA": "1"}, [],
                                ConvertOptions(target="primus-26.5"))
    assert not conversion.parity.ok
    assert "tokenizer_type" in [d for d, _, _ in conversion.parity.differences]
    assert "mock_data" in conversion.parity.format()
    # the older release keeps the script's tokenizer
    assert convert_script(LLAMA2, {"MODEL_SIZE": "7", "MOCK_DATA": "1"}, [],
                          ConvertOptions(target="primus-0.1")).parity.ok
