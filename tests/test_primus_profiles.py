"""Target profiles and `--primus-path` detection."""

import pytest

from helpers_primus import write_tree
from migrate.diagnostics import MigrateError
from migrate.primus import detect_target, get_profile


def test_profiles_carry_the_release_facts():
    v01, v26 = get_profile("primus-0.1"), get_profile("primus-26.5")
    # third_party/Megatron-LM submodule pins: 5a676b36 at v0.1.0-rc1, d3528a21 at v26.5.1
    assert (v01.megatron_schema, v01.inherit_key) == ("5a676b36", "bases")
    assert (v26.megatron_schema, v26.inherit_key) == ("d3528a21", "extends")
    assert v01.configs_dir.name == "primus-0.1" and (v01.configs_dir / "modules/megatron/pre_trainer.yaml").is_file()
    assert get_profile().name == "primus-26.5"


def test_unknown_target():
    with pytest.raises(MigrateError, match="unknown target 'primus-9'"):
        get_profile("primus-9")


def _checkout(root, key, version=None):
    files = {"primus/configs/modules/megatron/pre_trainer.yaml": f"{key}:\n  - trainer_base.yaml\nlr: 1.0e-04\n",
             "primus/configs/modules/megatron/trainer_base.yaml": "lr: 2.0e-04\n",
             "primus/configs/models/megatron/m.yaml": "num_layers: 1\n"}
    if version:
        files["primus/__init__.py"] = f'__version__ = "{version}"\n'
    return write_tree(root, files)


def test_detects_bases_checkout_as_0_1(tmp_path):
    root = _checkout(tmp_path, "bases")
    # no git tag, no code markers: the presets' `bases:` rules out every `extends:` release, so the
    # oldest bundled `bases:` target is used, and the note says the release was not recognised
    target, configs, tag, notes = detect_target(root)
    assert (target, tag) == ("primus-0.1", "v0.1.0-rc1") and configs == root / "primus" / "configs"
    assert "not recognised" in notes[0]
    profile = get_profile("primus-26.5", primus_path=str(root))  # the checkout wins over --target
    assert profile.name == "primus-0.1" and profile.source == str(root)
    assert profile.load_module_preset()["lr"] == 1.0e-04


def test_detects_extends_checkout_as_26_5_with_its_version(tmp_path):
    # __version__ = "26.4" is what primus/__init__.py says at v26.5.1 (and at no other tag)
    root = _checkout(tmp_path, "extends", "26.4")
    profile = get_profile(primus_path=str(root))
    assert profile.name == "primus-26.5" and profile.release == "v26.5.1"
    assert set(profile.model_presets()) == {"m"}


def test_not_a_checkout(tmp_path):
    with pytest.raises(MigrateError, match="does not look like a Primus checkout"):
        get_profile(primus_path=str(tmp_path))


def test_primus_only_keys_are_preset_keys_outside_the_schema():
    from helpers_primus import snapshot_profile

    v26 = snapshot_profile("primus-26.5")
    keys = v26.primus_only_keys()
    # norm_epsilon (language_model.yaml@v26.5.1) is not a dest at d3528a21; trainable (module_base.yaml) never is
    assert {"norm_epsilon", "trainable", "framework", "name", "model"} <= keys
    assert "lr" not in keys and "layernorm_epsilon" not in keys
    v01 = snapshot_profile("primus-0.1")
    assert "norm_epsilon" not in v01.primus_only_keys() and "trainable" in v01.primus_only_keys()


def _git(root, *args):
    import subprocess

    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(root)})


@pytest.mark.parametrize("pin,schema,noted", [
    ("d3528a21301db2d12e92912b3ec025dc8a2ed4d6", "d3528a21", False),  # v26.5.1's gitlink
    ("0123456789abcdef0123456789abcdef01234567", "d3528a21", True),
])
def test_checkout_megatron_pin_picks_the_schema(tmp_path, pin, schema, noted):
    root = _checkout(tmp_path, "extends")
    _git(root, "init", "-q")
    _git(root, "update-index", "--add", "--cacheinfo", f"160000,{pin},third_party/Megatron-LM")
    _git(root, "commit", "-qm", "pin")
    profile = get_profile(primus_path=str(root))
    assert profile.megatron_schema == schema
    assert any("no bundled schema" in note for note in profile.notes) is noted
