"""primus-26.5's torchtitan experiment -> JobConfig build (migrate.torchtitan.release).

Expected values are reasoned from Primus v26.5.1 (parser.py, primus_config.py, argument_builder.py,
config_utils.py; see the module docstring) and its presets; `test_differential_*` builds the same
experiments with Primus's own code when PRIMUS_GIT and TORCHTITAN_GIT are set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_titan import flatten, primus_build, primus_tree, torchtitan_tree
from migrate.diagnostics import MigrateError
from migrate.primus import get_profile
from migrate.torchtitan.release import resolve_titan_experiment

PROFILE = get_profile("primus-26.5")
HEAD = "work_group: amd\nuser_name: root\nexp_name: t\nworkspace: ./output\n"


def _exp(tmp_path: Path, module: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + "modules:\n  pre_trainer:\n    framework: torchtitan\n" + module)
    return path


PLAIN = "    config: pre_trainer.yaml\n    model: llama3.1_8B.yaml\n"
OVERRIDES = PLAIN + """    overrides:
      training:
        steps: 50
        dataset_path: "null"
      quantize:
        linear:
          float8:
            filter_fqns: [output]
      sink_level: INFO
"""


def test_presets_change_torchtitan_defaults(tmp_path):
    """The trap: a job relying on torchtitan's defaults gets Primus's preset values instead."""
    r = resolve_titan_experiment(_exp(tmp_path, PLAIN), PROFILE)
    # torchtitan 73a0e697 defaults: mode selective, compile off, dataset c4_test, converters []
    assert r.values["activation_checkpoint.mode"] == "none"          # modules/torchtitan/pre_trainer.yaml
    assert r.values["compile.enable"] is True
    assert r.values["training.dataset"] == "c4"
    assert r.values["model.converters"] == ["primus_turbo"]           # models/torchtitan/llama3.1_8B.yaml
    assert r.values["model.flavor"] == "8B" and r.values["job.description"] == "Llama 3.1 8B training"
    assert r.values["training.local_batch_size"] == 8                 # no one changes it: torchtitan's default
    assert r.primus_only["training.mock_data"] is True
    assert r.primus_only["primus_turbo.enable_primus_turbo"] is True
    assert r.primus_only["sink_level"] is None
    assert r.origins["compile.enable"].file.endswith("modules/torchtitan/pre_trainer.yaml")
    assert r.origins["model.flavor"].file.endswith("models/torchtitan/llama3.1_8B.yaml")
    assert r.origins["model.flavor"].line == 7  # the snapshot file: `  flavor: 8B` is line 7


def test_overrides_deep_merge_and_null(tmp_path):
    r = resolve_titan_experiment(_exp(tmp_path, OVERRIDES), PROFILE)
    assert r.values["training.steps"] == 50 and r.values["training.seq_len"] == 2048  # siblings kept
    assert r.values["training.dataset_path"] is None                                # "null" -> None
    assert r.values["quantize.linear.float8.filter_fqns"] == ["output"]
    assert r.values["quantize.linear.float8.emulate"] is False                      # from quantize.yaml
    assert r.primus_only["sink_level"] == "INFO"
    assert r.origins["training.steps"].line == 12  # HEAD is 4 lines; `steps: 50` is the 12th


def test_model_preset_sections_the_module_preset_has_are_dropped(tmp_path):
    """merge_namespace(allow_override=False): a model preset's `training:` loses to the module's whole."""
    folder = tmp_path / "configs"
    import shutil

    shutil.copytree(PROFILE.configs_dir, folder)
    (folder / "models" / "torchtitan" / "mine.yaml").write_text(
        "model:\n  name: llama3\n  flavor: 8B\ntraining:\n  steps: 5\njob:\n  description: mine\n")
    from dataclasses import replace

    profile = replace(PROFILE, configs_dir=folder)
    r = resolve_titan_experiment(_exp(tmp_path, "    config: pre_trainer.yaml\n    model: mine.yaml\n"), profile)
    assert r.values["training.steps"] == 10000 and r.values["job.description"] == "mine"


def test_refusals(tmp_path):
    with pytest.raises(MigrateError, match="not found"):
        resolve_titan_experiment(_exp(tmp_path, "    config: pre_trainer.yaml\n    model: nope.yaml\n"), PROFILE)
    with pytest.raises(MigrateError, match="no 'model' key"):
        resolve_titan_experiment(_exp(tmp_path, "    config: pre_trainer.yaml\n"), PROFILE)
    with pytest.raises(MigrateError, match="does not exist in the module config"):  # primus-0.1's override rule
        resolve_titan_experiment(_exp(tmp_path, PLAIN + "    overrides:\n      training:\n        seed: 3\n"),
                                 get_profile("primus-0.1"))
    with pytest.raises(MigrateError, match="is a JobConfig section"):
        resolve_titan_experiment(_exp(tmp_path, PLAIN + "    overrides:\n      training: 3\n"), PROFILE)


# v26.5.0 pins the same torchtitan (73a0e697) and, for torchtitan, differs from v26.5.1 only in its yaml_loader
@pytest.mark.parametrize("tag,target", [("v26.5.1", "primus-26.5"), ("v26.5.0", "primus-26.5.0")])
@pytest.mark.parametrize("module", [PLAIN, OVERRIDES, "    config: pre_trainer.yaml\n    model: deepseek_v3_16b-fp8\n"])
def test_differential_against_primus_own_build(tmp_path, tmp_path_factory, module, tag, target):
    root = tmp_path_factory.getbasetemp() / "upstream"
    titan, primus = torchtitan_tree(root), primus_tree(root, tag)
    path = _exp(tmp_path, module)
    theirs = primus_build(primus, titan, path, tmp_path / "work")
    ours = resolve_titan_experiment(path, get_profile(target))
    flat = flatten(theirs["job_config"])
    turbo = {k: v for k, v in flat.items() if k.startswith("primus_turbo.")}
    assert {k: v for k, v in flat.items() if k not in turbo} == ours.values
    assert turbo == {k: v for k, v in ours.primus_only.items() if k.startswith("primus_turbo.")}
    for key, value in theirs["extra"].items():
        assert ours.primus_only[key] == value


def test_differential_random_overrides(tmp_path, tmp_path_factory):
    """Random nested overrides (every JobConfig field, Primus-only keys, "null"), Primus's build vs ours."""
    import os

    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from migrate.torchtitan.release import model_presets, require_supported

    root = tmp_path_factory.getbasetemp() / "upstream"
    titan, primus = torchtitan_tree(root), primus_tree(root)
    schema = require_supported(PROFILE)
    paths = sorted(schema.fields) + ["training.mock_data", "primus_turbo.use_turbo_attention", "sink_level"]
    value = st.one_of(st.integers(-3, 100), st.booleans(), st.text("abc", min_size=1, max_size=3), st.just("null"),
                      st.floats(0, 1, allow_nan=False), st.lists(st.text("xy", min_size=1, max_size=2), max_size=2))

    @settings(max_examples=int(os.environ.get("TITAN_ORACLE_EXAMPLES", "6")), deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(paths), value, max_size=8), st.sampled_from(sorted(model_presets(PROFILE))))
    def check(chosen, preset):
        overrides: dict = {}
        for path, v in chosen.items():
            node = overrides
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = v
        module = f"    config: pre_trainer.yaml\n    model: {preset}.yaml\n"
        if overrides:
            module += "    overrides:\n" + "\n".join(
                "      " + line for line in yaml.safe_dump(overrides, sort_keys=False).splitlines()) + "\n"
        path = _exp(tmp_path, module)
        theirs = primus_build(primus, titan, path, tmp_path / "work")
        ours = resolve_titan_experiment(path, PROFILE)
        flat = {k: v for k, v in flatten(theirs["job_config"]).items() if not k.startswith("primus_turbo.")}
        assert flat == ours.values, module

    check()


V01 = get_profile("primus-0.1")


def test_v01_build(tmp_path):
    """v0.1.0-rc1: presets read with its coercions (`lr: 3e-4` is a float there), overrides of existing keys."""
    r = resolve_titan_experiment(_exp(tmp_path, OVERRIDES_V01), V01)
    assert r.values["optimizer.lr"] == 3e-4 and r.values["training.steps"] == 50
    assert r.values["training.batch_size"] == 1 and r.values["activation_checkpoint.selective_ac_option"] == "op"
    assert r.values["float8.filter_fqns"] == ["output"] and r.primus_only["primus_turbo.enable_primus_turbo"] is True


OVERRIDES_V01 = PLAIN + """    overrides:
      training:
        steps: 50
      float8:
        filter_fqns: [output]
"""


@pytest.mark.parametrize("tag,target", [("v0.1.0-rc1", "primus-0.1"), ("v0.2.0", "primus-0.2.0"),
                                        ("v0.3.0", "primus-0.3.0")])
@pytest.mark.parametrize("module", [PLAIN, OVERRIDES_V01])
def test_differential_v01_against_primus_own_build(tmp_path, tmp_path_factory, module, tag, target):
    from helpers_titan import TORCHTITAN_PIN_01

    root = tmp_path_factory.getbasetemp() / "upstream"
    titan, primus = torchtitan_tree(root, TORCHTITAN_PIN_01), primus_tree(root, tag)
    path = _exp(tmp_path, module)
    theirs = flatten(primus_build(primus, titan, path, tmp_path / "work")["job_config"])
    ours = resolve_titan_experiment(path, get_profile(target))
    assert {k: v for k, v in theirs.items() if not k.startswith("primus_turbo.")} == ours.values
