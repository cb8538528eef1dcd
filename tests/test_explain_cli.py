"""`primus-migrate explain EXP.yaml KEY` on the converter's own output.

Expected values come from the sources themselves: the script line that holds the flag, the preset file
and line the explanation names (read here with PyYAML), and the Megatron semantics behind each rule
(see tests/test_emit_inert.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers_convert import SCRIPTS
from migrate.cli import main

LLAMA3 = SCRIPTS / "rocm" / "train_llama3.sh"
GPT3 = SCRIPTS / "nvidia" / "train_gpt3_distributed.sh"
GPT3_ARGS = ["ckpt", "tb_logs", "gpt2-vocab.json", "gpt2-merges.txt", "data/my-gpt3_00_text_document"]
PRESETS = Path(__file__).resolve().parent.parent / "configs"


def _convert(tmp_path, script=LLAMA3, target="primus-26.5", args=()):
    from migrate.output import OutputTree
    from migrate.pipeline import ConvertOptions, convert_script

    conversion = convert_script(script, {"MODEL_SIZE": "8", "TP": "1"} if script == LLAMA3 else {}, list(args),
                                ConvertOptions(target=target))
    tree = OutputTree(tmp_path / "out")
    for rel, text in conversion.files.items():
        tree.add(rel, text)
    tree.commit()
    return tmp_path / "out" / conversion.experiment_path


def _explain(capsys, *argv):
    code = main(["explain", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def _preset_line(origin: str):
    """(text of the named preset line, the value PyYAML reads for `key` in that file)."""
    file, line = origin.rsplit(":", 1)
    path = PRESETS / file[len("<presets>/"):]
    return path.read_text().splitlines()[int(line) - 1], yaml.safe_load(path.read_text())


def _script_line(origin: str) -> str:
    file, line = origin.split(";")[0].split(" ")[0].rsplit(":", 1)
    return next(SCRIPTS.rglob(file)).read_text().splitlines()[int(line) - 1]


@pytest.fixture(scope="module")
def llama3_26(tmp_path_factory):
    return _convert(tmp_path_factory.mktemp("explain"))


def test_an_inert_megatron_default(llama3_26, capsys):
    code, e, _ = _explain(capsys, llama3_26, "muon_momentum")
    assert code == 0 and e["emitted"] and not e["in_model_file"] and e["legacy_flag"] is None
    # Megatron's --muon-momentum default (arguments.py at d3528a21: default=0.9); the script never sets it
    assert e["value"] == 0.9 and e["legacy_origin"] == "Megatron default" and e["origin_kind"] == "megatron default"
    line, data = _preset_line(e["preset"]["origin"])
    assert line.strip().startswith("muon_momentum:") and data["muon_momentum"] == e["preset"]["value"] != 0.9
    # the script trains with Adam: only the Muon optimizer reads muon_*
    assert e["affects_run"] is False and e["inert_rule"] == "optimizer"
    assert e["where"].endswith(f"{llama3_26.name}:{_line_of(llama3_26, 'muon_momentum')}")


def _line_of(experiment: Path, key: str) -> int:
    return next(i for i, line in enumerate(experiment.read_text().splitlines(), 1) if line.strip().startswith(key + ":"))


def test_a_script_flag_that_changes_the_run(llama3_26, capsys):
    code, e, _ = _explain(capsys, llama3_26, "lr")
    assert code == 0 and e["origin_kind"] == "script" and e["affects_run"] is True and e["inert_rule"] is None
    assert "--lr " in _script_line(e["legacy_origin"])
    # the flag as the script wrote it (train_llama3.sh: `--lr 1e-4`), from the report written beside it
    assert e["legacy_flag"] == "--lr 1e-4" and "--lr 1e-4" in _script_line(e["legacy_origin"])
    assert e["value"] == 1.0e-4  # the script's --lr (train_llama3.sh)
    line, data = _preset_line(e["preset"]["origin"])
    assert line.strip().startswith("lr:") and data["lr"] == e["preset"]["value"]


def test_a_key_the_converter_did_not_write(llama3_26, capsys):
    code, e, _ = _explain(capsys, llama3_26, "num_layers")
    assert code == 0 and e["emitted"] is False and e["origin_kind"] == "preset" and e["value"] == 32
    line, _ = _preset_line(e["where"])
    assert line.strip() == "num_layers: 32"


def test_text_output_says_the_same(llama3_26, capsys):
    assert main(["explain", str(llama3_26), "fp8_amax_history_len"]) == 0
    out = capsys.readouterr().out
    assert "legacy origin  Megatron default" in out and "affects run    no: fp8 is unset" in out
    assert "rule `fp8`" in out and "static parity" in out


def test_unknown_key_exits_2_with_close_names(llama3_26, capsys):
    code, _, err = _explain(capsys, llama3_26, "lrr")
    assert code == 2 and "did you mean `lr`" in err and "Traceback" not in err
    code, _, err = _explain(capsys, llama3_26, "muon_momentm")
    assert code == 2 and "`muon_momentum`" in err


def test_target_comes_from_the_header(tmp_path, capsys):
    experiment = _convert(tmp_path, target="primus-0.1")
    code, e, _ = _explain(capsys, experiment, "lr")
    assert code == 0 and e["target"] == "primus-0.1"
    assert "/primus-0.1/" in e["preset"]["origin"]


def test_a_key_of_the_generated_model_file(tmp_path, capsys):
    experiment = _convert(tmp_path, GPT3, args=GPT3_ARGS)
    code, e, _ = _explain(capsys, experiment, "num_layers")
    assert code == 0 and e["emitted"] and e["in_model_file"] and "/models/megatron/" in e["where"]
    assert "--num-layers" in _script_line(e["legacy_origin"])
    assert e["affects_run"] is True


def test_a_hand_written_experiment(capsys):
    experiment = Path(__file__).resolve().parent.parent / "fixtures" / "primus" / "primus-26.5" / "llama3_8B-pretrain.yaml"
    code, e, _ = _explain(capsys, experiment, "lr")
    assert code == 0 and e["emitted"] and e["origin_kind"] == "hand-written" and e["legacy_origin"] is None
    line, data = _preset_line(e["preset"]["origin"])
    assert line.strip().startswith("lr:") and data["lr"] == e["preset"]["value"]
    code, e, _ = _explain(capsys, experiment, "num_layers")
    assert code == 0 and not e["emitted"] and "legacy run" not in e["why"]  # no legacy run behind this file


def test_a_torchtitan_experiment_is_refused_with_what_to_do(tmp_path, capsys):
    experiment = tmp_path / "job.yaml"
    experiment.write_text("modules:\n  pre_trainer:\n    framework: torchtitan\n    config: pre_trainer.yaml\n")
    code, _, err = _explain(capsys, experiment, "training.steps")
    assert code == 2 and "torchtitan" in err and "resolve" in err


def test_a_missing_experiment_exits_2(tmp_path, capsys):
    code, _, err = _explain(capsys, tmp_path / "none.yaml", "lr")
    assert code == 2 and "not found" in err


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_explain_agrees_with_the_layout_for_every_override(tmp_path, target):
    """The emitter judged inertness on the legacy run; explain judges it on the file alone (as resolved and
    derived). On the converter's own output both must put each key on the same side."""
    from migrate.primus import get_profile
    from migrate.primus.emit.explain import explain_key

    experiment = _convert(tmp_path, target=target)
    text = experiment.read_text()
    overrides = yaml.safe_load(text)["modules"]["pre_trainer"]["overrides"]
    inert_block = text.split("# inert in this run:", 1)[1] if "# inert in this run:" in text else ""
    profile = get_profile(target)
    for key in overrides:
        e = explain_key(experiment, text, key, profile)
        assert e.emitted and e.legacy_origin
        assert e.affects_run == (f"\n      {key}: " not in inert_block), key
