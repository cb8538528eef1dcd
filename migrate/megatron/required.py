"""Would Megatron-LM have started this run? Refuse argv it rejects after parsing.

`parse_argv` already rejects what argparse rejects (unknown options, values of the wrong type,
an option without its value). This module adds what Megatron rejects once parsing succeeded, so a
legacy run that never trained is refused instead of converted to `num_layers: null`.

Facts, identical at the three pinned commits (ROCm rocm_dev f712ab84, NVIDIA 5a676b36, NVIDIA
d3528a21), read in megatron/training/arguments.py and megatron/training/training.py:
- validate_args: `num_layers` (else `encoder_num_layers`: "either num-layers or
  encoder-num-layers should be specified"), then `_check_arg_is_not_none` on `num_layers`,
  `hidden_size`, `num_attention_heads`, `max_position_embeddings`;
- validate_args: `assert args.micro_batch_size is not None` and `> 0`;
- validate_args: `seq_length`, else `assert args.encoder_seq_length is not None`;
- validate_args: with kv_channels unset, `hidden_size % num_attention_heads == 0`;
  `max_position_embeddings >= seq_length`; with lr set, `min_lr <= lr`; with save set,
  `save_interval is not None`;
- validate_args: the --use-torch-fsdp2 block (fsdp2_conflicts);
- validate_args: `--overlap-param-gather` needs the distributed optimizer (84778176 on: or Megatron
  FSDP; d3528a21: or the dist_muon optimizer) and `--overlap-grad-reduce`, and no legacy models;
- rocm_dev only: `if args.tensor_model_parallel_size > 1: assert args.sequence_parallel` ("When using
  MoE and tensor parallelism, ..."), not nested under its `if args.num_experts is not None:`, so
  it holds for every model (TP first clamped to the world size). Only warned (rocm_sp_quirk):
  scripts written for other Megatron-LM versions are read with this table by default, and such a
  run usually did train, on another commit;
- training.get_optimizer_param_scheduler (always run by pretrain's setup_model_and_optimizer):
  raises 'either train-iters or train-samples should be provided.' when both are unset, and
  OptimizerParamScheduler does `float(max_lr)` with max_lr=args.lr, which fails for None.
All of these options default to None in argparse at the three commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.megatron.args import MegatronArgs
from migrate.megatron.derive import era_of, fill_args_defaults
from migrate.megatron.view import world_size_of
from migrate.shell.plan import LaunchPlan, Token

# (what is missing, the dests any one of which supplies it, the flag to name)
REQUIRED: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("num_layers", ("num_layers", "encoder_num_layers"), "--num-layers"),
    ("hidden_size", ("hidden_size",), "--hidden-size"),
    ("num_attention_heads", ("num_attention_heads",), "--num-attention-heads"),
    ("max_position_embeddings", ("max_position_embeddings",), "--max-position-embeddings"),
    ("seq_length", ("seq_length", "encoder_seq_length"), "--seq-length"),
    ("micro_batch_size", ("micro_batch_size",), "--micro-batch-size"),
    ("lr", ("lr",), "--lr"),
    ("train_iters or train_samples", ("train_iters", "train_samples"), "--train-iters"),
)


def missing_values(args: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, flag) of each value Megatron requires that `args` leaves None (dests absent from
    the schema at hand, a custom fork's, are not asked for)."""
    out = []
    for name, dests, flag in REQUIRED:
        present = [d for d in dests if d in args]
        if present and all(args[d] is None for d in present):
            out.append((name, flag))
    return out


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def rejected_values(args: Mapping[str, Any], era: str = "rocm") -> list[str]:
    """validate_args assertions on values that are present (each as Megatron would fail it)."""
    out = fsdp2_conflicts(args, era)
    mbs, hidden, heads = args.get("micro_batch_size"), args.get("hidden_size"), args.get("num_attention_heads")
    if _number(mbs) and mbs <= 0:
        out.append(f"micro_batch_size must be > 0 (got {mbs})")
    if args.get("kv_channels") is None and _number(hidden) and _number(heads) and heads and hidden % heads:
        out.append(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
    seq, maxpos = args.get("seq_length"), args.get("max_position_embeddings")
    if _number(seq) and _number(maxpos) and maxpos < seq:
        out.append(f"max_position_embeddings {maxpos} is below seq_length {seq}")
    lr, min_lr = args.get("lr"), args.get("min_lr")
    if _number(lr) and _number(min_lr) and min_lr > lr:
        out.append(f"min_lr {min_lr} is above lr {lr}")
    out.extend(overlap_param_gather_conflicts(args))
    if args.get("save") is not None and "save_interval" in args and args.get("save_interval") is None:
        out.append("--save is given without --save-interval (validate_args asserts save_interval is not None)")
    return out


def overlap_param_gather_conflicts(args: Mapping[str, Any]) -> list[str]:
    """validate_args' `if args.overlap_param_gather:` assertions (see the module facts)."""
    if not args.get("overlap_param_gather"):
        return []
    out = []
    if not (args.get("use_distributed_optimizer") or args.get("use_megatron_fsdp")
            or args.get("optimizer") == "dist_muon"):
        out.append("--overlap-param-gather is only supported with the distributed optimizer "
                   "(--use-distributed-optimizer)")
    if not args.get("overlap_grad_reduce"):
        out.append("--overlap-param-gather needs --overlap-grad-reduce")
    if args.get("use_legacy_models"):
        out.append("--overlap-param-gather is only supported with megatron-core models")
    return out


def fsdp2_conflicts(args: Mapping[str, Any], era: str = "rocm") -> list[str]:
    """validate_args' `--use-torch-fsdp2` block: what FSDP2 cannot run with.

    Facts (validate_args, all three pins): pipeline and expert parallel sizes 1, no distributed
    optimizer, no gradient accumulation fusion (argparse default on), untied embeddings, no fp16,
    ckpt_format torch_dist (5a676b36 and d3528a21 also accept torch_dcp). The NVIDIA pins also
    refuse CUDA_DEVICE_MAX_CONNECTIONS=1, an environment value not checked here."""
    if not args.get("use_torch_fsdp2"):
        return []
    formats = ("torch_dist",) if era == "rocm" else ("torch_dist", "torch_dcp")
    conflicts = [
        (args.get("pipeline_model_parallel_size", 1) == 1, "pipeline parallelism"),
        (args.get("expert_model_parallel_size", 1) == 1, "expert parallelism"),
        (not args.get("use_distributed_optimizer"), "--use-distributed-optimizer"),
        (not args.get("gradient_accumulation_fusion"),
         "gradient accumulation fusion (on unless --no-gradient-accumulation-fusion)"),
        (args.get("ckpt_format") in formats, f"--ckpt-format {args.get('ckpt_format')} (needs {' or '.join(formats)})"),
        (bool(args.get("untie_embeddings_and_output_weights")),
         "tied embeddings (needs --untie-embeddings-and-output-weights)"),
        (not args.get("fp16"), "--fp16"),
    ]
    return [f"--use-torch-fsdp2 is not supported with {what}" for ok, what in conflicts if not ok]


def rocm_sp_quirk(args: Mapping[str, Any], era: str, world_size: int) -> str | None:
    """The rocm_dev assertion that TP > 1 needs --sequence-parallel (see the module facts)."""
    tp = args.get("tensor_model_parallel_size")
    if era != "rocm" or not _number(tp) or min(tp, world_size) <= 1 or args.get("sequence_parallel", True):
        return None
    return (f"ROCm Megatron-LM rocm_dev's validate_args rejects tensor parallelism ({tp}) without "
            "--sequence-parallel (its MoE check is not nested under `if args.num_experts`): if the legacy run "
            "used that commit it never started; converted as read")


def unset_variables(plan: LaunchPlan) -> list[tuple[str, Origin | None]]:
    """The variables the script read while unset or empty, those on the launch's lines first.

    A launch built from an unset variable (`pretrain_gpt.py ${MEGATRON_PARAMS}`) loses every
    value it was meant to carry; these are the names to report."""
    knobs = [k for k in plan.knobs if k.value in (None, "")]
    if not knobs:
        return []
    spans = _launch_spans(plan)

    def on_launch(origin: Origin | None) -> bool:
        if origin is None or origin.file not in spans:
            return False
        low, high = spans[origin.file]
        return low <= origin.line <= high

    near = [k for k in knobs if on_launch(k.defined_at)]
    return [(k.name, k.defined_at) for k in (near or knobs)]


def _launch_spans(plan: LaunchPlan) -> dict[str, tuple[int, int]]:
    spans: dict[str, tuple[int, int]] = {}
    tokens: Iterable[Token] = [*plan.launcher.argv, *plan.argv]
    for token in tokens:
        origin = token.origin
        if not origin.line:
            continue
        low, high = spans.get(origin.file, (origin.line, origin.line))
        spans[origin.file] = (min(low, origin.line), max(high, origin.line))
    return spans


def unset_variables_text(plan: LaunchPlan) -> str | None:
    """`${MEGATRON_PARAMS}` unset at line 3, ... (None when the script read none unset)."""
    found = unset_variables(plan)
    if not found:
        return None
    parts = [f"${{{name}}} unset at line {origin.line}" if origin and origin.line else f"${{{name}}} unset"
             for name, origin in found]
    return ", ".join(parts)


def unset_variables_hint(plan: LaunchPlan) -> str | None:
    """For an argv error (`--lr` with no value): the unset variables that were to supply it."""
    unset = unset_variables_text(plan)
    return f"the script read these variables unset: {unset}" if unset else None


def check_legacy_run_starts(legacy: MegatronArgs, args_defaults: Mapping[str, Any], plan: LaunchPlan,
                            origin: Origin | None, diags: Diagnostics | None = None) -> None:
    """Refuse (exit 2) argv that Megatron-LM would reject after parsing; see the module facts.

    `args_defaults` (the entry script's, Schema.entry_args_defaults) fill Nones first, as
    validate_args does before its checks."""
    args = dict(legacy.args)
    fill_args_defaults(args, args_defaults)
    program = plan.entry or "the entry script"
    era = era_of(legacy.schema.split("+")[0], args)
    quirk = rocm_sp_quirk(args, era, world_size_of(plan))
    if quirk and diags is not None:
        diags.warn("megatron-would-reject", quirk, origin,
                   hint="add --sequence-parallel, or pass --legacy-schema for the Megatron-LM the script ran on")
    missing = missing_values(args)
    rejected = rejected_values(args, era)
    if not missing and not rejected:
        return
    problems = []
    if missing:
        problems.append("missing " + ", ".join(f"{name} ({flag})" for name, flag in missing))
    problems.extend(rejected)
    unset = unset_variables_text(plan)
    hint = ("the values were supposed to come from variables the script read unset: " + unset
            + "; set them (KEY=VALUE on the command line, or export them) and convert again") if missing and unset \
        else "add the flags to the launch; Megatron-LM stops in validate_args (or before training) without them"
    raise MigrateError(
        f"Megatron-LM would refuse to start {program} with these arguments, so the legacy run never trained: "
        + "; ".join(problems) + "; nothing written",
        origin=origin, hint=hint, category="needs-environment" if missing and unset else "megatron-would-reject")
