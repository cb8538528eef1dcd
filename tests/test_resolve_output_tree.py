"""`primus-migrate resolve OUT/<exp>.yaml` on a conversion's output tree, as written.

`convert` writes a generated model file to OUT/models/megatron/<name>.yaml (the layout the
issue asks for); the loader finds it there without run.sh having installed it into Primus.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_convert import SCRIPTS


PAI = SCRIPTS / "pai" / "run_mcore_llama3.sh"
PAI_ARGS = ["dsw", "8B", "1", "32", "1e-5", "1e-6", "8192"]


def _plain(value):
    return json.loads(json.dumps(value, default=str))


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_resolve_finds_the_model_file_in_the_output_tree(cli, tmp_path, target):
    from migrate.pipeline import ConvertOptions, convert_script

    out = tmp_path / "out"
    result = cli("convert", PAI, "-o", out, "--target", target, "--", *PAI_ARGS)
    assert result.code == 0, result.err
    conversion = convert_script(PAI, {}, PAI_ARGS, ConvertOptions(target=target))
    assert conversion.model_path is not None and conversion.model_path.startswith("models/megatron/")
    assert (out / conversion.model_path).is_file()
    # nothing beside the experiment stands in for the model file
    assert not (out / Path(conversion.model_path).name).exists()

    shown = cli("resolve", out / conversion.experiment_path, "--target", target, "--json")
    assert shown.code == 0, shown.err
    values = json.loads(shown.out)
    assert values == _plain(conversion.resolved.values)
    # the generated model's architecture is what resolves, not the preset's
    model_keys = conversion.report["model_keys"]
    assert model_keys and all(values[k] == _plain(v) for k, v in model_keys.items())


def test_a_model_file_beside_the_experiment_still_wins(tmp_path):
    from migrate.primus import get_profile, resolve_experiment

    profile = get_profile("primus-26.5")
    (tmp_path / "models" / "megatron").mkdir(parents=True)
    (tmp_path / "models" / "megatron" / "mine.yaml").write_text("extends:\n  - llama3_8B.yaml\nnum_layers: 3\n")
    (tmp_path / "mine.yaml").write_text("extends:\n  - llama3_8B.yaml\nnum_layers: 5\n")
    exp = tmp_path / "x-pretrain.yaml"
    exp.write_text("work_group: a\nuser_name: b\nexp_name: c\nworkspace: ./o\nmodules:\n  pre_trainer:\n"
                   "    framework: megatron\n    config: pre_trainer.yaml\n    model: mine.yaml\n")
    assert resolve_experiment(exp, profile, {}).values["num_layers"] == 5
    (tmp_path / "mine.yaml").unlink()
    assert resolve_experiment(exp, profile, {}).values["num_layers"] == 3
