"""Each release's trainer after loading: output locations, what stops it, and configs that run.

Expected values are our reading of the upstream code, written beside each test:
- v0.1.0-rc1, primus/modules/trainer/megatron/trainer.py, MegatronTrainer.update_primus_config:
  `args.save = ckpt_path` unconditionally (exp_root/checkpoints); `if not args.disable_tensorboard:
  tensorboard_dir = exp_root/tensorboard else None`; `args.data_path = args.data_path.split(" ")`
  when not None; `moe_freq_type(args.moe_layer_freq)` (Megatron 5a676b36: int, else `assert
  isinstance(x, str)`); run(): the final save unless `disable_last_saving`.
- v26.5.1, primus/backends/megatron/patches/args/checkpoint_path_patches.py: save None stays None
  (opt-out), else exp_root/checkpoints; tensorboard_path_patches.py: TensorBoard on ->
  exp_root/tensorboard, off -> tensorboard_dir untouched.
- Megatron validate_args (5a676b36 and d3528a21): `if args.save is not None: assert
  args.save_interval is not None`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from migrate.primus.handoff import (NO_SAVE_INTERVAL, checkpoint_path_forced, checkpoint_triggers, tensorboard_path,
                                    trainer_refusals, validate_args_refusals, written_shape)
from migrate.primus.releases import release

V01 = release("v0.1.0-rc1").trainer  # the legacy trainer's rules (update_primus_config@v0.1.0-rc1)
V26 = release("v26.5.1").trainer  # the build_args patches at v26.5.1

REPO = Path(__file__).resolve().parent.parent
LLAMA3 = REPO / "fixtures" / "scripts" / "rocm" / "train_llama3.sh"
GPT3 = REPO / "fixtures" / "scripts" / "nvidia" / "train_gpt3_distributed.sh"
GPT3_ARGS = ["ckpt", "tb_logs", "gpt2-vocab.json", "gpt2-merges.txt", "data/my-gpt3_00_text_document"]
DEEPSEEK3 = REPO / "fixtures" / "scripts" / "rocm" / "train_deepseekv3.sh"


def test_v01_always_saves_v26_only_when_save_is_set():
    assert checkpoint_path_forced({"save": None}, {}, V01) == {"save": "EXP_ROOT/checkpoints"}
    assert checkpoint_path_forced({"save": "/ckpt"}, {}, V01) == {"save": "EXP_ROOT/checkpoints"}
    assert checkpoint_path_forced({"save": None}, {}, V26) == {}
    assert checkpoint_path_forced({"save": "/ckpt"}, {}, V26) == {"save": "EXP_ROOT/checkpoints"}


def test_tensorboard_off_is_none_at_v01_and_kept_at_v26():
    off, on = {"disable_tensorboard": True}, {"disable_tensorboard": False}
    assert tensorboard_path({"tensorboard_dir": "/tb"}, off, V01) == {"tensorboard_dir": None}
    assert tensorboard_path({"tensorboard_dir": "/tb"}, off, V26) == {}
    assert tensorboard_path({"tensorboard_dir": None}, on, V26) == {"tensorboard_dir": "EXP_ROOT/tensorboard"}
    # profile turns TensorBoard on at both releases
    assert tensorboard_path({"tensorboard_dir": None, "profile": True}, off, V01) == {
        "tensorboard_dir": "EXP_ROOT/tensorboard"}


def test_v01_trainer_stops_on_a_list_data_path_and_a_list_moe_layer_freq():
    why = trainer_refusals({"data_path": ["a", "b"], "moe_layer_freq": [0, 1]}, {"stderr_sink_level": "INFO"}, V01)
    assert len(why) == 2 and "split" in why[0] and "moe_freq_type" in why[1]
    assert trainer_refusals({"data_path": "a b", "moe_layer_freq": "[0,1]"}, {"stderr_sink_level": "INFO"}, V01) == []
    assert trainer_refusals({"data_path": ["a", "b"]}, {}, V26) == []  # 26.5 takes lists as they are


def test_validate_args_needs_save_interval_when_save_is_set():
    assert validate_args_refusals({"save": "EXP_ROOT/checkpoints", "save_interval": None})
    assert validate_args_refusals({"save": None, "save_interval": None}) == []


def test_written_shape_is_what_v01_accepts():
    assert written_shape("data_path", ["1.0", "/d/a", "0.5", "/d/b"], V01) == "1.0 /d/a 0.5 /d/b"
    assert written_shape("data_path", ["/d/a b"], V01) == ["/d/a b"]  # a space: no string splits back to it
    assert written_shape("moe_layer_freq", [0, 1, 1], V01) == "[0,1,1]"
    assert written_shape("data_path", ["/d/a"], V26) == ["/d/a"]


def test_checkpoint_triggers():
    # 10 iterations, save_interval 5000, no final save: nothing written; the final save and ramp-up write
    assert checkpoint_triggers({"save_interval": 5000}, {"disable_last_saving": True}, 10) == []
    assert checkpoint_triggers({"save_interval": NO_SAVE_INTERVAL}, {"disable_last_saving": True}, None) == []
    kinds = checkpoint_triggers({"save_interval": 5, "rampup_batch_size": [16, 16, 100]}, {}, 10)
    assert [avoidable for _, avoidable in kinds] == [True, True, False]


def _overrides(conversion) -> dict:
    return yaml.safe_load(conversion.files[conversion.experiment_path])["modules"]["pre_trainer"]["overrides"]


def test_v01_conversion_runs_and_writes_no_checkpoint_the_legacy_run_did_not():
    """train_llama3.sh saves nothing (no --save) but logs TensorBoard (--tensorboard-dir)."""
    from migrate.pipeline import ConvertOptions, convert_script
    from migrate.primus.loader import resolve_experiment_text

    conversion = convert_script(LLAMA3, {"MODEL_SIZE": "8", "TP": "1"}, [], ConvertOptions(target="primus-0.1"))
    assert conversion.parity.ok, conversion.parity.format()
    written = _overrides(conversion)
    assert isinstance(written["data_path"], str)  # the trainer calls .split(" ") on it
    assert written["disable_last_saving"] is True  # the preset's false writes a final checkpoint
    assert written["disable_tensorboard"] is False  # else v0.1 drops TensorBoard logging
    resolved = resolve_experiment_text(conversion.files, conversion.experiment_path, conversion.profile,
                                       trainer_rewrites=True)
    assert resolved.refusals == [] and resolved.values["save"] == "EXP_ROOT/checkpoints"
    # 10 iterations: the preset's save_interval (1000) is never reached, the final save is off
    assert resolved.values["train_iters"] == 10 and resolved.values["save_interval"] > 10
    assert checkpoint_triggers(resolved.values, resolved.primus_only, 10) == []
    assert resolved.values["tensorboard_dir"] == "EXP_ROOT/tensorboard"
    assert [d["dest"] for d in conversion.report["documented_differences"]] == ["tensorboard_dir"]
    assert "Documented differences" in conversion.files["report.md"]


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_legacy_save_path_is_a_documented_difference(target):
    from migrate.pipeline import ConvertOptions, convert_script

    conversion = convert_script(GPT3, {}, GPT3_ARGS, ConvertOptions(target=target))
    assert conversion.parity.ok, conversion.parity.format()
    documented = {d["dest"]: d for d in conversion.report["documented_differences"]}
    assert documented["save"]["legacy"] == "ckpt" and documented["save"]["primus"] == "EXP_ROOT/checkpoints"
    # 26.5 keeps tensorboard_dir while TensorBoard is "disabled": the legacy path is used as is
    assert ("tensorboard_dir" in documented) == (target == "primus-0.1")


def test_v01_moe_layer_freq_pattern_is_written_as_a_string():
    from migrate.pipeline import ConvertOptions, convert_script

    conversion = convert_script(DEEPSEEK3, {}, [], ConvertOptions(target="primus-0.1"))
    assert conversion.parity.ok, conversion.parity.format()
    text = "".join(conversion.files.values())
    assert 'moe_layer_freq: "[0,1,1,1]"' in text or "moe_layer_freq: '[0,1,1,1]'" in text


def test_parity_fails_when_the_trainer_would_stop(tmp_path):
    """A hand-written v0.1 experiment with a YAML list data_path: our loader loads it, the trainer stops."""
    from migrate.conversion.static_parity import check_static_parity
    from migrate.primus import get_profile, resolve_experiment

    profile = get_profile("primus-0.1")
    exp = tmp_path / "exp.yaml"
    exp.write_text("work_group: a\nuser_name: b\nexp_name: c\nworkspace: ./output\nmodules:\n  pre_trainer:\n"
                   "    framework: megatron\n    config: pre_trainer.yaml\n    model: llama3_8B.yaml\n"
                   "    overrides:\n      data_path: [/d/a]\n")
    resolved = resolve_experiment(exp, profile, {})
    parity = check_static_parity({}, resolved, profile)
    assert not parity.ok and parity.refusals and "split" in parity.format()


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_save_without_save_interval_is_never_converted_silently(target, tmp_path):
    """Megatron's validate_args asserts save_interval whenever save is set: the legacy run itself
    could not start, and neither would the Primus one (both releases keep a set save)."""
    from migrate.diagnostics import MigrateError
    from migrate.pipeline import ConvertOptions, convert_script

    script = tmp_path / "train.sh"
    script.write_text("#!/bin/bash\ntorchrun pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
                      "--seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 "
                      "--train-iters 10 --lr 1e-4 --mock-data --tokenizer-type NullTokenizer --vocab-size 1000 "
                      "--save /ckpt\n")
    try:
        conversion = convert_script(script, {}, [], ConvertOptions(target=target))
    except MigrateError as exc:  # refused up front (a legacy argv Megatron rejects)
        assert "save_interval" in exc.message or "save-interval" in exc.message
        return
    assert not conversion.parity.ok and conversion.parity.refusals
    assert "--save-interval" in (conversion.hint or conversion.parity.hint or "")


def test_v26_hsdp_degree_sets_optimizer_instances_and_needs_fsdp2():
    # hsdp_args_patches.py@v26.5.1: degree > 1 -> num_distributed_optimizer_instances = degree; ValueError
    # without use_torch_fsdp2, or with a ckpt_format other than torch_dcp
    from migrate.primus.handoff import hsdp_optimizer_instances

    assert hsdp_optimizer_instances({}, {"data_parallel_replicate_degree": 2}, V26) == {
        "num_distributed_optimizer_instances": 2}
    assert hsdp_optimizer_instances({}, {"data_parallel_replicate_degree": 1}, V26) == {}
    assert trainer_refusals({"use_torch_fsdp2": False}, {"data_parallel_replicate_degree": 2}, V26)
    assert trainer_refusals({"use_torch_fsdp2": True, "ckpt_format": "torch_dcp"},
                            {"data_parallel_replicate_degree": 2}, V26) == []
    assert trainer_refusals({"yaml_cfg": "m.yaml"}, {"stderr_sink_level": "INFO"}, V01)
