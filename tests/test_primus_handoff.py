"""The trainer-side rewrites each release applies before Megatron sees the namespace."""

from migrate.primus.handoff import (
    apply_handoff,
    iterations_to_skip_list,
    logging_level_from_sink,
    mock_data_clears_paths,
    moe_layer_freq_value,
    no_sequence_parallel_at_tp1,
    split_data_paths,
    trainer_args_defaults,
)

DESTS = {"data_path", "train_data_path", "valid_data_path", "test_data_path", "sequence_parallel",
         "tensor_model_parallel_size", "iterations_to_skip", "moe_layer_freq", "mock_data", "tokenizer_type",
         "vocab_size", "logging_level"}

from migrate.primus.releases import release

V01 = release("v0.1.0-rc1").trainer  # the legacy trainer's rules (update_primus_config@v0.1.0-rc1)
V26 = release("v26.5.1").trainer  # the build_args patches at v26.5.1


def test_data_paths_split_on_spaces_v01_and_whitespace_v26():
    values = {"data_path": "a  b", "train_data_path": ["x"], "test_data_path": None}
    assert split_data_paths(values, {}, V01) == {"data_path": ["a", "", "b"]}
    assert split_data_paths(values, {}, V26) == {"data_path": ["a", "b"]}


def test_sequence_parallel_off_at_tp1_only():
    assert no_sequence_parallel_at_tp1({"tensor_model_parallel_size": 1, "sequence_parallel": True}, {}, V26) == {
        "sequence_parallel": False}
    assert no_sequence_parallel_at_tp1({"tensor_model_parallel_size": 2, "sequence_parallel": True}, {}, V01) == {}


def test_iterations_to_skip_none_becomes_empty_list():
    assert iterations_to_skip_list({"iterations_to_skip": None}, {}, V01) == {"iterations_to_skip": []}
    assert iterations_to_skip_list({"iterations_to_skip": [3]}, {}, V01) == {}


def test_moe_layer_freq_patterns():
    assert moe_layer_freq_value({"moe_layer_freq": "([0]*1+[1]*3)"}, {}, V26) == {"moe_layer_freq": [0, 1, 1, 1]}
    assert moe_layer_freq_value({"moe_layer_freq": "2"}, {}, V01) == {"moe_layer_freq": 2}
    assert moe_layer_freq_value({"moe_layer_freq": "2"}, {}, V26) == {"moe_layer_freq": 2}
    assert moe_layer_freq_value({"moe_layer_freq": "__import__('os')"}, {}, V26) == {}
    assert moe_layer_freq_value({"moe_layer_freq": 1}, {}, V26) == {}


def test_mock_data_v01_clears_paths_v26_also_tokenizer():
    values = {"mock_data": True, "data_path": ["d"], "train_data_path": None, "valid_data_path": None,
              "test_data_path": None, "vocab_size": None}
    assert mock_data_clears_paths(values, {}, V01) == {k: None for k in
                                                       ("data_path", "train_data_path", "valid_data_path", "test_data_path")}
    v26 = mock_data_clears_paths(values, {}, V26)
    assert v26["tokenizer_type"] == "NullTokenizer" and v26["vocab_size"] == 131072
    assert "vocab_size" not in mock_data_clears_paths({**values, "vocab_size": 32000}, {}, V26)
    assert mock_data_clears_paths({**values, "mock_data": False}, {}, V26) == {}


def test_logging_level_only_at_v01():
    assert logging_level_from_sink({}, {"stderr_sink_level": "DEBUG"}, V01) == {"logging_level": 10}
    assert logging_level_from_sink({}, {"stderr_sink_level": "DEBUG"}, V26) == {}


def test_apply_reports_rules_and_touches_only_dests():
    values = {"tensor_model_parallel_size": 1, "sequence_parallel": True, "mock_data": True, "data_path": ["x"]}
    applied = apply_handoff(values, {}, V26, DESTS - {"vocab_size"})
    assert values["sequence_parallel"] is False and values["data_path"] is None
    assert values["tokenizer_type"] == "NullTokenizer" and "vocab_size" not in values
    assert applied["sequence_parallel"] == "no_sequence_parallel_at_tp1"


def test_trainer_args_defaults_v26_gpt2_bpe_v01_none():
    # 26.5's pretrain trainer passes args_defaults={"tokenizer_type": "GPT2BPETokenizer"}; v0.1's
    # trainer.init() is called without arguments, so its initialize_megatron gets {}
    assert trainer_args_defaults({"tokenizer_type": None}, {}, V26) == {"tokenizer_type": "GPT2BPETokenizer"}
    assert trainer_args_defaults({}, {}, V26) == {"tokenizer_type": "GPT2BPETokenizer"}
    assert trainer_args_defaults({"tokenizer_type": "Llama3Tokenizer"}, {}, V26) == {}
    assert trainer_args_defaults({"tokenizer_type": None}, {}, V01) == {}


def test_mock_data_null_tokenizer_comes_before_the_trainer_default():
    # the mock_data patch runs in build_args, before pretrain() hands args_defaults to validate_args
    values = {"mock_data": True, "tokenizer_type": None, "vocab_size": None}
    applied = apply_handoff(values, {}, V26, DESTS)
    assert values["tokenizer_type"] == "NullTokenizer" and applied["tokenizer_type"] == "mock_data_clears_paths"
    values = {"mock_data": False, "tokenizer_type": None}
    applied = apply_handoff(values, {}, V26, DESTS)
    assert values["tokenizer_type"] == "GPT2BPETokenizer" and applied["tokenizer_type"] == "trainer_args_defaults"
    values = {"mock_data": False, "tokenizer_type": None}
    assert apply_handoff(values, {}, V01, DESTS) == {} and values["tokenizer_type"] is None


def _primus_source(rev: str, path: str) -> str:
    import os
    import subprocess

    import pytest

    repo = os.environ.get("PRIMUS_GIT")
    if not repo or not os.path.exists(repo):
        pytest.skip("set PRIMUS_GIT to a Primus git dir to read the trainers")
    return subprocess.run(["git", "-C", repo, "show", f"{rev}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def _calls(source: str, name: str) -> list:
    import ast

    return [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)
            and (getattr(n.func, "attr", None) == name or getattr(n.func, "id", None) == name)]


def test_trainer_args_defaults_match_the_primus_sources():
    import ast


    # 26.5: every initialize_megatron / pretrain kwargs dict the pretrain trainer builds
    source = _primus_source("v26.5.1", "primus/backends/megatron/megatron_pretrain_trainer.py")
    found = [ast.literal_eval(k.value) for c in _calls(source, "initialize_megatron") for k in c.keywords
             if k.arg == "args_defaults"]
    found += [ast.literal_eval(n.value) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Assign)
              and isinstance(n.targets[0], ast.Subscript) and isinstance(n.targets[0].slice, ast.Constant)
              and n.targets[0].slice.value == "args_defaults"]
    assert len(found) == 2 and all(f == dict(V26.args_defaults) for f in found)  # model-only and train paths
    # v0.1: train.py calls trainer.init() with no arguments; init reads kwargs.get("args_defaults", {})
    train = _primus_source("refs/tags/v0.1.0-rc1", "primus/train.py")
    inits = _calls(train, "init")
    assert inits and all(not c.args and not c.keywords for c in inits)
    assert 'args_defaults=kwargs.get("args_defaults", {})' in _primus_source(
        "refs/tags/v0.1.0-rc1", "primus/modules/trainer/megatron/trainer.py")
    assert dict(V01.args_defaults) == {}
