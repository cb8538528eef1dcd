"""Re-express a legacy run's arguments at another Megatron-LM version.

The legacy scripts were written against ROCm Megatron-LM (rocm_dev); Primus
pins newer NVIDIA commits. Between them options were renamed (`--norm-epsilon`
now stores to `layernorm_epsilon`), removed (Retro, encoder pipelines), or
given new defaults (`--eval-interval` 1000 → None, `--rerun-mode` disabled →
validate_results). The translated namespace must hold what the legacy run
actually used, in the target's dest names:

- a dest the script set: its value, under the target's dest name, coerced to
  the target option's shape (nargs, type);
- a dest the script left at its default where the target's default differs:
  the LEGACY default (that is what the legacy run trained with), noted —
  unless a rule documents the two defaults as behaving identically;
- a dest removed at the target: reported (a warning when the script set it
  to a non-default value), never dropped silently;
- a dest new at the target: the target's default.

`schema_differences` computes the differences between two schemas;
`RULES[pin]` has one entry per difference between rocm_dev and each
bundled Megatron pin (a test keeps that complete); every Primus release
pinning that commit gets its rules. Differences without a rule (custom
schemas) get the generic treatment above, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

from migrate.diagnostics import Diagnostics
from migrate.megatron.args import MegatronArgs
from migrate.megatron.argv import argparse_defaults
from migrate.megatron.schema import UNEVALUATED, OptionSpec, Schema, load_schema
from migrate.megatron.types import converter
from migrate.values import same_value

DiffKind = Literal["renamed", "removed", "redefaulted", "choices_narrowed", "kind_changed"]


@dataclass(frozen=True)
class Difference:
    kind: DiffKind
    dest: str  # legacy dest
    detail: str


def _first(schema: Schema, dest: str) -> OptionSpec:
    return schema.by_dest[dest][0]


def _default_equal(a: Any, b: Any) -> bool:
    unevaluated = (isinstance(a, dict) and UNEVALUATED in a, isinstance(b, dict) and UNEVALUATED in b)
    if all(unevaluated):  # same expression modulo quoting
        return a[UNEVALUATED].replace('"', "'") == b[UNEVALUATED].replace('"', "'")
    return same_value(a, b)


def renamed_dests(legacy: Schema, target: Schema) -> dict[str, str]:
    """legacy dest → target dest, where the same option string now stores elsewhere."""
    out: dict[str, str] = {}
    for dest, specs in legacy.by_dest.items():
        if dest in target.by_dest:
            continue
        for spec in specs:
            for opt in spec.option_strings:
                moved = target.by_option.get(opt)
                if moved is not None and moved.dest != dest:
                    out[dest] = moved.dest
    return out


def schema_differences(legacy: Schema, target: Schema) -> list[Difference]:
    """Every option difference that can change what a legacy argv means at the target."""
    diffs: list[Difference] = []
    renamed = renamed_dests(legacy, target)
    ldef, tdef = argparse_defaults(legacy), argparse_defaults(target)
    for dest in ldef:
        if dest in renamed:
            diffs.append(Difference("renamed", dest, f"{dest} -> {renamed[dest]}"))
            continue
        if dest not in tdef:
            opts = ", ".join(o for s in legacy.by_dest[dest] for o in s.option_strings)
            diffs.append(Difference("removed", dest, opts))
            continue
        if not _default_equal(ldef[dest], tdef[dest]):
            diffs.append(Difference("redefaulted", dest, f"{ldef[dest]!r} -> {tdef[dest]!r}"))
        lspec, tspec = _first(legacy, dest), _first(target, dest)
        if lspec.choices is not None:
            lost = [c for c in lspec.choices if tspec.choices is not None and c not in tspec.choices]
            if lost:
                diffs.append(Difference("choices_narrowed", dest, f"no longer accepted: {lost}"))
        # an untyped option and `type=str` store the same strings: not a difference
        if (lspec.action, lspec.type or "str", lspec.nargs) != (tspec.action, tspec.type or "str", tspec.nargs):
            diffs.append(Difference(
                "kind_changed", dest,
                f"{(lspec.action, lspec.type, lspec.nargs)} -> {(tspec.action, tspec.type, tspec.nargs)}"))
    return diffs


# --------------------------------------------------------------------------- rules

RuleKind = Literal["rename", "removed", "keep_legacy_default", "equivalent_default", "convert", "report_values",
                   "restated"]


@dataclass(frozen=True)
class Rule:
    """How one difference is handled. `reason` is what the report says."""

    kind: RuleKind
    dest: str
    reason: str
    target: str | None = None  # rename: the target dest
    convert: Callable[[Any], Any] | None = None  # convert: legacy value -> target value
    equivalent_if: Callable[[dict[str, Any]], bool] | None = None  # equivalent_default: only when this holds
    covers: tuple[DiffKind, ...] = field(default=())  # difference kinds this rule answers (default: by kind)
    inert: bool = False  # removed: the legacy run did not use it either (only a note, not "unmapped")
    # restated: the value the option must have to say what the legacy run's `counterpart` dest already
    # says at the target (an entry option duplicating a base option); another value has no equivalent
    expected: Callable[[dict[str, Any]], Any] | None = None
    counterpart: str | None = None


def _ints(value: Any) -> Any:
    """A nargs list of strings (old parser had no type) → ints, as the target parser stores them."""
    if isinstance(value, list):
        return [int(v) for v in value]
    return value


def _as_list(value: Any) -> Any:
    """A single value → a one-element list (the target option became nargs='+')."""
    if value is None or isinstance(value, list):
        return value
    return [value]


def _truthy_flag(value: Any) -> bool:
    """`type=bool` store option → store_true flag: its truthiness."""
    return bool(value)


def _wandb_off(args: dict[str, Any]) -> bool:
    return not args.get("wandb_project")


_COMMON_REMOVED = {
    "standalone_embedding_stage": "standalone embedding pipeline stage was removed; layer placement would differ",
    "renormalize_blend_weights": "blend-weight renormalization flag was removed from the dataset options",
    "s3_cache_path": "ROCm-fork S3 index cache option; no equivalent",
}

# Removed options the legacy run never read outside the parser (checked in the rocm_dev sources).
_COMMON_INERT = {
    "disable_te_fused_rope": "ROCm-fork option that nothing in rocm_dev reads; no effect on the run",
    "log_batch_size_to_tensorboard": "TensorBoard logging only; no effect on training",
}

# Removed at the pins, by the first pin without them (84778176, then 3bec9aa9, then d3528a21).
_ENCODER_SPLIT_REMOVED = {
    "encoder_tensor_model_parallel_size": "encoder/decoder pipeline split was removed (T5/multimodal encoders)",
    "encoder_pipeline_model_parallel_size": "encoder/decoder pipeline split was removed (T5/multimodal encoders)",
    "pipeline_model_parallel_split_rank": "encoder/decoder pipeline split was removed",
}

_RETRO_REMOVED = {
    "retriever_seq_length": "Retro/biencoder retriever option removed",
    **{f"retro_{name}": "Retro was removed" for name in (
        "project_dir", "add_retriever", "cyclic_train_iters", "encoder_layers", "encoder_hidden_dropout",
        "encoder_attention_dropout", "num_neighbors", "num_retrieved_chunks", "attention_gate",
        "verify_neighbor_count")},
}

_D3_REMOVED = {
    "moe_use_legacy_grouped_gemm": "legacy grouped GEMM path removed; the TE grouped GEMM is used",
    "moe_extended_tp": "extended tensor parallelism for MoE removed (use expert_tensor_parallel_size)",
    "hybrid_attention_ratio": "hybrid (Mamba) ratios replaced by hybrid layer patterns",
    "hybrid_mlp_ratio": "hybrid (Mamba) ratios replaced by hybrid layer patterns",
}

_D3_INERT = {
    "async_tensor_model_parallel_allreduce": "deprecated; rocm_dev's parser documents it as ignored and no model "
    "code reads it",
}


# ---- options an entry script's extra_args_provider adds (see Schema.for_entry)

# provider -> what its options are, for the report of the ones with no equivalent at a pin
PROVIDER_ORIGINS: dict[str, str] = {
    "get_patch_args": "ROCm DeepSeek entry option (examples/deepseek_v2/pretrain_deepseek.py)",
}


def _shared_expert_count(args: dict[str, Any]) -> Any:
    """rocm_dev's MoE layer sizes shared experts from moe_shared_expert_intermediate_size alone."""
    size, each = args.get("moe_shared_expert_intermediate_size"), args.get("moe_ffn_hidden_size")
    if size is None or not each or size % each:
        return None
    return size // each


# Facts (rocm_dev sources): multi_latent_attention.py builds MLA from qk_head_dim / qk_pos_emb_head_dim;
# the DeepSeek entry's --qk-nope-head-dim is never read and --qk-rope-head-dim only widens the TE
# attention kernel's key size next to qk_pos_emb_head_dim; MoELayer builds shared experts only when
# moe_shared_expert_intermediate_size is set (the MLP `is_shared_expert` path that reads
# num_shared_experts has no caller). So each is equivalent exactly when it restates the base option.
_DEEPSEEK_ENTRY_RULES = [
    Rule("restated", "qk_nope_head_dim", "the rocm_dev MLA reads --qk-head-dim (the no-position part of the "
         "query/key head), not --qk-nope-head-dim", counterpart="qk_head_dim",
         expected=lambda a: a.get("qk_head_dim")),
    Rule("restated", "qk_rope_head_dim", "the rocm_dev MLA reads --qk-pos-emb-head-dim (the rotary part of the "
         "query/key head)", counterpart="qk_pos_emb_head_dim", expected=lambda a: a.get("qk_pos_emb_head_dim")),
    Rule("restated", "num_shared_experts", "rocm_dev sizes shared experts from "
         "--moe-shared-expert-intermediate-size (= shared experts x --moe-ffn-hidden-size)",
         counterpart="moe_shared_expert_intermediate_size", expected=_shared_expert_count),
    Rule("restated", "enable_shared_expert", "rocm_dev builds shared experts when "
         "--moe-shared-expert-intermediate-size is set", counterpart="moe_shared_expert_intermediate_size",
         expected=lambda a: a.get("moe_shared_expert_intermediate_size") is not None),
    # base options the provider changes in place
    Rule("keep_legacy_default", "tokenizer_type", "pretrain_deepseek.py's get_patch_args sets the default "
         "tokenizer to NullTokenizer"),
    Rule("keep_legacy_default", "vocab_size", "pretrain_deepseek.py's get_patch_args sets the default "
         "vocab size to -1"),
    Rule("report_values", "optimizer", "hybridadam (CPU-offloading Adam) exists only behind the ROCm DeepSeek "
         "entry"),
    Rule("equivalent_default", "optimizer_offload_fraction", "read only while optimizer CPU offload is on",
         equivalent_if=lambda a: not a.get("optimizer_cpu_offload")),
]


def _removed(table: dict[str, str], inert: bool = False) -> list[Rule]:
    return [Rule("removed", dest, reason, inert=inert) for dest, reason in table.items()]


# Megatron pin (bundled schema name) -> legacy dest -> its rules. Keyed by pin, not by Primus
# release: every target whose release pins a commit gets that commit's rules.
RULES: dict[str, dict[str, list[Rule]]] = {}


def _register(pin: str, rules: list[Rule]) -> None:
    table: dict[str, list[Rule]] = {}
    for rule in [*rules, *_DEEPSEEK_ENTRY_RULES]:
        table.setdefault(rule.dest, []).append(rule)
    RULES[pin] = table


# Each group is the differences that first appear at that pin and stay at the later ones
# (tests/test_megatron_translate.py checks every pin's table against its schema, both ways).
_SINCE_5A676B36 = [
    *_removed(_COMMON_REMOVED),
    *_removed(_COMMON_INERT, inert=True),
    Rule("report_values", "tokenizer_type", "DeepSeekV2Tokenizer is a ROCm-fork tokenizer type"),
]

_SINCE_84778176 = [
    *_removed(_ENCODER_SPLIT_REMOVED),
    Rule("keep_legacy_default", "rerun_mode", "rerun state machine default changed from disabled to validate_results"),
    Rule("convert", "moe_router_load_balancing_type", "now a list (one entry per layer group)", convert=_as_list),
    Rule("convert", "moe_aux_loss_coeff", "now a list (one entry per layer group)", convert=_as_list),
    Rule("report_values", "moe_token_dispatcher_type", "the alltoall_seq dispatcher was removed"),
]

_SINCE_3BEC9AA9 = [
    Rule("rename", "norm_epsilon", "--norm-epsilon now stores to TransformerConfig.layernorm_epsilon",
         target="layernorm_epsilon"),
    Rule("rename", "apply_layernorm_1p", "--apply-layernorm-1p now stores to layernorm_zero_centered_gamma",
         target="layernorm_zero_centered_gamma"),
    *_removed(_RETRO_REMOVED),
    Rule("keep_legacy_default", "eval_interval", "evaluation interval default changed from 1000 to None"),
    Rule("equivalent_default", "async_save", "None and False both mean synchronous saves"),
    Rule("equivalent_default", "wandb_project", "'' and None both disable W&B logging"),
    Rule("equivalent_default", "wandb_exp_name", "unused while W&B logging is off", equivalent_if=_wandb_off),
    Rule("equivalent_default", "wandb_save_dir", "unused while W&B logging is off", equivalent_if=_wandb_off),
    Rule("convert", "rampup_batch_size", "now exactly 3 integers (was untyped strings)", convert=_ints),
    Rule("report_values", "ckpt_format", "the zarr checkpoint format was removed"),
    Rule("report_values", "ckpt_convert_format", "the zarr checkpoint format was removed"),
    Rule("report_values", "non_persistent_ckpt_type", "None is no longer a listed choice (still the default)"),
]

_SINCE_D3528A21 = [
    *_removed(_D3_REMOVED),
    *_removed(_D3_INERT, inert=True),
    Rule("keep_legacy_default", "profile_ranks", "profiled ranks default changed from [0] to []"),
    Rule("equivalent_default", "lazy_mpu_init", "None and False both mean eager initialization",
         covers=("redefaulted", "kind_changed"), convert=_truthy_flag),
]

_register("5a676b36", _SINCE_5A676B36)                          # Primus v0.1.0-rc1 .. v0.3.0
_register("84778176", [*_SINCE_5A676B36, *_SINCE_84778176])     # Primus v0.4.0 .. v0.7.0
_register("3bec9aa9", [*_SINCE_5A676B36, *_SINCE_84778176, *_SINCE_3BEC9AA9])  # Primus v26.2, v26.2.1
_register("d3528a21", [*_SINCE_5A676B36, *_SINCE_84778176, *_SINCE_3BEC9AA9, *_SINCE_D3528A21])  # v26.3 ..

_KIND_COVERS: dict[str, tuple[DiffKind, ...]] = {
    "rename": ("renamed",),
    "removed": ("removed",),
    "keep_legacy_default": ("redefaulted",),
    "equivalent_default": ("redefaulted",),
    "convert": ("kind_changed",),
    "report_values": ("choices_narrowed",),
    "restated": ("removed",),
}


def rule_covers(rule: Rule) -> tuple[DiffKind, ...]:
    return rule.covers or _KIND_COVERS[rule.kind]


def uncovered_differences(legacy: Schema, target: Schema) -> list[Difference]:
    """Differences with no rule; empty for the bundled pins (kept so by a test)."""
    table = RULES.get(target.name, {})
    out = []
    for diff in schema_differences(legacy, target):
        if not any(diff.kind in rule_covers(r) for r in table.get(diff.dest, [])):
            if diff.kind == "removed" and legacy.provided_by.get(diff.dest) in PROVIDER_ORIGINS:
                continue  # an entry provider's option: reported as such (one rule per provider)
            out.append(diff)
    return out


def _restated(rule: Rule, value: Any, args: dict[str, Any]) -> bool:
    return rule.expected is not None and same_value(value, rule.expected(args))


# --------------------------------------------------------------------------- translation


def _coerce(value: Any, spec: OptionSpec) -> Any:
    """Fit a legacy value to the target option's shape: list-ness and string → typed values."""
    if value is None or (isinstance(value, dict) and UNEVALUATED in value):
        return value
    if spec.action in ("store_true", "store_false", "boolean_optional") and not isinstance(value, bool):
        return bool(value)
    listy = spec.nargs in ("+", "*") or isinstance(spec.nargs, int)
    if listy and not isinstance(value, (list, tuple)):
        value = [value]
    convert = converter(spec) if spec.type not in (None, "str") else None
    if convert is not None:
        def fit(v: Any) -> Any:
            if isinstance(v, str):
                try:
                    return convert(v)
                except ValueError:
                    return v
            return v
        value = [fit(v) for v in value] if isinstance(value, list) else fit(value)
    return value


_FLAGS = ("store_true", "store_false")


def _inverted(legacy: Schema, dest: str, target: Schema, tdest: str) -> bool:
    """The same flag stores the opposite truth at the target (`--disable-mamba-mem-eff-path`: store_true
    to disable_mamba_mem_eff_path at 5a676b36, store_false to use_mamba_mem_eff_path at d3528a21)."""
    if tdest == dest:
        return False
    lspec, tspec = _first(legacy, dest), _first(target, tdest)
    shared = set(lspec.option_strings) & set(tspec.option_strings)
    return bool(shared) and {lspec.action, tspec.action} == set(_FLAGS)


def _flip(value: object) -> object:
    return not value if isinstance(value, bool) else value


def _flag(schema: Schema, dest: str) -> str:
    specs = schema.by_dest.get(dest)
    return specs[0].option_strings[0] if specs else dest


def _drop_removed(dest: str, value: Any, rules: list[Rule], margs: MegatronArgs, legacy: Schema, target: Schema,
                  ldef: Mapping[str, Any], diags: Diagnostics, dropped: dict[str, Any]) -> None:
    """A legacy dest the target has no option for: say so (a note when nothing changes), and list
    it in `dropped` when the run depended on it."""
    is_explicit = dest in margs.explicit
    origin = margs.explicit.get(dest)
    flag = _flag(legacy, dest)
    removal = next((r for r in rules if r.kind == "removed"), None)
    restated = next((r for r in rules if r.kind == "restated"), None)
    provider = legacy.provided_by.get(dest)
    reason = removal.reason if removal else "no such option at the target version"
    if provider is not None and removal is None:
        origin_text = PROVIDER_ORIGINS.get(provider, f"option added by the entry script's {provider}()")
        reason = f"{origin_text}, no equivalent in Megatron-LM {target.name}"
    if restated is not None and is_explicit:
        if _restated(restated, value, margs.args):
            diags.note("megatron-option-restated",
                       f"{flag} {value!r} says what {_flag(legacy, restated.counterpart or '')} already "
                       f"says; nothing to carry over ({restated.reason})", origin)
        else:
            diags.warn("megatron-option-removed",
                       f"{flag} {value!r} has no equivalent in Megatron-LM {target.name}; dropped "
                       f"({reason}: {restated.reason})", origin,
                       hint=f"set {_flag(legacy, restated.counterpart or '')} to what the run needs")
            dropped[dest] = origin
        return
    if is_explicit and removal is not None and removal.inert:
        diags.note("megatron-option-removed",
                   f"{flag} is gone in Megatron-LM {target.name}; dropped ({reason})", origin)
    elif is_explicit and not _default_equal(value, ldef.get(dest)):
        diags.warn("megatron-option-removed",
                   f"{flag} {value!r} has no equivalent in Megatron-LM {target.name}; dropped ({reason})",
                   origin, hint="check whether the run depends on it")
        dropped[dest] = origin
    elif is_explicit:
        diags.note(
            "megatron-option-removed",
            f"{flag} is gone in Megatron-LM {target.name}; it was set to its default, so nothing changes",
            origin,
        )

def translate(margs: MegatronArgs, target: Schema, diags: Diagnostics) -> MegatronArgs:
    """The legacy run at `target`: target dests → the values the legacy run actually used."""
    legacy = load_schema(margs.schema)
    if legacy.name == target.name:
        return MegatronArgs(target.name, dict(margs.args), dict(margs.explicit))
    table = RULES.get(target.name, {})
    renamed = renamed_dests(legacy, target)
    for dest, rules in table.items():
        for rule in rules:
            if rule.kind == "rename" and rule.target:
                renamed[dest] = rule.target
    ldef, tdef = argparse_defaults(legacy), argparse_defaults(target)
    out = dict(tdef)
    explicit: dict[str, Any] = {}
    dropped: dict[str, Any] = {}

    for dest, value in margs.args.items():
        rules = table.get(dest, [])
        is_explicit = dest in margs.explicit
        origin = margs.explicit.get(dest)
        flag = _flag(legacy, dest)
        tdest = renamed.get(dest, dest)
        if tdest not in tdef:
            _drop_removed(dest, value, rules, margs, legacy, target, ldef, diags, dropped)
            continue
        tspec = _first(target, tdest)
        convert = next((r.convert for r in rules if r.convert is not None), None)
        inverted = _inverted(legacy, dest, target, tdest)
        if inverted:
            value, convert = _flip(value), None
        if tdest != dest and is_explicit:
            diags.note("megatron-option-renamed", f"{flag} stores to {tdest} in Megatron-LM {target.name}"
                       + (" (the opposite truth value)" if inverted else ""), origin)
        legacy_default = _flip(ldef.get(dest)) if inverted else ldef.get(dest)
        if not is_explicit and not _default_equal(legacy_default, tdef[tdest]):
            equivalent = next((r for r in rules if r.kind == "equivalent_default"), None)
            if equivalent is not None and (equivalent.equivalent_if is None or equivalent.equivalent_if(margs.args)):
                continue  # the target default behaves the same
            diags.note("megatron-default-kept",
                       f"{tdest}: the legacy default {value!r} is kept (Megatron-LM {target.name} defaults to "
                       f"{tdef[tdest]!r})",
                       hint=next((r.reason for r in rules if r.kind == "keep_legacy_default"), None))
        elif not is_explicit and tdest == dest:
            continue  # same default, already in `out`
        new_value = convert(value) if convert is not None else _coerce(value, tspec)
        if tspec.choices is not None and new_value is not None and is_explicit:
            values = new_value if isinstance(new_value, list) else [new_value]
            bad = [v for v in values if v not in tspec.choices]
            if bad:
                reason = next((r.reason for r in rules if r.kind == "report_values"), "value not accepted")
                diags.warn("megatron-value-unsupported",
                           f"{flag} {bad[0]!r} is not accepted by Megatron-LM {target.name} ({reason})",
                           origin, hint="choose from " + ", ".join(repr(c) for c in tspec.choices))
                dropped[dest] = origin
        out[tdest] = new_value
        if is_explicit:
            explicit[tdest] = origin
    return MegatronArgs(target.name, out, explicit, dropped)
