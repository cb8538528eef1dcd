"""parse_argv reads an argv exactly as argparse does (checked against argparse itself)."""

from __future__ import annotations

import shlex

import pytest

from helpers_megatron import oracle_parse
from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.megatron import MegatronArgs, load_schema, parse_argv
from migrate.shell.plan import Token

LLAMA_ARGV = """
--tensor-model-parallel-size 8 --pipeline-model-parallel-size 1 --sequence-parallel
--num-layers 32 --hidden-size 4096 --ffn-hidden-size 14336 --num-attention-heads 32
--seq-length 8192 --max-position-embeddings 131072 --group-query-attention --num-query-groups 8
--untie-embeddings-and-output-weights --position-embedding-type rope --rotary-base 500000
--normalization RMSNorm --norm-epsilon 1e-05 --swiglu --disable-bias-linear --no-masked-softmax-fusion
--no-position-embedding --attention-dropout 0.0 --hidden-dropout 0.0 --init-method-std 0.02
--micro-batch-size 2 --global-batch-size 128 --train-iters 20 --lr 3.0e-4 --min-lr 3.0e-5
--lr-decay-style cosine --lr-warmup-iters 2 --weight-decay 0.1 --clip-grad 1.0 --adam-beta1 0.9
--adam-beta2 0.95 --bf16 --use-flash-attn --use-distributed-optimizer --overlap-grad-reduce
--tokenizer-type HuggingFaceTokenizer --tokenizer-model meta-llama/Llama-3.1-8B --mock-data
--split 99990,8,2 --log-interval 1 --eval-iters -1 --eval-interval 1000 --save-interval 5000
--no-gradient-accumulation-fusion --distributed-backend nccl --transformer-impl transformer_engine
--fp8-margin 0 --fp8-format hybrid --fp8-amax-history-len 1024 --fp8-amax-compute-algo max
--recompute-granularity full --recompute-method uniform --recompute-num-layers 1
--data-path 0.3 /data/a_text_document 0.7 /data/b_text_document
"""

ORACLE_CASES = [
    LLAMA_ARGV,
    "",
    "--eval-iters 10 --lr 1e-4 --eval-iters -1",
    "--eval-iters=5 --lr=1 --lr=2",
    "--lr -.5 --min-lr -1",
    "--data-path a b c --split 1,2,3",
    "--data-path=only_one",
    "--bf16 --bf16 --fp16",
    "--no-masked-softmax-fusion --attention-softmax-in-fp32",
    "--normalization LayerNorm --normalization RMSNorm",
    "--seq-length 4096 --micro-batch-size 1 --micro-batch-size 4",
    "--data-path --lr 1",  # nargs=+ with nothing after it: argparse refuses
    "--lr",  # missing value
    "--micro-batch-size two",  # wrong type
    "--fp8-format hybird",  # outside choices
    "--no-such-flag 3",
    "--lr 1 stray",
    "--eval-iter 10",  # abbreviation of --eval-iters: no abbreviations
    "--bf16=1",  # store_true with a value
    "--lr -1e-5",  # argparse reads -1e-5 as an option, so --lr has no value
    "--tokenizer-model 'a b' --lr 2",
]


@pytest.mark.parametrize("schema_name", ["rocm_dev", "d3528a21"])
@pytest.mark.parametrize("argv_text", ORACLE_CASES)
def test_parse_argv_matches_argparse(schema_name, argv_text):
    schema = load_schema(schema_name)
    argv = shlex.split(argv_text)
    expected = oracle_parse(schema, argv)
    if expected is None:
        with pytest.raises(MigrateError):
            parse_argv(schema, argv)
        return
    got = parse_argv(schema, argv)
    assert got.args.keys() == expected.keys()
    for dest, value in expected.items():
        assert got.args[dest] == value and type(got.args[dest]) is type(value), dest


def test_boolean_optional_action_both_spellings_d3528a21():
    schema = load_schema("d3528a21")
    argv = ["--inference-wandb-logging", "--no-inference-wandb-logging", "--rl-partial-rollouts"]
    expected = oracle_parse(schema, argv)
    got = parse_argv(schema, argv)
    assert got.args["inference_wandb_logging"] is False is expected["inference_wandb_logging"]
    assert got.args["rl_partial_rollouts"] is True is expected["rl_partial_rollouts"]


def test_fixed_nargs_three_d3528a21():
    schema = load_schema("d3528a21")
    got = parse_argv(schema, ["--rampup-batch-size", "16", "8", "300000"])
    assert got.args["rampup_batch_size"] == [16, 8, 300000]
    assert oracle_parse(schema, ["--rampup-batch-size", "16", "8"]) is None
    with pytest.raises(MigrateError, match="expects 3 values"):
        parse_argv(schema, ["--rampup-batch-size", "16", "8"])


def test_rocm_flags_set_the_documented_dests():
    m = parse_argv(load_schema("rocm_dev"), shlex.split(
        "--no-masked-softmax-fusion --disable-bias-linear --no-position-embedding --fp8-format hybrid "
        "--norm-epsilon 1e-6 --eval-iters 10 --eval-iters -1"))
    assert m.args["masked_softmax_fusion"] is False
    assert m.args["add_bias_linear"] is False
    assert m.args["add_position_embedding"] is False
    assert m.args["fp8"] == "hybrid"
    assert m.args["norm_epsilon"] == 1e-6
    assert m.args["eval_iters"] == -1
    assert set(m.explicit) == {"masked_softmax_fusion", "add_bias_linear", "add_position_embedding", "fp8",
                               "norm_epsilon", "eval_iters"}
    # not given: the parser's defaults
    assert m.args["lr_warmup_iters"] == 0 and m.args["weight_decay"] == 0.01 and m.args["swiglu"] is False


def test_norm_epsilon_lands_in_layernorm_epsilon_at_d3528a21():
    m = parse_argv(load_schema("d3528a21"), ["--norm-epsilon", "1e-6"])
    assert m.args["layernorm_epsilon"] == 1e-6
    assert "norm_epsilon" not in m.args


def test_explicit_records_origin_of_last_occurrence():
    toks = [
        Token("--eval-iters", Origin("train.sh", 10)), Token("10", Origin("train.sh", 10)),
        Token("--bf16", Origin("train.sh", 11)),
        Token("--eval-iters", Origin("train.sh", 40)), Token("-1", Origin("train.sh", 40)),
    ]
    m = parse_argv(load_schema("rocm_dev"), toks)
    assert isinstance(m, MegatronArgs) and m.schema == "rocm_dev"
    assert m.explicit == {"eval_iters": Origin("train.sh", 40), "bf16": Origin("train.sh", 11)}
    assert m.args["eval_iters"] == -1


def _err(argv_tokens):
    with pytest.raises(MigrateError) as info:
        parse_argv(load_schema("rocm_dev"), argv_tokens)
    return info.value


def test_unknown_flag_error_has_origin_and_suggestion():
    err = _err([Token("--no-masked-softmax-fusions", Origin("run.sh", 7, 3))])
    assert err.origin == Origin("run.sh", 7, 3)
    assert "--no-masked-softmax-fusions" in err.message
    assert "--no-masked-softmax-fusion" in (err.hint or "")


def test_missing_value_error():
    err = _err([Token("--lr", Origin("run.sh", 3)), Token("--bf16", Origin("run.sh", 4))])
    assert err.origin == Origin("run.sh", 3) and "--lr" in err.message and "expects a value" in err.message


def test_wrong_type_error_names_flag_origin_and_expected_type():
    err = _err([Token("--micro-batch-size", Origin("run.sh", 5)), Token("two", Origin("run.sh", 6))])
    assert err.origin == Origin("run.sh", 6)
    assert "--micro-batch-size" in err.message and "'two'" in err.message and "int" in err.message
    assert "integer" in (err.hint or "")


def test_choice_error_lists_allowed_values():
    err = _err([Token("--fp8-format", Origin("run.sh", 9)), Token("hybird", Origin("run.sh", 9))])
    assert "--fp8-format" in err.message and "'e4m3'" in err.hint and "'hybrid'" in err.hint


def test_unknown_token_value_is_kept_with_a_warning():
    diags = Diagnostics()
    toks = [Token("--micro-batch-size", Origin("run.sh", 2)), Token("$MBS", Origin("run.sh", 2), unknown=True)]
    m = parse_argv(load_schema("rocm_dev"), toks, diags)
    assert m.args["micro_batch_size"] == "$MBS"
    assert [d.code for d in diags] == ["megatron-unknown-value"]


def test_custom_layer_pattern_type():
    schema = load_schema("rocm_dev")
    assert parse_argv(schema, ["--moe-layer-freq", "([1]*3+[0]*1)*2"]).args["moe_layer_freq"] == [1, 1, 1, 0] * 2
    assert parse_argv(schema, ["--moe-layer-freq", "2"]).args["moe_layer_freq"] == 2
    with pytest.raises(MigrateError):
        parse_argv(schema, ["--moe-layer-freq", "__import__('os')"])


def test_enum_typed_option_keeps_member_name():
    schema = load_schema("rocm_dev")
    assert parse_argv(schema, []).args["attention_backend"] == "auto"
    assert parse_argv(schema, ["--attention-backend", "flash"]).args["attention_backend"] == "flash"
    with pytest.raises(MigrateError, match="attention-backend"):
        parse_argv(schema, ["--attention-backend", "fast"])


def test_defaults_are_not_shared_between_runs():
    schema = load_schema("d3528a21")
    first = parse_argv(schema, [])
    for value in first.args.values():
        if isinstance(value, list):
            value.append("mutated")
    second = parse_argv(schema, [])
    assert not any(isinstance(v, list) and "mutated" in v for v in second.args.values())


def test_statically_unknown_word_in_flag_position_says_so():
    err = _err([Token("$EXTRA", Origin("run.sh", 12), unknown=True)])
    assert err.origin == Origin("run.sh", 12) and "statically" in (err.hint or "")


# ---- property: random argvs over builtin-typed options agree with argparse

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from helpers_megatron import argparse_from_schema  # noqa: E402

_SCHEMA = load_schema("rocm_dev")
_ORACLE = argparse_from_schema(_SCHEMA)
_OPTIONS = sorted(
    opt for spec in _SCHEMA.options for opt in spec.option_strings
    if spec.type in (None, "int", "float", "str") and spec.action in ("store", "store_true", "store_false")
)
_WORDS = st.one_of(
    st.sampled_from(_OPTIONS),
    st.sampled_from(["1", "-1", "0.5", "-.5", "1e-5", "-1e-5", "x", "two", "hybrid", "RMSNorm", "rope", "--", "-"]),
    st.builds(lambda o, v: f"{o}={v}", st.sampled_from(_OPTIONS), st.sampled_from(["3", "x", "", "-2"])),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_WORDS, max_size=8))
def test_random_argv_agrees_with_argparse(argv):
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):
        try:
            expected = vars(_ORACLE.parse_args(argv))
        except (SystemExit, Exception):  # argparse refuses (ArgumentError or exit)
            expected = None
    if expected is None:
        with pytest.raises(MigrateError):
            parse_argv(_SCHEMA, argv)
        return
    got = parse_argv(_SCHEMA, argv).args
    assert got == expected
