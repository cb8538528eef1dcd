"""The precomputed preset index (configs/<target>/preset_index.json) matches the presets it indexes,
and a conversion chooses the same preset with and without it."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from helpers_convert import SCRIPTS
from migrate.primus import get_profile, yamlio
from migrate.primus import preset_index
from migrate.primus.emit import emitter
from migrate.primus.profiles import TARGETS
from tests.test_yaml_emitted_cloader import _same_tree



@pytest.mark.parametrize("target", TARGETS)
def test_committed_index_matches_the_presets(target):
    """Rebuilt from the presets with the release's own loader; regenerate with
    `python -m migrate.primus.preset_index` when this fails."""
    profile = get_profile(target)
    committed = (Path(profile.configs_dir) / preset_index.INDEX_NAME).read_text()
    assert committed == preset_index.render(preset_index.build_index(profile)), \
        "stale preset index: run `python -m migrate.primus.preset_index`"
    assert preset_index.load_index(profile) is not None


@pytest.mark.skipif(yamlio._CLoader is None, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("target", TARGETS)
def test_libyaml_reads_every_snapshot_file_as_the_python_parser_does(target):
    """load_index lets libyaml parse the snapshot it matches: same values, types, key order, lines."""
    for path in preset_index.snapshot_files(get_profile(target)):
        text = path.read_text()
        python = yamlio.load_yaml_text(text, path.name)
        fast = yaml.load(text, Loader=yamlio._CLoader)  # noqa: S506 - a CSafeLoader subclass
        assert _same_tree(python, fast) == [], path


def test_an_edited_snapshot_is_not_read_through_the_index(tmp_path):
    profile = get_profile("primus-26.5")
    copy = tmp_path / "configs"
    shutil.copytree(profile.configs_dir, copy)
    edited = replace(profile, configs_dir=copy)
    assert preset_index.load_index(edited) is not None
    model = copy / "models" / "megatron" / "llama3_8B.yaml"
    model.write_text(model.read_text().replace("num_layers: 32", "num_layers: 33"))
    assert preset_index.load_index(edited) is None
    (copy / preset_index.INDEX_NAME).unlink()
    assert preset_index.load_index(edited) is None


@pytest.mark.parametrize("script, env", [
    (SCRIPTS / "rocm" / "train_llama3.sh", {"MODEL_SIZE": "8", "TP": "1"}),
    (SCRIPTS / "rocm" / "train_llama2.sh", {}),
    (SCRIPTS / "rocm" / "train_mixtral_moe.sh", {}),
])
@pytest.mark.parametrize("target", TARGETS)
def test_the_same_preset_is_chosen_without_the_index(monkeypatch, script, env, target):
    from migrate.pipeline import ConvertOptions, convert_script

    def choice():
        emitter._SHORTLISTS.clear()
        conversion = convert_script(script, dict(env), [], ConvertOptions(target=target, accept_null_tokenizer=True))
        return conversion.report["preset"], conversion.report["candidates"], conversion.files

    with_index = choice()
    monkeypatch.setattr(emitter, "_indexed_presets", lambda profile, names: None)
    assert choice() == with_index
