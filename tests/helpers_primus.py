"""Test helpers for the Primus loaders: tiny preset trees and a small Megatron schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

from migrate.megatron.schema import OptionSpec, Schema
from migrate.primus.profiles import Profile, get_profile

# Defaults below are the argparse facts of megatron/training/arguments.py@5a676b36
# (e.g. --lr-warmup-iters default=0, --weight-decay 0.01, --rotary-base 10000,
# --eval-iters 100, store_true flags default False).
_COMMON = [
    OptionSpec(("--num-layers",), "num_layers", type="int"),
    OptionSpec(("--hidden-size",), "hidden_size", type="int"),
    OptionSpec(("--micro-batch-size",), "micro_batch_size", type="int"),
    OptionSpec(("--global-batch-size",), "global_batch_size", type="int"),
    OptionSpec(("--train-iters",), "train_iters", type="int"),
    OptionSpec(("--seq-length",), "seq_length", type="int"),
    OptionSpec(("--lr",), "lr", type="float"),
    OptionSpec(("--min-lr",), "min_lr", default=0.0, type="float"),
    OptionSpec(("--lr-warmup-iters",), "lr_warmup_iters", default=0, type="int"),
    OptionSpec(("--lr-decay-style",), "lr_decay_style", default="linear", type="str",
               choices=("constant", "linear", "cosine", "inverse-square-root", "WSD")),
    OptionSpec(("--weight-decay",), "weight_decay", default=0.01, type="float"),
    OptionSpec(("--rotary-base",), "rotary_base", default=10000, type="int"),
    OptionSpec(("--attention-softmax-in-fp32",), "attention_softmax_in_fp32", action="store_true", default=False),
    OptionSpec(("--sequence-parallel",), "sequence_parallel", action="store_true", default=False),
    OptionSpec(("--use-distributed-optimizer",), "use_distributed_optimizer", action="store_true", default=False),
    OptionSpec(("--eval-iters",), "eval_iters", default=100, type="int"),
    OptionSpec(("--finetune",), "finetune", action="store_true", default=False),
    OptionSpec(("--exit-on-missing-checkpoint",), "exit_on_missing_checkpoint", action="store_true", default=False),
    OptionSpec(("--mock-data",), "mock_data", action="store_true", default=False),
    OptionSpec(("--no-masked-softmax-fusion",), "masked_softmax_fusion", action="store_false", default=True),
    OptionSpec(("--tensor-model-parallel-size",), "tensor_model_parallel_size", default=1, type="int"),
    OptionSpec(("--pipeline-model-parallel-size",), "pipeline_model_parallel_size", default=1, type="int"),
    OptionSpec(("--data-path",), "data_path", nargs="*", type="str"),
    OptionSpec(("--split",), "split", type="str"),
    OptionSpec(("--eval-interval",), "eval_interval", default=1000, type="int"),
    OptionSpec(("--tokenizer-type",), "tokenizer_type", type="str"),
    OptionSpec(("--vocab-size",), "vocab_size", type="int"),
]


def schema_5a676b36() -> Schema:
    """A slice of the primus-0.1 pin: `--norm-epsilon` exists (dest norm_epsilon, default 1e-5)."""
    return Schema("mini-5a676b36", "test", _COMMON + [OptionSpec(("--norm-epsilon",), "norm_epsilon", default=1e-5, type="float")])


def schema_d3528a21() -> Schema:
    """A slice of the primus-26.5 pin: the epsilon dest is `layernorm_epsilon` (TransformerConfig field)."""
    return Schema("mini-d3528a21", "test",
                  _COMMON + [OptionSpec(("--layernorm-epsilon",), "layernorm_epsilon", default=1e-5, type="float")])


def mini_schema(target: str) -> Schema:
    return schema_5a676b36() if target == "primus-0.1" else schema_d3528a21()


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def tiny_profile(root: Path, target: str, files: dict[str, str]) -> Profile:
    """A profile whose presets are `files` (paths relative to a fake `primus/configs`)."""
    configs = write_tree(root / "configs", files)
    (configs / "modules" / "megatron").mkdir(parents=True, exist_ok=True)
    (configs / "models" / "megatron").mkdir(parents=True, exist_ok=True)
    real = get_profile(target)
    return Profile(target, real.megatron_schema, configs, real.rules, real.release,
                   source="test", schema_override=mini_schema(target))


def snapshot_profile(target: str) -> Profile:
    """The bundled snapshot with the mini schema (until the real schema tables are bundled)."""
    profile = get_profile(target)
    profile.schema_override = mini_schema(target)
    return profile


EXPERIMENT = """
work_group: amd
user_name: root
exp_name: test
workspace: ./output
modules:
  pre_trainer:
    framework: megatron
    config: pre_trainer.yaml
    model: {model}
{overrides}
"""


def experiment(model: str = "m.yaml", overrides: str = "") -> str:
    body = ""
    if overrides:
        body = "    overrides:\n" + textwrap.indent(textwrap.dedent(overrides).strip("\n"), "      ") + "\n"
    return EXPERIMENT.format(model=model, overrides=body)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
