"""Adjustments each Primus release makes to the namespace just before Megatron gets it.

After loading, Primus's Megatron trainer rewrites a few arguments (primus-0.1:
`MegatronTrainer.update_primus_config`, primus/modules/trainer/megatron/trainer.py@v0.1.0-rc1;
primus-26.5: the `build_args` patches in primus/backends/megatron/patches/args/@v26.5.1).
Those that change what trains are reproduced here, one rule per function; the
ones that only point outputs somewhere (checkpoint/tensorboard/wandb paths,
rank and world size) are left out because they depend on the machine. The
`args_defaults` the trainer hands Megatron's validate_args come last: Megatron
applies them after all of these.
"""

from __future__ import annotations

import ast
from typing import Any, Callable


DATA_PATH_KEYS = ("data_path", "train_data_path", "valid_data_path", "test_data_path")
SINK_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
NULL_TOKENIZER_VOCAB_SIZE = 131072  # mock_data_patches.py@v26.5.1
# What each release's pretrain trainer passes as `args_defaults` to Megatron (validate_args sets
# each key still None). v0.1: `trainer.init()` without arguments, so `{}`
# (primus/train.py, primus/modules/trainer/megatron/trainer.py@v0.1.0-rc1); 26.5: GPT2BPETokenizer
# (primus/backends/megatron/megatron_pretrain_trainer.py@v26.5.1), as Megatron's pretrain_gpt.py.
TRAINER_ARGS_DEFAULTS: dict[bool, dict[str, Any]] = {  # keyed by v01
    True: {},
    False: {"tokenizer_type": "GPT2BPETokenizer"},
}

Rule = Callable[[dict[str, Any], dict[str, Any], bool], dict[str, Any]]


def split_data_paths(values: dict[str, Any], primus_only: dict[str, Any], v01: bool) -> dict[str, Any]:
    """"a b c" -> ["a", "b", "c"]. v0.1 splits on single spaces, 26.5 on any whitespace."""
    changed = {}
    for key in DATA_PATH_KEYS:
        value = values.get(key)
        if isinstance(value, str):
            changed[key] = value.split(" ") if v01 else value.split()
        elif isinstance(value, tuple) and not v01:
            changed[key] = list(value)
    return changed


def no_sequence_parallel_at_tp1(values: dict[str, Any], primus_only: dict[str, Any], v01: bool) -> dict[str, Any]:
    if values.get("tensor_model_parallel_size") == 1 and values.get("sequence_parallel") is not False:
        return {"sequence_parallel": False}
    return {}


def iterations_to_skip_list(values: dict[str, Any], primus_only: dict[str, Any], v01: bool) -> dict[str, Any]:
    if "iterations_to_skip" in values and values["iterations_to_skip"] is None:
        return {"iterations_to_skip": []}
    return {}


def _pattern(text: str) -> Any:
    """Evaluate a layer pattern such as "([0]*1+[1]*26)" without running code."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [walk(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = walk(node.left), walk(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError(f"unsupported expression: {ast.dump(node)}")

    return walk(ast.parse(text.strip(), mode="eval"))


def moe_layer_freq_value(values: dict[str, Any], primus_only: dict[str, Any], v01: bool) -> dict[str, Any]:
    """v0.1 applies Megatron's moe_freq_type ("[" -> pattern, else int); 26.5 evaluates any string."""
    value = values.get("moe_layer_freq")
    if not isinstance(value, str):
        return {}
    try:
        if v01 and "[" not in value:
            return {"moe_layer_freq": int(value)}
        return {"moe_layer_freq": _pattern(value)}
    except (ValueError, SyntaxError, TypeError):
        return {}


def mock_data_clears_paths(values: dict[str, Any], primus_only: dict[str, Any], v01: bool) -> dict[str, Any]:
    """With mock_data, data paths become None; 26.5 also forces the NullTokenizer."""
    if not values.get("mock_data"):
        return {}
    changed: dict[str, Any] = {k: None for k in DATA_PATH_KEYS if k in values}
    if not v01:
        changed["tokenizer_type"] = "NullTokenizer"
        if values.get("vocab_size") is None:
            changed["vocab_size"] = NULL_TOKENIZER_VOCAB_SIZE
    return changed


def logging_level_from_sink(values: dict[str, Any], primus_only: dict[str, Any], v01: bool) -> dict[str, Any]:
    """v0.1: logging_level follows the Primus-only stderr_sink_level.

    26.5 ships the same rule as a build_args patch, but it looks the namespace up
    under a context key the runtime never fills (`ctx.extra["args"]`), so there it
    changes nothing and logging_level keeps Megatron's default.
    """
    level = primus_only.get("stderr_sink_level")
    if not v01 or level not in SINK_LEVELS:
        return {}  # an unknown level makes v0.1 stop on a failed check
    return {"logging_level": SINK_LEVELS[level]}


def trainer_args_defaults(values: dict[str, Any], primus_only: dict[str, Any], v01: bool) -> dict[str, Any]:
    """The trainer's args_defaults fill the keys still None: at 26.5 an unset tokenizer_type
    becomes GPT2BPETokenizer (mock data has already forced the NullTokenizer by then)."""
    return {k: v for k, v in TRAINER_ARGS_DEFAULTS[v01].items() if values.get(k) is None}


RULES: tuple[Rule, ...] = (logging_level_from_sink, split_data_paths, no_sequence_parallel_at_tp1,
                           iterations_to_skip_list, moe_layer_freq_value, mock_data_clears_paths,
                           trainer_args_defaults)


def apply_handoff(values: dict[str, Any], primus_only: dict[str, Any], v01: bool,
                  dests: set[str] | frozenset[str]) -> dict[str, str]:
    """Rewrite `values` (Megatron dests) in place; returns dest -> name of the rule that set it."""
    applied: dict[str, str] = {}
    for rule in RULES:
        for key, value in rule(values, primus_only, v01).items():
            if key not in dests:
                continue
            values[key] = value
            applied[key] = rule.__name__
    return applied
