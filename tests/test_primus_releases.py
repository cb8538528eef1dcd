"""The release registry (migrate.primus.releases): which tag follows which rules, family by family.

Expected values are our reading of Primus's own code at each tag, cited beside each test
(paths relative to the Primus repository). `test_markers_at_every_tag_name_their_release` checks
the family assignment against the tags themselves when PRIMUS_GIT names a Primus git dir.
"""

from __future__ import annotations

import pytest

from helpers_primus import experiment, schema_5a676b36, schema_d3528a21, write_tree
from migrate.diagnostics import MigrateError
from migrate.primus import resolve_experiment
from migrate.primus.profiles import Profile
from migrate.primus.releases import FAMILIES, RELEASES, release, tag_order

ALL_TAGS = ("v0.1.0-rc1", "v0.2.0", "v0.3.0", "v0.4.0", "v0.5.0", "v0.6.0", "v0.7.0", "v26.2", "v26.2.1",
            "v26.3", "v26.3.1", "v26.4.0", "v26.5.0", "v26.5.1")
# third_party/Megatron-LM at each tag (git ls-tree TAG third_party/Megatron-LM)
PINS = {"v0.1.0-rc1": "5a676b36", "v0.2.0": "5a676b36", "v0.3.0": "5a676b36", "v0.4.0": "84778176",
        "v0.5.0": "84778176", "v0.6.0": "84778176", "v0.7.0": "84778176", "v26.2": "3bec9aa9",
        "v26.2.1": "3bec9aa9", "v26.3": "d3528a21", "v26.3.1": "d3528a21", "v26.4.0": "d3528a21",
        "v26.5.0": "d3528a21", "v26.5.1": "d3528a21"}


# ---- the registry -----------------------------------------------------------------------------

def test_every_release_is_registered_once_in_one_family():
    assert sorted(RELEASES, key=tag_order) == list(ALL_TAGS)
    seen = [tag for fam in FAMILIES for tag in fam.releases]
    assert len(seen) == len(set(seen)) == 14
    for fam in FAMILIES:
        assert all(rel.family == fam.key and rel.tag == tag for tag, rel in fam.releases.items())


@pytest.mark.parametrize("tag,family,dialect", [
    # trainer.py initialize_megatron: `args = self.module_config` up to v0.5.0
    ("v0.1.0-rc1", "yaml-namespace", "bases"), ("v0.5.0", "yaml-namespace", "bases"),
    # trainer.py initialize_megatron: `merged_args = megatron_defaults.copy(); merged_args.update(primus_args)`,
    # and train.py runs the legacy flow by default (v0.6.0, v0.7.0)
    ("v0.6.0", "defaults-under-keys", "extends"), ("v0.7.0", "defaults-under-keys", "extends"),
    # train.py defaults to the core runtime; argument_builder.py keeps `key in megatron_keys` only
    ("v26.2", "dests-only", "extends"), ("v26.4.0", "dests-only", "extends"), ("v26.5.1", "dests-only", "extends"),
])
def test_family_and_dialect_per_tag(tag, family, dialect):
    assert (release(tag).family, release(tag).inherit_key) == (family, dialect)


@pytest.mark.parametrize("tag", ALL_TAGS)
def test_megatron_pin_per_tag(tag):
    assert release(tag).megatron_pin == PINS[tag]


def test_families_are_found_as_modules_and_a_tag_may_not_be_claimed_twice():
    from dataclasses import replace

    from migrate.primus import releases

    assert [fam.key for fam in FAMILIES] == ["yaml-namespace", "defaults-under-keys", "dests-only"]  # oldest first
    stray = replace(FAMILIES[0], key="stray", releases={"v26.2": release("v26.2")})
    with pytest.raises(RuntimeError, match="v26.2 is registered by two families"):
        releases._index((*FAMILIES, stray))


def test_lookup_accepts_a_tag_without_v_and_refuses_an_unknown_one():
    assert release("26.5.1") is release("v26.5.1")
    with pytest.raises(MigrateError, match="no rules for Primus release 'v9.9'"):
        release("v9.9")


def test_tag_order_puts_release_candidates_first():
    assert sorted(["v26.2.1", "v0.1.0", "v26.2", "v0.1.0-rc1", "v0.10.0"], key=tag_order) == [
        "v0.1.0-rc1", "v0.1.0", "v0.10.0", "v26.2", "v26.2.1"]


# ---- interpolation ----------------------------------------------------------------------------

def _interpolate(tag, data, env=None):
    return release(tag).interpolation.apply(data, env or {}, "f.yaml")


def test_every_string_is_typed_up_to_v0_3_0():
    # yaml_utils.py@v0.3.0 replace_env_variables: try_convert_numeric on every string (keys too)
    assert _interpolate("v0.3.0", {"lr": "1e-5", "n": "8", "${K:key}": "x"}) == {"lr": 1e-05, "n": 8, "key": "x"}


def test_only_substituted_strings_are_typed_at_v0_4_0_keys_included():
    # yaml_utils.py@v0.4.0: `if replaced == config: return replaced` before try_convert_numeric (float())
    got = _interpolate("v0.4.0", {"lr": "1e-5", "b": "${B:inf}", "${K:key}": "x"})
    assert got == {"lr": "1e-5", "b": float("inf"), "key": "x"}


def test_core_loader_types_decimal_literals_only_and_never_keys():
    # yaml_loader.py@v0.6.0..v26.5.0 _try_numeric: int, then FLOAT_PATTERN; keys are not walked
    got = _interpolate("v26.5.0", {"b": "${B:inf}", "c": "${C:true}", "d": "${D:2e3}", "${K:key}": 1})
    assert got == {"b": "inf", "c": "true", "d": 2000.0, "${K:key}": 1}
    assert release("v0.6.0").interpolation == release("v26.5.0").interpolation


def test_v26_5_1_also_types_booleans():
    # yaml_loader.py@v26.5.1 _try_scalar: `_BOOL_MAP` first
    assert _interpolate("v26.5.1", {"c": "${C:True}", "d": "false"}) == {"c": True, "d": "false"}


# ---- what reaches Megatron --------------------------------------------------------------------

DEFAULTS = {"lr": None, "seed": 1234, "model": None}   # `model` stands for a dest named like a reserved key


def test_yaml_namespace_hands_only_what_the_presets_define():
    values, primus_only, missing = release("v0.5.0").megatron_namespace({"lr": 0.1, "trainable": True}, DEFAULTS)
    assert values == {"lr": 0.1} and primus_only == {"trainable": True} and missing == ["model", "seed"]


def test_defaults_under_keys_takes_every_key_of_the_module():
    # v0.6.0 trainer: merged_args.update(primus_args): a key named like a module attribute still lands
    module = {"lr": 0.1, "model": "m.yaml", "trainable": True}
    values, primus_only, missing = release("v0.6.0").megatron_namespace(module, DEFAULTS)
    assert values == {"lr": 0.1, "seed": 1234, "model": "m.yaml"} and primus_only == {"trainable": True}
    assert missing == []


def test_dests_only_keeps_reserved_module_keys_out():
    # primus_config.py reserved_keys are not params; MegatronArgBuilder.update drops non-dests
    module = {"lr": 0.1, "model": "m.yaml", "trainable": True}
    values, primus_only, _ = release("v26.2").megatron_namespace(module, DEFAULTS)
    assert values == {"lr": 0.1, "seed": 1234, "model": None}
    assert primus_only == {"model": "m.yaml", "trainable": True}


# ---- trainer rewrites (facts read by migrate.primus.handoff) ----------------------------------

def test_moe_layer_freq_handling_per_legacy_trainer():
    # update_primus_config: moe_freq_type (v0.1.0-rc1..v0.3.0), commented out (v0.4.0), eval (v0.5.0..v0.7.0)
    assert [release(t).trainer.moe_layer_freq for t in ("v0.3.0", "v0.4.0", "v0.5.0", "v0.7.0")] == [
        "moe_freq_type", "kept", "eval", "eval"]


def test_core_trainer_differences_within_the_family():
    t262, t263, t2640, t2650 = (release(t).trainer for t in ("v26.2", "v26.3", "v26.4.0", "v26.5.0"))
    # data_path_split_patches.py: `.split(" ")` at v26.2, _normalize_data_path (`.split()`) from v26.3
    assert t262.data_paths_split_on_space and not t263.data_paths_split_on_space
    # mock_data_patches.py: tokenizer_type forced to NullTokenizer from v26.3
    assert not t262.mock_data_null_tokenizer and t263.mock_data_null_tokenizer
    # checkpoint_path_patches.py: save always overridden until v26.4.0; `save: null` respected from v26.5.0
    assert t2640.always_sets_save and not t2650.always_sets_save
    # hsdp_args_patches.py appears at v26.5.0
    assert not t2640.hsdp_replicate_degree and t2650.hsdp_replicate_degree


def test_handoff_follows_the_facts():
    from migrate.primus.handoff import apply_handoff

    base = {"mock_data": True, "data_path": "a b", "tokenizer_type": "Llama3Tokenizer", "vocab_size": None,
            "save": None}
    dests = set(base)
    at_262, at_263 = dict(base), dict(base)
    apply_handoff(at_262, {}, release("v26.2").trainer, dests)
    apply_handoff(at_263, {}, release("v26.3").trainer, dests)
    assert at_262["tokenizer_type"] == "Llama3Tokenizer" and at_262["save"] == "EXP_ROOT/checkpoints"
    assert at_263["tokenizer_type"] == "NullTokenizer" and at_263["vocab_size"] == 131072


def test_ignored_dests_follow_the_trainer():
    # logging_level is replaced from stderr_sink_level only by the legacy trainer
    assert "logging_level" in release("v0.7.0").ignored_dests
    assert not release("v26.2").ignored_dests


# ---- presets and overrides, through the loader ------------------------------------------------

PRESETS = {
    "modules/megatron/pre_trainer.yaml": "lr: 1.0e-4\nseed: 1\n",
    "models/megatron/m.yaml": "num_layers: 2\nhidden_size: 8\n",
}


def _profile(tmp_path, tag, files=PRESETS):
    configs = write_tree(tmp_path / "configs", files)
    schema = schema_5a676b36() if release(tag).inherit_key == "bases" else schema_d3528a21()
    return Profile(f"t-{tag}", schema.name, configs, release(tag), tag, source="test", schema_override=schema)


def _resolve(tmp_path, tag, overrides="", model="m.yaml", files=PRESETS):
    profile = _profile(tmp_path, tag, files)
    exp = write_tree(tmp_path, {"exp.yaml": experiment(model, overrides)}) / "exp.yaml"
    return resolve_experiment(exp, profile, {})


def test_override_of_an_unknown_key_v0_6_refuses_v0_7_adds(tmp_path):
    # yaml_utils.override_namespace: the existence check is active at v0.6.0, commented out at v0.7.0
    with pytest.raises(MigrateError, match="does not exist in the module config"):
        _resolve(tmp_path / "a", "v0.6.0", "eval_iters: 7")
    assert _resolve(tmp_path / "b", "v0.7.0", "eval_iters: 7").values["eval_iters"] == 7


def test_shared_module_and_model_key_refused_until_v0_7_module_wins_after(tmp_path):
    # yaml_utils.merge_namespace: ValueError on a shared key (v0.7.0), `continue` (v26.2)
    files = {**PRESETS, "models/megatron/m.yaml": "num_layers: 2\nlr: 9.0\n"}
    with pytest.raises(MigrateError, match="refuses keys shared"):
        _resolve(tmp_path / "a", "v0.7.0", files=files)
    assert _resolve(tmp_path / "b", "v26.2", files=files).values["lr"] == 1.0e-4


def test_preset_suffix_added_from_v0_6(tmp_path):
    # parser.py: os.path.join(..., module.model) up to v0.5.0; PresetLoader.load adds `.yaml` from v0.6.0
    assert _resolve(tmp_path / "a", "v0.6.0", model="m").values["num_layers"] == 2
    with pytest.raises(MigrateError, match="not found"):
        _resolve(tmp_path / "b", "v0.5.0", model="m")


def test_module_level_keys_kept_from_v26_5_0(tmp_path):
    # parser.py preserved_attrs (v26.5.0): module-level keys other than the reserved ones reach the config
    text = experiment().replace("    model: m.yaml\n", "    model: m.yaml\n    eval_iters: 3\n")
    for tag, kept in (("v26.4.0", False), ("v26.5.0", True)):
        exp = write_tree(tmp_path / tag, {"exp.yaml": text}) / "exp.yaml"
        values = resolve_experiment(exp, _profile(tmp_path / tag, tag), {}).values
        assert (values["eval_iters"] == 3) is kept
