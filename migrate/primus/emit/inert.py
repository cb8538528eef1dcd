"""Which settings cannot change a run, given the run's other settings: the inertness rules.

An experiment pins every Megatron dest where the preset differs from the legacy run, so that
static parity holds key for key. Many of those pins are for settings the run never reads: Muon's
momentum under Adam, FP8 recipe knobs without FP8, RoPE knobs on a model without rotary
embeddings. The emitter writes such keys last, in one commented block (migrate/primus/emit/files.py),
and `primus-migrate explain` names the rule.

One rule per concern, each with the Megatron code that makes the keys inert in its docstring
(checked at both bundled pins, 5a676b36 and d3528a21), for Megatron's GPT model only (`megatron_gpt`:
models Primus builds itself read settings their own way). The rules are conservative: a rule holds
only when every setting it reads is present and says so in every view of the run (the legacy run
after derivation and what the release resolves, before and after its trainer's rewrites); a key
no rule covers, or whose rule does not hold, counts as affecting the run.

To add a rule: a function `(key, view) -> reason | None` decorated `@rule("name")`, returning the
reason text (for the YAML comment) when `key` is inert in that view, with a paired test in
tests/test_emit_inert.py that shows the rule both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

View = Mapping[str, Any]
RuleFunction = Callable[[str, View], "str | None"]

_ABSENT = object()


@dataclass(frozen=True)
class Inert:
    """Why a key cannot change the run: the rule's name and its reason in this run."""

    rule: str
    reason: str

    def comment(self) -> str:
        return f"inert: {self.reason}"


RULES: list[tuple[str, RuleFunction]] = []


def rule(name: str) -> Callable[[RuleFunction], RuleFunction]:
    def register(fn: RuleFunction) -> RuleFunction:
        RULES.append((name, fn))
        return fn

    return register


def inert_reason(key: str, views: Iterable[View]) -> Inert | None:
    """The first rule under which `key` is inert in every view, or None (the key affects the run)."""
    views = [v for v in views if v is not None]
    if not views or not all(megatron_gpt(v) for v in views):
        return None
    for name, fn in RULES:
        reasons = [fn(key, view) for view in views]
        if all(r is not None for r in reasons):
            return Inert(name, str(reasons[0]))
    return None


def megatron_gpt(view: View) -> bool:
    """The rules are written for Megatron's GPT model and training loop (what pretrain_gpt.py builds).
    Other models a Primus release builds read settings their own way (its DeepSeek V4 reads
    `rotary_scaling_factor` without multi-latent attention, Flux's FP8 linears the amax settings,
    hybrid models their own layers): there no key is judged inert. `model_type` and `is_hybrid_model`
    are Primus-only keys of the model presets; the legacy run has neither."""
    return (_get(view, "model_type") in (_ABSENT, None, "gpt")
            and _get(view, "is_hybrid_model") in (_ABSENT, None, False))


def _get(view: View, key: str) -> Any:
    return view.get(key, _ABSENT)


def _is_false(view: View, key: str) -> bool:
    """The setting is present and off (False, None or 0): an absent key is never taken as off."""
    value = _get(view, key)
    return value is not _ABSENT and value in (False, None, 0)


@rule("optimizer")
def optimizer_specific(key: str, view: View) -> str | None:
    """Keys of one optimizer while another is chosen.

    Megatron builds the optimizer from `optimizer` alone (megatron/core/optimizer/__init__.py):
    `adam_beta1/2`, `adam_eps` reach only the Adam constructor, `sgd_momentum` only SGD's, and
    the `muon_*` settings only the Muon optimizer (megatron/core/optimizer/muon.py at d3528a21,
    selected by `'muon' in args.optimizer` in validate_args; 5a676b36 has no Muon). Muon itself
    uses Adam for the parameters it does not orthogonalise, so Adam's keys are inert only under SGD;
    an optimizer this table does not know leaves every key affecting the run.
    """
    optimizer = _get(view, "optimizer")
    if optimizer not in ("adam", "sgd"):
        return None
    if key.startswith("muon_"):
        return f"optimizer is {optimizer}; only Muon reads muon_*"
    if key == "sgd_momentum" and optimizer == "adam":
        return "optimizer is adam; only SGD reads sgd_momentum"
    if key in ("adam_beta1", "adam_beta2", "adam_eps") and optimizer == "sgd":
        return f"optimizer is sgd; only Adam reads {key}"
    return None


FP8_RECIPE_KEYS = frozenset({"fp8_margin", "fp8_interval", "fp8_amax_history_len", "fp8_amax_compute_algo",
                             "fp8_wgrad"})


@rule("fp8")
def fp8_recipe(key: str, view: View) -> str | None:
    """FP8 recipe knobs without FP8 training.

    The recipe (margin, interval, amax history and algorithm, wgrad precision) is built only inside
    `get_fp8_context` (megatron/core/fp8_utils.py), which returns a null context unless `config.fp8`
    is set (or `fp8_param` for the model's initialisation); the legacy model reads them under
    `if args.fp8` (megatron/legacy/model/transformer.py). `fp8` is the dest of `--fp8-format`.
    """
    if key not in FP8_RECIPE_KEYS:
        return None
    if not _is_false(view, "fp8") or _get(view, "fp8_param") not in (_ABSENT, False, None):
        return None
    return "fp8 is unset; the FP8 recipe is built only with FP8"


@rule("legacy-rope-flag")
def legacy_rope_flag(key: str, view: View) -> str | None:
    """`use_rotary_position_embeddings` on a model that already uses RoPE.

    validate_args reads the flag once ("Legacy RoPE arguments": `if args.use_rotary_position_embeddings:
    args.position_embedding_type = 'rope'`); nothing else in training reads it. With
    `position_embedding_type` already 'rope', true and false give the same run. Only a false flag is
    judged: after derivation a true one may be the very reason the type reads 'rope'.
    """
    if key != "use_rotary_position_embeddings" or _get(view, "position_embedding_type") != "rope":
        return None
    if _get(view, key) is not False:
        return None
    return "position_embedding_type is already rope, all the flag sets"


ROTARY_KEYS = frozenset({"rotary_base", "rotary_percent", "rotary_interleaved",
                         "rotary_seq_len_interpolation_factor", "use_rope_scaling", "rope_scaling_factor"})


@rule("no-rotary")
def rotary_without_rope(key: str, view: View) -> str | None:
    """RoPE knobs on a model with learned or no position embeddings.

    GPTModel builds a rotary embedding only for `position_embedding_type` 'rope' (without multi-latent
    attention), 'yarn' or 'mrope' (megatron/core/models/gpt/gpt_model.py); multi-latent attention builds
    its own from `rotary_base` whatever the type. With 'learned_absolute' or 'none' and no MLA, no
    rotary embedding exists to read these.
    """
    if key not in ROTARY_KEYS:
        return None
    kind = _get(view, "position_embedding_type")
    if kind not in ("learned_absolute", "none") or not _is_false(view, "multi_latent_attention"):
        return None
    return f"position_embedding_type is {kind} (no rotary embedding)"


YARN_MLA_KEYS = frozenset({"mscale", "mscale_all_dim", "rotary_scaling_factor"})


@rule("no-mla")
def yarn_scaling_without_mla(key: str, view: View) -> str | None:
    """Multi-latent attention's YaRN scaling settings on a model without MLA.

    `mscale`, `mscale_all_dim` and `rotary_scaling_factor` are read by MultiLatentAttention
    (megatron/core/transformer/multi_latent_attention.py) and, at d3528a21, the experimental DSA
    attention; GPTModel's own 'yarn' embedding reads the separate `yarn_*` settings. Without
    `multi_latent_attention` (and no experimental attention variant) nothing reads them.
    """
    if key not in YARN_MLA_KEYS or not _is_false(view, "multi_latent_attention"):
        return None
    if _get(view, "experimental_attention_variant") not in (_ABSENT, None):
        return None
    return "no multi-latent attention, the only reader"


@rule("no-moe")
def moe_without_experts(key: str, view: View) -> str | None:
    """MoE settings on a dense model.

    Expert layers are built only when `num_experts` is set (megatron/core/models/gpt/gpt_layer_specs.py;
    TransformerConfig reads `moe_*` only for MoE layers). `moe_use_upcycling` is left out: training.py
    reads it to decide whether to load a checkpoint, experts or not.
    """
    if not key.startswith("moe_") or key == "moe_use_upcycling":
        return None
    if _get(view, "num_experts") not in (None, 0):
        return None
    return "num_experts is unset (dense model)"


@rule("manual-gc")
def manual_gc_settings(key: str, view: View) -> str | None:
    """Manual garbage-collection settings without manual GC: training.py reads `manual_gc_interval`
    and `manual_gc_eval` only under `if args.manual_gc:`."""
    if key not in ("manual_gc_interval", "manual_gc_eval") or not _is_false(view, "manual_gc"):
        return None
    return "manual_gc is off"


@rule("replication")
def replication_settings(key: str, view: View) -> str | None:
    """In-memory checkpoint replication settings without `--replication`: training.py builds the
    replication strategy from `replication_jump` and `replication_factor` only `if args.replication:`."""
    if key not in ("replication_factor", "replication_jump") or not _is_false(view, "replication"):
        return None
    return "replication is off"


@rule("no-megatron-fsdp")
def megatron_fsdp_settings(key: str, view: View) -> str | None:
    """`suggested_communication_unit_size` without Megatron's own FSDP: only Megatron FSDP reads it
    (megatron_fsdp.py at d3528a21, `use_megatron_fsdp`; custom_fsdp at 5a676b36, `use_custom_fsdp`)."""
    if key != "suggested_communication_unit_size":
        return None
    switches = [k for k in ("use_megatron_fsdp", "use_custom_fsdp") if k in view]
    if not switches or not all(_is_false(view, k) for k in switches):
        return None
    return "Megatron FSDP is off"


@rule("no-context-parallel")
def context_parallel_settings(key: str, view: View) -> str | None:
    """`cp_comm_type` at context-parallel size 1: TEDotProductAttention passes it to Transformer
    Engine only under `if self.config.context_parallel_size > 1`
    (megatron/core/extensions/transformer_engine.py); elsewhere it is only asserted on (a2a+p2p needs
    a hierarchical group), which the legacy run passed with the same value."""
    if key != "cp_comm_type" or _get(view, "context_parallel_size") != 1:
        return None
    return "context_parallel_size is 1"


CHECKPOINT_KEYS = frozenset({
    "async_save", "dist_ckpt_save_pre_mcore_014", "dist_ckpt_optim_fully_reshardable", "no_save_optim",
    "no_save_rng", "exit_on_missing_checkpoint", "finetune", "override_opt_param_scheduler", "no_load_optim",
    "no_load_rng", "use_checkpoint_opt_param_scheduler", "save_interval",
})


@rule("no-checkpoint")
def checkpoint_settings(key: str, view: View) -> str | None:
    """Checkpoint save and load settings in a run that neither saves nor loads.

    megatron/training/checkpointing.py reads them in save_checkpoint and load_checkpoint; training.py
    calls the first only with `save` set (`if args.save and args.save_interval and iteration %
    args.save_interval == 0`, the only reads of `save_interval` besides validate_args' checks under
    `args.save`) and the second only with `load` or `pretrained_checkpoint` set; the scheduler's
    override flag is read when its state is loaded. primus-0.1 always sets `save`, so there the rule
    does not hold.
    """
    if key not in CHECKPOINT_KEYS:
        return None
    if not all(_is_false(view, k) for k in ("save", "load")) or _get(view, "pretrained_checkpoint") not in (
            _ABSENT, None):
        return None
    return "no checkpoint saved or loaded (save, load unset)"


TENSORBOARD_KEYS = frozenset({"log_timers_to_tensorboard", "log_memory_to_tensorboard",
                              "log_validation_ppl_to_tensorboard", "log_world_size_to_tensorboard",
                              "tensorboard_log_interval", "tensorboard_queue_size"})


@rule("no-tensorboard")
def tensorboard_settings(key: str, view: View) -> str | None:
    """TensorBoard logging settings without TensorBoard: the writer exists only when `tensorboard_dir`
    is set (megatron/training/global_vars.py `_set_tensorboard_writer`), and training.py writes
    these only `if writer`."""
    if key not in TENSORBOARD_KEYS or not _is_false(view, "tensorboard_dir"):
        return None
    if _get(view, "disable_tensorboard") is False:  # a Primus switch that may set tensorboard_dir itself
        return None
    return "tensorboard_dir is unset (no TensorBoard writer)"


RULE_NAMES = tuple(name for name, _ in RULES)
