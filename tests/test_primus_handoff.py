"""The trainer-side rewrites each release applies before Megatron sees the namespace."""

from migrate.primus.handoff import (
    apply_handoff,
    iterations_to_skip_list,
    logging_level_from_sink,
    mock_data_clears_paths,
    moe_layer_freq_value,
    no_sequence_parallel_at_tp1,
    split_data_paths,
)

DESTS = {"data_path", "train_data_path", "valid_data_path", "test_data_path", "sequence_parallel",
         "tensor_model_parallel_size", "iterations_to_skip", "moe_layer_freq", "mock_data", "tokenizer_type",
         "vocab_size", "logging_level"}


def test_data_paths_split_on_spaces_v01_and_whitespace_v26():
    values = {"data_path": "a  b", "train_data_path": ["x"], "test_data_path": None}
    assert split_data_paths(values, {}, True) == {"data_path": ["a", "", "b"]}
    assert split_data_paths(values, {}, False) == {"data_path": ["a", "b"]}


def test_sequence_parallel_off_at_tp1_only():
    assert no_sequence_parallel_at_tp1({"tensor_model_parallel_size": 1, "sequence_parallel": True}, {}, False) == {
        "sequence_parallel": False}
    assert no_sequence_parallel_at_tp1({"tensor_model_parallel_size": 2, "sequence_parallel": True}, {}, True) == {}


def test_iterations_to_skip_none_becomes_empty_list():
    assert iterations_to_skip_list({"iterations_to_skip": None}, {}, True) == {"iterations_to_skip": []}
    assert iterations_to_skip_list({"iterations_to_skip": [3]}, {}, True) == {}


def test_moe_layer_freq_patterns():
    assert moe_layer_freq_value({"moe_layer_freq": "([0]*1+[1]*3)"}, {}, False) == {"moe_layer_freq": [0, 1, 1, 1]}
    assert moe_layer_freq_value({"moe_layer_freq": "2"}, {}, True) == {"moe_layer_freq": 2}
    assert moe_layer_freq_value({"moe_layer_freq": "2"}, {}, False) == {"moe_layer_freq": 2}
    assert moe_layer_freq_value({"moe_layer_freq": "__import__('os')"}, {}, False) == {}
    assert moe_layer_freq_value({"moe_layer_freq": 1}, {}, False) == {}


def test_mock_data_v01_clears_paths_v26_also_tokenizer():
    values = {"mock_data": True, "data_path": ["d"], "train_data_path": None, "valid_data_path": None,
              "test_data_path": None, "vocab_size": None}
    assert mock_data_clears_paths(values, {}, True) == {k: None for k in
                                                       ("data_path", "train_data_path", "valid_data_path", "test_data_path")}
    v26 = mock_data_clears_paths(values, {}, False)
    assert v26["tokenizer_type"] == "NullTokenizer" and v26["vocab_size"] == 131072
    assert "vocab_size" not in mock_data_clears_paths({**values, "vocab_size": 32000}, {}, False)
    assert mock_data_clears_paths({**values, "mock_data": False}, {}, False) == {}


def test_logging_level_only_at_v01():
    assert logging_level_from_sink({}, {"stderr_sink_level": "DEBUG"}, True) == {"logging_level": 10}
    assert logging_level_from_sink({}, {"stderr_sink_level": "DEBUG"}, False) == {}


def test_apply_reports_rules_and_touches_only_dests():
    values = {"tensor_model_parallel_size": 1, "sequence_parallel": True, "mock_data": True, "data_path": ["x"]}
    applied = apply_handoff(values, {}, False, DESTS - {"vocab_size"})
    assert values["sequence_parallel"] is False and values["data_path"] is None
    assert values["tokenizer_type"] == "NullTokenizer" and "vocab_size" not in values
    assert applied["sequence_parallel"] == "no_sequence_parallel_at_tp1"
