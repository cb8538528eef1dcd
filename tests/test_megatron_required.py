"""A legacy run Megatron-LM would not have started is refused, naming what is missing and the
unset variables that were to supply it (migrate.megatron.required).

Expected values come from reading megatron/training/arguments.py (validate_args,
_check_arg_is_not_none) and megatron/training/training.py (get_optimizer_param_scheduler,
OptimizerParamScheduler) at ROCm rocm_dev f712ab84, NVIDIA 5a676b36 and d3528a21, where these
checks read the same; the reasoning is beside each case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_convert import SCRIPTS
from migrate.diagnostics import MigrateError
from migrate.megatron import load_schema, parse_argv
from migrate.megatron.required import check_legacy_run_starts, missing_values, rejected_values

BAD = SCRIPTS / "bad"

COMPLETE = ["--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4", "--seq-length", "128",
            "--max-position-embeddings", "128", "--micro-batch-size", "1", "--lr", "1e-4", "--train-iters", "10"]


def _args(argv: list[str], schema: str = "rocm_dev") -> dict:
    return parse_argv(load_schema(schema), argv).args


def _without(flag: str) -> list[str]:
    at = COMPLETE.index(flag)
    return COMPLETE[:at] + COMPLETE[at + 2:]


@pytest.mark.parametrize("schema", ["rocm_dev", "5a676b36", "d3528a21"])
def test_a_complete_argv_starts(schema):
    assert missing_values(_args(COMPLETE, schema)) == [] and rejected_values(_args(COMPLETE, schema)) == []


# flag left out -> what Megatron fails on, per the upstream code:
@pytest.mark.parametrize("flag,name", [
    ("--num-layers", "num_layers"),  # 'either num-layers or encoder-num-layers should be specified'
    ("--hidden-size", "hidden_size"),  # _check_arg_is_not_none: 'hidden_size argument is None'
    ("--num-attention-heads", "num_attention_heads"),  # _check_arg_is_not_none
    ("--max-position-embeddings", "max_position_embeddings"),  # _check_arg_is_not_none (no fallback to seq_length)
    ("--seq-length", "seq_length"),  # `assert args.encoder_seq_length is not None`
    ("--micro-batch-size", "micro_batch_size"),  # `assert args.micro_batch_size is not None`
    ("--lr", "lr"),  # OptimizerParamScheduler: float(max_lr) with max_lr=args.lr=None
    ("--train-iters", "train_iters or train_samples"),  # 'either train-iters or train-samples should be provided.'
])
@pytest.mark.parametrize("schema", ["rocm_dev", "5a676b36", "d3528a21"])
def test_each_required_value(schema, flag, name):
    assert [n for n, _ in missing_values(_args(_without(flag), schema))] == [name]


def test_the_alternatives_megatron_accepts():
    # validate_args takes encoder_num_layers for num_layers and encoder_seq_length for seq_length;
    # get_optimizer_param_scheduler takes train_samples instead of train_iters
    argv = _without("--num-layers") + ["--encoder-num-layers", "2"]
    argv = argv[:argv.index("--seq-length")] + argv[argv.index("--seq-length") + 2:] + ["--encoder-seq-length", "128"]
    argv = argv[:argv.index("--train-iters")] + argv[argv.index("--train-iters") + 2:] + ["--train-samples", "80"]
    assert missing_values(_args(argv)) == []


@pytest.mark.parametrize("extra,words", [
    (["--min-lr", "1e-3"], "min_lr 0.001 is above lr 0.0001"),  # `assert args.min_lr <= args.lr`
    (["--max-position-embeddings", "64"], "below seq_length 128"),  # max_position_embeddings >= seq_length
    (["--hidden-size", "66"], "not a multiple"),  # kv_channels unset: hidden_size % num_attention_heads == 0
    (["--save", "ckpt"], "--save-interval"),  # with save set: `assert args.save_interval is not None`
    (["--micro-batch-size", "0"], "micro_batch_size must be > 0"),  # `assert args.micro_batch_size > 0`
])
def test_values_validate_args_rejects(extra, words):
    problems = rejected_values(_args(COMPLETE + extra))
    assert len(problems) == 1 and words in problems[0]


def test_kv_channels_lifts_the_divisibility_check():
    # validate_args divides hidden_size by the heads only when --kv-channels is not given
    assert rejected_values(_args(COMPLETE + ["--hidden-size", "66", "--kv-channels", "16"])) == []


def test_args_defaults_fill_before_the_check():
    # validate_args applies the entry's args_defaults to Nones before its assertions
    class _Plan:
        knobs, argv, entry = [], [], "x.py"

        class launcher:
            argv = []

    check_legacy_run_starts(_args(_without("--micro-batch-size")), {"micro_batch_size": 1}, _Plan(), None)
    with pytest.raises(MigrateError):
        check_legacy_run_starts(_args(_without("--micro-batch-size")), {}, _Plan(), None)


# ---- through convert: the refusal names the variables

def _line_of(script: Path, text: str) -> int:
    return next(i for i, line in enumerate(script.read_text().splitlines(), 1) if text in line)


def test_unset_params_variable_is_named(cli, tmp_path):
    script = BAD / "params_unset.sh"
    out = tmp_path / "out"
    r = cli(script, "-o", out)
    assert r.code == 2 and not out.exists()
    assert f"{script.name}:{_line_of(script, 'torchrun')}: error: Megatron-LM would refuse to start pretrain_gpt.py" \
        in r.err
    for name in ("num_layers", "hidden_size", "num_attention_heads", "max_position_embeddings", "seq_length",
                 "lr (--lr)", "train_iters or train_samples"):
        assert name in r.err
    assert "micro_batch_size" not in r.err  # BATCH_ARGS still carried it
    assert f"${{MEGATRON_PARAMS}} unset at line {_line_of(script, '${MEGATRON_PARAMS}')}" in r.err


def test_the_same_script_converts_once_the_variable_is_given(cli, tmp_path):
    params = " ".join(COMPLETE[:-4] + ["--lr", "1e-4", "--train-iters", "10", "--tokenizer-type", "NullTokenizer",
                                       "--vocab-size", "512"])
    r = cli(BAD / "params_unset.sh", f"MEGATRON_PARAMS={params}", "-o", tmp_path / "out", "--target", "primus-0.1")
    assert r.code == 0, r.err


def test_an_option_left_without_its_value_names_the_unset_variables(cli, tmp_path):
    # MODEL_SIZE=70 is not in the script's if/elif: LAYERS, HIDDEN, HEADS stay unset and
    # `--num-layers --hidden-size ...` is what argparse sees ('expected one argument')
    script = BAD / "model_size_unknown.sh"
    r = cli(script, "MODEL_SIZE=70", "-o", tmp_path / "out")
    assert r.code == 2
    assert "option --num-layers expects a value" in r.err
    line = _line_of(script, "GPT_ARGS=")
    assert f"${{LAYERS}} unset at line {line}" in r.err and f"${{HEADS}} unset at line {line}" in r.err


def test_parity_refuses_the_run_that_never_started(cli):
    r = cli("parity", BAD / "params_unset.sh", "--static")
    assert r.code == 2 and "MEGATRON_PARAMS" in r.err and "Traceback" not in r.err
