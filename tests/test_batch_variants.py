"""Which knob assignments the batch converts (model sizes yes, toggles no) and --knobs parsing."""

from __future__ import annotations

import pytest

from migrate.batch.variants import (
    KnobInfo,
    auto_variants,
    drop_thresholds,
    explicit_variants,
    is_toggle,
    is_varied,
    selects_model,
    knob_values,
    label_for,
    natural_key,
    parse_knobs_option,
)
from migrate.diagnostics import MigrateError


@pytest.mark.parametrize(
    "literals,toggle",
    [
        (["8", "70"], False),
        (["8x7b", "8x22b"], False),
        (["1"], True),
        (["0", "1"], True),
        (["true"], True),
        (["True", "off"], True),
        ([""], True),              # [ -z "$X" ] is not a value choice
        ([], True),
        (["bf16", ""], False),
        (["1", "2"], False),       # 2 is not a boolean: PP == 2 is a real choice
    ],
)
def test_only_non_boolean_comparisons_make_a_knob_vary(literals, toggle):
    assert is_toggle(KnobInfo("K", "0", literals)) is toggle


def test_values_put_the_default_first_then_natural_order():
    assert sorted(["8x22b", "8x7b"], key=natural_key) == ["8x7b", "8x22b"]
    assert knob_values(KnobInfo("MODEL_SIZE", "8", ["70", "13", "8", "7"])) == [None, "7", "13", "70"]


def test_model_size_variants_name_the_default_by_its_value():
    knobs = {"MODEL_SIZE": KnobInfo("MODEL_SIZE", "8", ["8", "70"]), "TE_FP8": KnobInfo("TE_FP8", "0", ["1"]),
             "MBS": KnobInfo("MBS", "2", [])}
    variants, capped = auto_variants(knobs)
    assert not capped
    assert [(v.label, v.env, v.is_default) for v in variants] == [
        ("MODEL_SIZE=8", (), True),
        ("MODEL_SIZE=70", (("MODEL_SIZE", "70"),), False),
    ]


def test_knob_without_default_keeps_an_unset_variant():
    variants, _ = auto_variants({"MODEL": KnobInfo("MODEL", None, ["8x22b", "8x7b"])})
    assert [(v.label, v.env) for v in variants] == [
        ("MODEL=unset", ()),
        ("MODEL=8x7b", (("MODEL", "8x7b"),)),
        ("MODEL=8x22b", (("MODEL", "8x22b"),)),
    ]


def test_no_varied_knob_gives_the_defaults_only():
    variants, capped = auto_variants({"TE_FP8": KnobInfo("TE_FP8", "0", ["1"])})
    assert [(v.label, v.env, v.is_default) for v in variants] == [("default", (), True)]
    assert not capped


def test_cartesian_product_in_knob_name_order_and_capped():
    knobs = {"MODEL_SIZE": KnobInfo("MODEL_SIZE", "8", ["70"]), "PP": KnobInfo("PP", "1", ["2", "4"])}
    variants, capped = auto_variants(knobs, all_choices=True)
    assert [v.label for v in variants] == [
        "MODEL_SIZE=8,PP=1", "MODEL_SIZE=8,PP=2", "MODEL_SIZE=8,PP=4",
        "MODEL_SIZE=70,PP=1", "MODEL_SIZE=70,PP=2", "MODEL_SIZE=70,PP=4",
    ]
    assert not capped
    few, capped = auto_variants(knobs, cap=4, all_choices=True)
    assert [v.label for v in few] == [v.label for v in variants[:4]] and capped


def test_labels_are_file_name_safe():
    assert label_for([("DATA", "a/b c")]) == "DATA=a_b_c"
    assert label_for([("X", "")]) == "X=empty"
    assert label_for([]) == "default"


def test_explicit_knobs_apply_only_where_declared():
    variants, capped, ignored = explicit_variants({"MODEL_SIZE": ["8", "70"], "TP": ["1"], "EP": ["8"]},
                                                  ["MODEL_SIZE", "TP", "MBS"])
    assert ignored == ["EP"] and not capped
    assert [(v.label, v.env) for v in variants] == [
        ("MODEL_SIZE=8,TP=1", (("MODEL_SIZE", "8"), ("TP", "1"))),
        ("MODEL_SIZE=70,TP=1", (("MODEL_SIZE", "70"), ("TP", "1"))),
    ]


def test_parse_knobs_option():
    assert parse_knobs_option("MODEL_SIZE=8,70 TP=1") == {"MODEL_SIZE": ["8", "70"], "TP": ["1"]}
    assert parse_knobs_option("  A=x,x,y ") == {"A": ["x", "y"]}


@pytest.mark.parametrize("text", ["", "MODEL_SIZE", "8=1", "A=1 A=2", "-X=1"])
def test_parse_knobs_option_rejects_malformed(text):
    with pytest.raises(MigrateError, match="--knobs"):
        parse_knobs_option(text)


def test_thresholds_are_not_choices():
    text = ('if [ "$SEQ_LENGTH" -gt 4096 ]; then RECOMPUTE=1; fi\n'
            'if (( GBS >= 256 )); then :; fi\n'
            'if [[ $MODEL_SIZE -eq 70 ]]; then NUM_LAYERS=80; fi\n')
    assert drop_thresholds(KnobInfo("SEQ_LENGTH", "8192", ["4096"]), text).compared_with == []
    assert drop_thresholds(KnobInfo("GBS", "128", ["256"]), text).compared_with == []
    assert drop_thresholds(KnobInfo("MODEL_SIZE", "8", ["70"]), text).compared_with == ["70"]


def test_only_model_selecting_choices_vary_unless_all_choices():
    knobs = {"MODEL_SIZE": KnobInfo("MODEL_SIZE", "16B", ["16B", "236B"]), "PR": KnobInfo("PR", "bf16", ["fp8"]),
             "AC": KnobInfo("AC", "sel", ["full"]), "MODEL_NAME": KnobInfo("MODEL_NAME", "a", ["b"])}
    assert [v.label for v in auto_variants(knobs)[0]] == [
        "MODEL_NAME=a,MODEL_SIZE=16B", "MODEL_NAME=a,MODEL_SIZE=236B",
        "MODEL_NAME=b,MODEL_SIZE=16B", "MODEL_NAME=b,MODEL_SIZE=236B"]
    assert len(auto_variants(knobs, all_choices=True)[0]) == 16
    assert selects_model("model_size") and selects_model("MODEL") and selects_model("SIZE")
    assert not selects_model("PR") and not selects_model("TP")
    assert not is_varied(KnobInfo("MODEL_SIZE", "8", ["1"]))  # model-named but a toggle
    assert is_varied(KnobInfo("OPTIMIZER", "adam", ["sgd"]), all_choices=True)
