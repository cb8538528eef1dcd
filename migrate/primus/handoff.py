"""Adjustments each Primus release makes to the namespace just before Megatron gets it.

After loading, Primus's Megatron trainer rewrites arguments (the legacy trainer:
`MegatronTrainer.update_primus_config`, primus/modules/trainer/megatron/trainer.py, v0.1.0-rc1 to
v0.7.0; the core runtime: the `build_args` patches in primus/backends/megatron/patches/args/,
v26.2 on). Each rule is one function of the namespace and the release's `TrainerFacts`
(migrate.primus.releases: what its trainer does, e.g. `always_sets_save`); this module holds the
rules, the release modules hold which of them apply:

- rewrites that change what trains (data path split, TP=1 sequence parallel, mock data, ...);
- where outputs go: both releases point checkpoints, TensorBoard and W&B at the experiment
  folder (`<workspace>/<work_group>/<user_name>/<exp_name>`), shown here as `EXP_ROOT/...`
  (`experiment_path`). The legacy trainer always sets `save` (so it always writes checkpoints
  unless nothing triggers one) and turns TensorBoard off unless `disable_tensorboard: false`;
  v26.5.0+ keep `save: null` and every core release keeps `tensorboard_dir` while TensorBoard is
  "disabled";
- what makes the trainer stop before training (`trainer_refusals`), e.g. the legacy trainer's
  `args.data_path.split(" ")` on a YAML list.

Rank and world size (set from the launcher) are left out: they depend on the machine. The
`args_defaults` the trainer hands Megatron's validate_args come last: Megatron applies them
after all of these.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Mapping

from migrate.primus.releases.base import TrainerFacts


DATA_PATH_KEYS = ("data_path", "train_data_path", "valid_data_path", "test_data_path")
SINK_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
NULL_TOKENIZER_VOCAB_SIZE = 131072  # mock_data_patches.py@v26.5.1

Rule = Callable[[dict[str, Any], dict[str, Any], TrainerFacts], dict[str, Any]]


def split_data_paths(values: dict[str, Any], primus_only: dict[str, Any],
                     trainer: TrainerFacts) -> dict[str, Any]:
    """"a b c" -> ["a", "b", "c"]: on single spaces (`.split(" ")`) or any whitespace (`.split()`)."""
    changed = {}
    for key in DATA_PATH_KEYS:
        value = values.get(key)
        if isinstance(value, str):
            changed[key] = value.split(" ") if trainer.data_paths_split_on_space else value.split()
        elif isinstance(value, tuple) and not trainer.data_paths_must_be_strings:
            changed[key] = list(value)
    return changed


def no_sequence_parallel_at_tp1(values: dict[str, Any], primus_only: dict[str, Any],
                                trainer: TrainerFacts) -> dict[str, Any]:
    if values.get("tensor_model_parallel_size") == 1 and values.get("sequence_parallel") is not False:
        return {"sequence_parallel": False}
    return {}


def iterations_to_skip_list(values: dict[str, Any], primus_only: dict[str, Any],
                            trainer: TrainerFacts) -> dict[str, Any]:
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


def moe_layer_freq_value(values: dict[str, Any], primus_only: dict[str, Any],
                         trainer: TrainerFacts) -> dict[str, Any]:
    """Megatron's moe_freq_type ("[" -> pattern, else int), or `eval` of any string, or kept as written."""
    value = values.get("moe_layer_freq")
    if not isinstance(value, str) or trainer.moe_layer_freq == "kept":
        return {}
    try:
        if trainer.moe_layer_freq == "moe_freq_type" and "[" not in value:
            return {"moe_layer_freq": int(value)}
        return {"moe_layer_freq": _pattern(value)}
    except (ValueError, SyntaxError, TypeError):
        return {}


def mock_data_clears_paths(values: dict[str, Any], primus_only: dict[str, Any],
                           trainer: TrainerFacts) -> dict[str, Any]:
    """With mock_data, data paths become None; from v26.3 the NullTokenizer is forced too."""
    if not values.get("mock_data"):
        return {}
    changed: dict[str, Any] = {k: None for k in DATA_PATH_KEYS if k in values}
    if trainer.mock_data_null_tokenizer:
        changed["tokenizer_type"] = "NullTokenizer"
        if values.get("vocab_size") is None:
            changed["vocab_size"] = NULL_TOKENIZER_VOCAB_SIZE
    return changed


def logging_level_from_sink(values: dict[str, Any], primus_only: dict[str, Any],
                            trainer: TrainerFacts) -> dict[str, Any]:
    """The legacy trainer: logging_level follows the Primus-only stderr_sink_level.

    The core runtime ships the same rule as a build_args patch, but it looks the namespace up
    under a context key the runtime never fills (`ctx.extra["args"]`), so there it
    changes nothing and logging_level keeps Megatron's default.
    """
    level = primus_only.get("stderr_sink_level")
    if not trainer.logging_level_from_sink or level not in SINK_LEVELS:
        return {}  # an unknown level makes the legacy trainer stop on a failed check
    return {"logging_level": SINK_LEVELS[level]}


def trainer_args_defaults(values: dict[str, Any], primus_only: dict[str, Any],
                          trainer: TrainerFacts) -> dict[str, Any]:
    """The trainer's args_defaults fill the keys still None: in the core runtime an unset
    tokenizer_type becomes GPT2BPETokenizer (mock data has already forced the NullTokenizer by then)."""
    return {k: v for k, v in trainer.args_defaults.items() if values.get(k) is None}


# ---- where outputs go ---------------------------------------------------------------------

EXP_ROOT = "EXP_ROOT"  # stands for the experiment folder: <workspace>/<work_group>/<user_name>/<exp_name>
# Primus-only switches each release reads (the module presets set them true, and a missing one
# reads as False in the core runtime (`getattr(params, key, False)`); the legacy trainer needs the key).
OUTPUT_SWITCHES = ("disable_tensorboard", "disable_wandb", "disable_last_saving")


def experiment_path(sub: str = "") -> str:
    """A path the trainer sets under the experiment folder, e.g. EXP_ROOT/checkpoints."""
    return f"{EXP_ROOT}/{sub}" if sub else EXP_ROOT


def is_experiment_path(value: Any) -> bool:
    return isinstance(value, str) and (value == EXP_ROOT or value.startswith(EXP_ROOT + "/"))


def _switch(primus_only: dict[str, Any], key: str) -> bool:
    return bool(primus_only.get(key, False))


def checkpoint_path_forced(values: dict[str, Any], primus_only: dict[str, Any],
                           trainer: TrainerFacts) -> dict[str, Any]:
    """save becomes EXP_ROOT/checkpoints: always, or (v26.5.0+) only a save that is set."""
    if "save" not in values or (not trainer.always_sets_save and values.get("save") is None):
        return {}
    return {"save": experiment_path("checkpoints")}


def tensorboard_path(values: dict[str, Any], primus_only: dict[str, Any],
                     trainer: TrainerFacts) -> dict[str, Any]:
    """TensorBoard on (disable_tensorboard false, or profile on): EXP_ROOT/tensorboard.
    Off: the legacy trainer sets tensorboard_dir None; the core runtime leaves it as configured
    (Megatron then writes there)."""
    if "tensorboard_dir" not in values:
        return {}
    enabled = not _switch(primus_only, "disable_tensorboard") or bool(values.get("profile"))
    if enabled:
        return {"tensorboard_dir": experiment_path("tensorboard")}
    return {"tensorboard_dir": None} if trainer.tensorboard_off_clears_dir else {}


def wandb_settings(values: dict[str, Any], primus_only: dict[str, Any],
                   trainer: TrainerFacts) -> dict[str, Any]:
    """W&B on: save dir under the experiment (legacy trainer: the folder itself, core: /wandb),
    project and run name default to the experiment's meta; off: wandb_project None (W&B logging off)."""
    if _switch(primus_only, "disable_wandb"):
        return {"wandb_project": None} if values.get("wandb_project") is not None else {}
    changed: dict[str, Any] = {"wandb_save_dir": experiment_path(trainer.wandb_save_subdir)}
    if values.get("wandb_project") is None:
        changed["wandb_project"] = f"{primus_only.get('work_group')}_{primus_only.get('user_name')}"
    if values.get("wandb_exp_name") is None:
        changed["wandb_exp_name"] = primus_only.get("exp_name")
    return changed


def hsdp_optimizer_instances(values: dict[str, Any], primus_only: dict[str, Any],
                             trainer: TrainerFacts) -> dict[str, Any]:
    """v26.5.0+ (patches/args/hsdp_args_patches.py): the Primus-only data_parallel_replicate_degree > 1
    becomes Megatron's num_distributed_optimizer_instances."""
    degree = primus_only.get("data_parallel_replicate_degree", 1)
    if not trainer.hsdp_replicate_degree or not isinstance(degree, int) or degree <= 1:
        return {}
    return {"num_distributed_optimizer_instances": degree}


RULES: tuple[Rule, ...] = (checkpoint_path_forced, tensorboard_path, wandb_settings, hsdp_optimizer_instances,
                           logging_level_from_sink, split_data_paths, no_sequence_parallel_at_tp1,
                           iterations_to_skip_list, moe_layer_freq_value, mock_data_clears_paths,
                           trainer_args_defaults)


def written_shape(key: str, value: Any, trainer: TrainerFacts) -> Any:
    """The value as a config must write it for the release's trainer to accept it: a trainer that
    splits data paths on single spaces (`.split(" ")`) takes them as one string, one that hands
    moe_layer_freq to Megatron's moe_freq_type (an int, or a string it evaluates) takes that string."""
    if not isinstance(value, (list, tuple)):
        return value
    if (trainer.data_paths_must_be_strings and key in DATA_PATH_KEYS and value
            and all(isinstance(v, str) and v and " " not in v for v in value)):
        return " ".join(value)
    if (trainer.moe_layer_freq == "moe_freq_type" and key == "moe_layer_freq"
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return value


# ---- what stops the trainer before training --------------------------------------------------

def trainer_refusals(values: dict[str, Any], primus_only: dict[str, Any],
                     trainer: TrainerFacts) -> list[str]:
    """Why the release's trainer (or Megatron's validate_args right after it) would stop, on the
    loaded namespace before the rewrites; [] when it goes on to train."""
    out: list[str] = []
    if trainer.data_paths_must_be_strings:
        for key in DATA_PATH_KEYS:  # `args.<key>.split(" ")` when not None
            value = values.get(key)
            if value is not None and not isinstance(value, str):
                out.append(f"{key}: the release's trainer calls `{key}.split(\" \")`, and the config gives a "
                           f"{type(value).__name__} (AttributeError); it takes one space-separated string")
    freq = values.get("moe_layer_freq")  # Megatron's moe_freq_type: an int, or a str
    if trainer.moe_layer_freq == "moe_freq_type" and "moe_layer_freq" in values and not isinstance(freq, (int, str)):
        out.append(f"moe_layer_freq: the release's trainer passes it to Megatron's moe_freq_type, which "
                   f"asserts an int or a string (got {type(freq).__name__})")
    level = primus_only.get("stderr_sink_level")
    if trainer.logging_level_from_sink and level not in SINK_LEVELS:
        out.append(f"stderr_sink_level {level!r}: the release's trainer checks it is one of "
                   f"{', '.join(SINK_LEVELS)}")
    if trainer.refuses_yaml_cfg and values.get("yaml_cfg") is not None:  # check_true(args.yaml_cfg is None)
        out.append("yaml_cfg: the release's trainer refuses Megatron's own YAML config")
    degree = primus_only.get("data_parallel_replicate_degree", 1)
    if trainer.hsdp_replicate_degree and isinstance(degree, int) and degree > 1:  # hsdp_args_patches.py raises
        if not values.get("use_torch_fsdp2"):
            out.append("data_parallel_replicate_degree > 1 needs use_torch_fsdp2 (the release's hsdp patch)")
        elif values.get("ckpt_format") != "torch_dcp":
            out.append("data_parallel_replicate_degree > 1 needs ckpt_format torch_dcp (the release's hsdp patch)")
    return out


def validate_args_refusals(values: dict[str, Any]) -> list[str]:
    """Megatron's validate_args (5a676b36 and d3528a21 alike) starts with `if args.save is not None:
    assert args.save_interval is not None`; a release that forces `save` makes it reachable."""
    if values.get("save") is not None and "save_interval" in values and values.get("save_interval") is None:
        return ["save_interval: null while save is set (the trainer sets save to EXP_ROOT/checkpoints): "
                "Megatron's validate_args asserts save_interval is not None"]
    return []


# ---- what a config needs so the release reproduces the legacy run's outputs --------------------

# An interval no run reaches: `iteration % NO_SAVE_INTERVAL == 0` never holds before 2^31 - 1 steps.
NO_SAVE_INTERVAL = 2**31 - 1


def output_settings(run: dict[str, Any], trainer: TrainerFacts) -> dict[str, tuple[Any, str]]:
    """key -> (value, why) for the keys that make the release write (or not write) checkpoints,
    TensorBoard and W&B logs as the legacy run did; locations stay the release's own."""
    out: dict[str, tuple[Any, str]] = {}
    tb = run.get("tensorboard_dir") is not None
    if trainer.tensorboard_off_clears_dir:
        out["disable_tensorboard"] = (not tb, "legacy run logs TensorBoard" if tb else "legacy run logs no TensorBoard")
    else:
        # tensorboard_dir is kept while TensorBoard is "disabled": Megatron writes to the legacy path
        out["disable_tensorboard"] = (True, "keeps the legacy tensorboard_dir (the release leaves it as set)")
    if run.get("save") is not None:
        out["disable_last_saving"] = (False, "legacy run saves a checkpoint at the end")
    elif trainer.always_sets_save:
        out["disable_last_saving"] = (True, "legacy run saves no checkpoint (the release always sets save)")
        out["save_interval"] = (NO_SAVE_INTERVAL, "legacy run saves no checkpoint (the release always sets save)")
    wandb = bool(run.get("wandb_project"))
    out["disable_wandb"] = (not wandb, "legacy run logs to W&B" if wandb else "legacy run logs nothing to W&B")
    return out


def checkpoint_triggers(values: Mapping[str, Any], primus_only: Mapping[str, Any],
                        train_iters: Any) -> list[tuple[str, bool]]:
    """With `save` set, what makes Megatron (and the v0.1 trainer) write a checkpoint during or at the
    end of a run of `train_iters` iterations, each with whether a key can turn it off without changing
    the run (save_interval, non_persistent_save_interval, disable_last_saving); [] when none does."""
    out = []
    interval = values.get("save_interval")
    reached = not isinstance(interval, int) or (interval < NO_SAVE_INTERVAL and (
        not isinstance(train_iters, int) or interval <= train_iters))
    if interval and reached:
        out.append((f"save_interval {interval}", True))
    if values.get("non_persistent_save_interval"):
        out.append((f"non_persistent_save_interval {values['non_persistent_save_interval']}", True))
    if not primus_only.get("disable_last_saving", False):
        out.append(("the final save at the end of training (disable_last_saving false)", True))
    if values.get("rampup_batch_size"):  # the training loop saves whenever the micro-batch count grows
        out.append(("each batch-size ramp-up step (rampup_batch_size)", False))
    for key in ("exit_interval", "exit_duration_in_mins", "exit_signal_handler"):
        if values.get(key):  # checkpoint_and_decide_exit saves before exiting when `save` is set
            out.append((f"{key} {values[key]}", False))
    return out


def apply_handoff(values: dict[str, Any], primus_only: dict[str, Any], trainer: TrainerFacts,
                  dests: set[str] | frozenset[str]) -> dict[str, str]:
    """Rewrite `values` (Megatron dests) in place; returns dest -> name of the rule that set it."""
    applied: dict[str, str] = {}
    for rule in RULES:
        for key, value in rule(values, primus_only, trainer).items():
            if key not in dests:
                continue
            values[key] = value
            applied[key] = rule.__name__
    return applied


# Dests whose Primus value the release's trainer decides (the rules above): static parity compares them by what
# the run writes (checkpoints, TensorBoard, W&B), the location being the release's own.
OUTPUT_DESTS = ("save", "save_interval", "non_persistent_save_interval", "tensorboard_dir", "wandb_project",
                "wandb_exp_name", "wandb_save_dir")
