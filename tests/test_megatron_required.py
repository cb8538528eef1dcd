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
from migrate.megatron.required import (
    check_legacy_run_starts,
    missing_values,
    rejected_values,
)

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
    # `if args.overlap_param_gather:` asserts use_distributed_optimizer, then overlap_grad_reduce
    (["--overlap-param-gather", "--overlap-grad-reduce"], "distributed optimizer"),
    (["--overlap-param-gather", "--use-distributed-optimizer"], "needs --overlap-grad-reduce"),
])
def test_values_validate_args_rejects(extra, words):
    problems = rejected_values(_args(COMPLETE + extra))
    assert len(problems) == 1 and words in problems[0]


def test_overlap_param_gather_with_what_it_needs_starts():
    assert rejected_values(_args(COMPLETE + ["--overlap-param-gather", "--overlap-grad-reduce",
                                             "--use-distributed-optimizer"])) == []


def test_kv_channels_lifts_the_divisibility_check():
    # validate_args divides hidden_size by the heads only when --kv-channels is not given
    assert rejected_values(_args(COMPLETE + ["--hidden-size", "66", "--kv-channels", "16"])) == []


def test_args_defaults_fill_before_the_check(tmp_path):
    # validate_args applies the entry's args_defaults to Nones before its assertions
    from migrate.shell import evaluate_script

    script = tmp_path / "t.sh"
    script.write_text("torchrun --nproc_per_node 8 pretrain_gpt.py " + " ".join(_without("--micro-batch-size")) + "\n")
    plan = evaluate_script(script, {}, [])
    parsed = parse_argv(load_schema("rocm_dev"), plan.argv)
    check_legacy_run_starts(parsed, {"micro_batch_size": 1}, plan, None)
    with pytest.raises(MigrateError):
        check_legacy_run_starts(parsed, {}, plan, None)


@pytest.mark.parametrize("extra,problems", [
    # validate_args' --use-torch-fsdp2 block, rocm_dev f712ab84
    ([], ["gradient accumulation fusion", "tied embeddings"]),  # fusion on by default; embeddings tied
    (["--no-gradient-accumulation-fusion", "--untie-embeddings-and-output-weights"], []),
    (["--no-gradient-accumulation-fusion", "--untie-embeddings-and-output-weights", "--use-distributed-optimizer",
      "--pipeline-model-parallel-size", "2"], ["pipeline parallelism", "--use-distributed-optimizer"]),
    (["--no-gradient-accumulation-fusion", "--untie-embeddings-and-output-weights", "--ckpt-format", "torch"],
     ["--ckpt-format torch"]),
])
def test_fsdp2_conflicts(extra, problems):
    found = rejected_values(_args(COMPLETE + ["--use-torch-fsdp2", *extra]))
    assert len(found) == len(problems) and all(p in f for p, f in zip(problems, found)), found


def test_fsdp2_ckpt_format_differs_by_era():
    # 5a676b36 and d3528a21 accept torch_dcp as well; rocm_dev only torch_dist
    args = dict(_args(COMPLETE + ["--use-torch-fsdp2", "--no-gradient-accumulation-fusion",
                                  "--untie-embeddings-and-output-weights"], "d3528a21"), ckpt_format="torch_dcp")
    assert rejected_values(args, "new") == [] and rejected_values(args, "rocm") != []


def test_rocm_tp_without_sequence_parallel_is_warned_not_refused(tmp_path):
    # rocm_dev f712ab84 validate_args: `if args.tensor_model_parallel_size > 1: assert args.sequence_parallel`
    # sits outside its `if args.num_experts is not None:` block (TP clamped to the world size first)
    from migrate.diagnostics import Diagnostics
    from migrate.shell import evaluate_script

    for nproc, tp, sp, warned in [(8, 2, "", True), (8, 2, "--sequence-parallel", False), (1, 2, "", False),
                                  (8, 1, "", False)]:
        script = tmp_path / "t.sh"
        script.write_text(f"torchrun --nproc_per_node {nproc} pretrain_gpt.py {' '.join(COMPLETE)} "
                          f"--tensor-model-parallel-size {tp} {sp}\n")
        plan = evaluate_script(script, {}, [])
        diags = Diagnostics()
        check_legacy_run_starts(parse_argv(load_schema("rocm_dev"), plan.argv), {}, plan, None, diags)
        assert any(d.code == "megatron-would-reject" for d in diags) is warned, (nproc, tp, sp)


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
