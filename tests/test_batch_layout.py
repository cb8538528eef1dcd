"""Placing a variant in the shared tree: paths, content-addressed model names, the model reference."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from migrate.batch import layout
from migrate.diagnostics import MigrateError

EXP = """\
work_group: ${PRIMUS_TEAM:amd}
exp_name: ${PRIMUS_EXP_NAME:train_llama3}
modules:
  pre_trainer:
    framework: megatron
    config: pre_trainer.yaml
    model: train_llama3_model.yaml   # from train_llama3.sh:40
    overrides:
      micro_batch_size: 2          # train_llama3.sh:74
      model: not-this-one
"""


def test_paths_keep_folders_and_drop_the_suffix():
    assert layout.script_stem("llama/train_llama3.sh") == "llama/train_llama3"
    assert layout.script_stem("run") == "run"
    assert layout.experiment_path("llama/train_llama3.sh", "MODEL_SIZE=70") == "exp/llama/train_llama3/MODEL_SIZE=70.yaml"
    assert layout.experiment_name("llama/train_llama3.sh", "MODEL=8x7b,TP=2") == "llama-train_llama3-MODEL-8x7b_TP-2"


def test_model_name_is_the_preset_plus_a_hash_of_the_content():
    content = "extends:\n  - llama3_70B.yaml\nnum_layers: 80\n"
    digest = hashlib.sha256(content.encode()).hexdigest()[: layout.HASH_CHARS]
    assert layout.model_file_name(content, "x") == f"models/megatron/llama3_70B-{digest}.yaml"
    assert layout.model_file_name("bases: [mixtral_8x7B_v0.1.yaml]\n", "x").startswith(
        "models/megatron/mixtral_8x7B_v0.1-")
    assert layout.model_file_name("num_layers: 2\n", "my model").startswith("models/megatron/my_model-")
    # same content -> same path; one byte more -> another path
    assert layout.model_file_name(content, "a") == layout.model_file_name(content, "b")
    assert layout.model_file_name(content + "\n", "a") != layout.model_file_name(content, "a")


def test_model_reference_is_relative_to_the_experiment_file():
    assert layout.model_reference("exp/llama/train/MODEL_SIZE=8.yaml", "models/megatron/m-1.yaml") == \
        "../../../models/megatron/m-1.yaml"
    assert layout.model_reference("exp.yaml", "models/megatron/m.yaml") == "models/megatron/m.yaml"


def test_rewrite_changes_only_the_pre_trainer_model_line():
    out = layout.rewrite_model_reference(EXP, "../../models/megatron/llama3_8B-abc.yaml")
    data = yaml.safe_load(out)
    assert data["modules"]["pre_trainer"]["model"] == "../../models/megatron/llama3_8B-abc.yaml"
    assert data["modules"]["pre_trainer"]["overrides"]["model"] == "not-this-one"
    changed = [(a, b) for a, b in zip(EXP.splitlines(), out.splitlines()) if a != b]
    assert changed == [("    model: train_llama3_model.yaml   # from train_llama3.sh:40",
                        "    model: ../../models/megatron/llama3_8B-abc.yaml   # from train_llama3.sh:40")]


def test_rewrite_handles_quoted_values():
    text = "modules:\n  pre_trainer:\n    model: \"m.yaml\"\n"
    assert yaml.safe_load(layout.rewrite_model_reference(text, "x/m.yaml"))["modules"]["pre_trainer"]["model"] == "x/m.yaml"


def test_rewrite_without_a_model_key_is_an_error():
    with pytest.raises(MigrateError):
        layout.rewrite_model_reference("modules:\n  pre_trainer:\n    framework: megatron\n", "m.yaml")
