"""--keep-knobs classification on hand-built evaluations."""

from __future__ import annotations

from migrate.primus.emit.knobs import apply_spans, classify, coerce, embed, sentinels


def _interpolation(target):
    """How the target's release types `${KNOB:text}` once substituted."""
    from migrate.primus import get_profile

    return get_profile(target).rules.interpolation


def test_coercion_per_target():
    # yaml_utils.py@v0.1.0-rc1 try_convert_numeric: int, then float(); yaml_loader.py@v26.5.1
    # _try_scalar: true/false, int, then a decimal literal
    v01, v26 = _interpolation("primus-0.1"), _interpolation("primus-26.5")
    assert coerce(v01, "8") == 8 and coerce(v26, "8") == 8
    assert coerce(v01, "true") == "true"
    assert coerce(v26, "true") is True
    assert coerce(v01, "1e-5") == 1e-5


def test_sentinels_share_no_digit():
    for value in ("1", "8", "16", "2048", "0", "-1"):
        for s in sentinels(value):
            assert not set(s) & set(value.lstrip("-")) and s != value


def test_embed():
    assert embed("logs/tp8_pp1", "logs/tp23_pp1", "8", "23") == ("logs/tp", "_pp1")
    assert embed("a8b", "a9b", "8", "5") is None
    assert embed("8x8", "23x8", "8", "23") == ("", "x8")
    assert embed("88", "2323", "8", "23") is None


def _runs(**moved_by_sentinel):
    return list(moved_by_sentinel.items())


def test_one_to_one_numeric_knob():
    current = {"tensor_model_parallel_size": 8, "lr": 1e-4}
    runs = [("23", {"tensor_model_parallel_size": 23, "lr": 1e-4}),
            ("24", {"tensor_model_parallel_size": 24, "lr": 1e-4})]
    assert classify("TP", "8", current, runs, _interpolation("primus-0.1")) == {"tensor_model_parallel_size": "${TP:8}"}


def test_string_embedding_the_knob_follows_as_a_template():
    current = {"tensor_model_parallel_size": 8, "tensorboard_dir": "exp/tp8_pp1"}
    runs = [("23", {"tensor_model_parallel_size": 23, "tensorboard_dir": "exp/tp23_pp1"}),
            ("24", {"tensor_model_parallel_size": 24, "tensorboard_dir": "exp/tp24_pp1"})]
    assert classify("TP", "8", current, runs, _interpolation("primus-26.5")) == {
        "tensor_model_parallel_size": "${TP:8}", "tensorboard_dir": (6, 7, "${TP:8}")}


def test_spans_of_several_knobs_combine():
    assert apply_spans("exp/mbs2_tp8", [(11, 12, "${TP:8}"), (7, 8, "${MBS:2}")]) == "exp/mbs${MBS:2}_tp${TP:8}"
    assert apply_spans("abc", [(0, 2, "x"), (1, 3, "y")]) is None


def test_knob_feeding_two_numbers_is_not_kept():
    current = {"num_layers": 32, "recompute_num_layers": 32}
    runs = [("65", {"num_layers": 65, "recompute_num_layers": 65}),
            ("66", {"num_layers": 66, "recompute_num_layers": 66})]
    assert classify("NUM_LAYERS", "32", current, runs, _interpolation("primus-0.1")) is None


def test_branch_knob_is_not_kept():
    current = {"hidden_size": 4096, "num_layers": 32}
    runs = [("23", {"hidden_size": 8192, "num_layers": 80}), ("24", {"hidden_size": 8192, "num_layers": 80})]
    assert classify("MODEL_SIZE", "8", current, runs, _interpolation("primus-0.1")) is None


def test_flag_switch_is_not_kept_because_the_types_differ():
    current = {"sequence_parallel": True}
    runs = [("9", {"sequence_parallel": False}), ("20", {"sequence_parallel": False})]
    assert classify("SEQ_PARALLEL", "1", current, runs, _interpolation("primus-26.5")) is None


def test_knob_changing_nothing_is_not_kept():
    assert classify("MASTER_PORT", "6000", {"lr": 1.0}, [("7", {"lr": 1.0}), ("8", {"lr": 1.0})],
                    _interpolation("primus-0.1")) is None
