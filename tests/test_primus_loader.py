"""Experiment -> namespace: module/model merge, overrides, argparse fallback, Primus-only keys."""

import pytest

from helpers_primus import experiment, tiny_profile, write_tree
from migrate.diagnostics import MigrateError
from migrate.primus import resolve_experiment, resolve_experiment_text

MODULE = {"modules/megatron/pre_trainer.yaml": "lr: 2.0e-05\nlr_warmup_iters: 40\nweight_decay: 0.0\ntrainable: true\n"}


def _run(tmp_path, target, presets, exp_text, env=None, extra=None):
    profile = tiny_profile(tmp_path, target, presets)
    write_tree(tmp_path / "exp", {"exp.yaml": exp_text, **(extra or {})})
    return resolve_experiment(tmp_path / "exp" / "exp.yaml", profile, env or {})


# ---- module + model merge ---------------------------------------------------------------
def test_v01_shared_key_between_module_and_model_is_error(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\nlr: 1.0e-03\n"}
    with pytest.raises(MigrateError) as err:
        _run(tmp_path, "primus-0.1", presets, experiment())
    assert "'lr'" in err.value.message and "pre_trainer.yaml" in err.value.message
    assert err.value.origin.file.endswith("m.yaml") and err.value.origin.line == 2


def test_v26_module_preset_wins_over_model_preset(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\nlr: 1.0e-03\n"}
    got = _run(tmp_path, "primus-26.5", presets, experiment())
    assert got.values["lr"] == 2.0e-05
    assert got.origins["lr"].file.endswith("pre_trainer.yaml")
    assert got.values["num_layers"] == 2


# ---- overrides ----------------------------------------------------------------------------
def test_v01_unknown_override_key_is_error_at_its_line(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    with pytest.raises(MigrateError) as err:
        _run(tmp_path, "primus-0.1", presets, experiment(overrides="lr: 1.0e-04\nmicro_batch_size: 4\n"))
    assert "micro_batch_size" in err.value.message
    # exp.yaml line 11 is `lr: ...`, line 12 the unknown key
    assert err.value.origin.file.endswith("exp.yaml") and err.value.origin.line == 12


def test_v01_override_of_existing_key_wins(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    got = _run(tmp_path, "primus-0.1", presets, experiment(overrides="lr: 1.0e-04\nnum_layers: 4\n"))
    assert got.values["lr"] == 1.0e-04 and got.values["num_layers"] == 4
    assert got.origins["num_layers"].file.endswith("exp.yaml") and got.origins["num_layers"].line == 12


def test_v26_override_may_add_keys_absent_from_presets(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    got = _run(tmp_path, "primus-26.5", presets, experiment(overrides="micro_batch_size: 4\n"))
    assert got.values["micro_batch_size"] == 4


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_override_string_null_becomes_none(tmp_path, target):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    got = _run(tmp_path, target, presets, experiment(overrides="lr: 'null'\n"))
    assert got.values["lr"] is None


def test_v26_preset_string_null_becomes_none_through_merge(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\nsplit: 'null'\n"}
    assert _run(tmp_path, "primus-26.5", presets, experiment()).values["split"] is None
    presets01 = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\nsplit: 'null'\n"}
    assert _run(tmp_path / "v01", "primus-0.1", presets01, experiment()).values["split"] == "null"


# ---- what reaches Megatron --------------------------------------------------------------
def test_v26_fills_unmentioned_dests_with_argparse_defaults(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    got = _run(tmp_path, "primus-26.5", presets, experiment())
    # --eval-iters default=100 and --rotary-base default=10000 (mini schema = Megatron facts)
    assert got.values["eval_iters"] == 100 and got.values["rotary_base"] == 10000
    assert "eval_iters" not in got.origins
    assert got.missing == []


def test_v01_has_no_argparse_fallback(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    got = _run(tmp_path, "primus-0.1", presets, experiment())
    assert "eval_iters" not in got.values
    assert "eval_iters" in got.missing and "lr" not in got.missing


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_primus_only_keys_kept_aside(tmp_path, target):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    got = _run(tmp_path, target, presets, experiment())
    assert got.primus_only["trainable"] is True
    assert got.primus_only["framework"] == "megatron" and got.primus_only["name"] == "pre_trainer"
    assert "trainable" not in got.values


def test_v26_model_key_records_the_model_reference(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    assert _run(tmp_path, "primus-26.5", presets, experiment(model="m")).primus_only["model"] == "m"


def test_norm_epsilon_inert_at_26_5_layernorm_epsilon_real(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\nnorm_epsilon: 1.0e-06\n"}
    got = _run(tmp_path, "primus-26.5", presets, experiment())
    assert got.primus_only["norm_epsilon"] == 1.0e-06
    assert got.values["layernorm_epsilon"] == 1e-05  # the preset's 1e-6 never reaches Megatron
    got = _run(tmp_path / "b", "primus-26.5", presets, experiment(overrides="layernorm_epsilon: 1.0e-06\n"))
    assert got.values["layernorm_epsilon"] == 1.0e-06


def test_norm_epsilon_is_the_real_key_at_0_1(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\nnorm_epsilon: 1.0e-06\n"}
    assert _run(tmp_path, "primus-0.1", presets, experiment()).values["norm_epsilon"] == 1.0e-06


def test_string_1e_minus_5_reaches_megatron_as_string_only_at_26_5(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    exp = experiment(overrides="lr: 1e-5\n")
    assert _run(tmp_path, "primus-0.1", presets, exp).values["lr"] == 1e-05
    assert _run(tmp_path / "b", "primus-26.5", presets, exp).values["lr"] == "1e-5"


# ---- experiment structure -----------------------------------------------------------
@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_meta_keys_required(tmp_path, target):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    with pytest.raises(MigrateError, match="'workspace'"):
        _run(tmp_path, target, presets, experiment().replace("workspace: ./output\n", ""))


def test_non_trainer_module_rejected(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    text = experiment() + "  evaluator:\n    framework: megatron\n"
    with pytest.raises(MigrateError, match="unsupported module 'evaluator'") as err:
        _run(tmp_path, "primus-26.5", presets, text)
    assert err.value.origin.line == 11  # lines 1-9 from experiment(), 10 blank


def test_missing_model_preset_names_experiment_line(tmp_path):
    with pytest.raises(MigrateError) as err:
        _run(tmp_path, "primus-26.5", MODULE, experiment(model="nope.yaml"))
    assert "nope.yaml" in err.value.message and err.value.origin.line == 9


def test_v01_model_name_needs_its_suffix(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    with pytest.raises(MigrateError, match="'m' not found"):
        _run(tmp_path, "primus-0.1", presets, experiment(model="m"))


@pytest.mark.parametrize("target,key", [("primus-0.1", "bases"), ("primus-26.5", "extends")])
def test_model_file_beside_experiment_inherits_from_presets(tmp_path, target, key):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\nhidden_size: 8\n"}
    mine = f"{key}:\n  - m.yaml\nnum_layers: 4\n"
    got = _run(tmp_path, target, presets, experiment(model="my_model.yaml"), extra={"my_model.yaml": mine})
    assert got.values["num_layers"] == 4 and got.values["hidden_size"] == 8
    assert got.origins["num_layers"].file.endswith("my_model.yaml")


def test_unset_variable_in_experiment(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    with pytest.raises(MigrateError, match="NEEDED"):
        _run(tmp_path, "primus-26.5", presets, experiment(overrides="train_iters: ${NEEDED}\n"))


def test_env_reaches_overrides(tmp_path):
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    got = _run(tmp_path, "primus-26.5", presets, experiment(overrides="train_iters: ${IT:5}\n"), env={"IT": "7"})
    assert got.values["train_iters"] == 7


def test_resolve_experiment_text_in_memory(tmp_path):
    profile = tiny_profile(tmp_path, "primus-26.5", {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"})
    files = {"exp/exp.yaml": experiment(model="mine.yaml", overrides="lr: 1.0e-04\n").lstrip("\n"),
             "exp/mine.yaml": "extends: [m.yaml]\nhidden_size: 16\n"}
    got = resolve_experiment_text(files, "exp/exp.yaml", profile)
    assert got.values["hidden_size"] == 16 and got.values["lr"] == 1.0e-04
    assert str(got.origins["hidden_size"]) == "exp/mine.yaml:2"
    bad = dict(files, **{"exp/mine.yaml": "extends: [gone.yaml]\n"})
    with pytest.raises(MigrateError) as err:
        resolve_experiment_text(bad, "exp/exp.yaml", profile)
    assert str(err.value.origin) == "exp/mine.yaml:1"


def test_module_level_keys_become_params_at_26_5_only(tmp_path):
    # parser.py@v26.5.1 copies module-level keys (other than framework/config/model/overrides) onto
    # the module config when its preset lacks them; v0.1 ignores them.
    presets = {**MODULE, "models/megatron/m.yaml": "num_layers: 2\n"}
    text = experiment().rstrip("\n") + "\n    micro_batch_size: 3\n    lr: 9.0e-01\n"
    got = _run(tmp_path, "primus-26.5", presets, text)
    assert got.values["micro_batch_size"] == 3
    assert got.values["lr"] == 2.0e-05  # the module preset already has lr: it wins
    got01 = _run(tmp_path / "v01", "primus-0.1", presets, text)
    assert "micro_batch_size" not in got01.values
