"""Static parity: does the Primus config resolve to the arguments the script trained with?

Like `black --safe`, the converter checks its own output before writing it:
the emitted files are loaded with the target release's own loading rules, the
result is derived the way Megatron's `validate_args` would, and every dest of
the target's pinned Megatron is compared with the legacy run's effective value
(`migrate.values.same_value`). Anything else than the short, documented list
below is a difference, and a difference fails the conversion.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import compress, repeat
from operator import and_, is_, not_
from typing import Any, Callable, Mapping

from migrate.megatron.schema import is_runtime_value
from migrate.primus.emit.parity_verdict import MISSING as _MISSING
from migrate.primus.emit.parity_verdict import StaticParity
from migrate.primus.emit.parity_verdict import jsonable as _jsonable
from migrate.primus.handoff import OUTPUT_DESTS
from migrate.primus.profiles import Profile
from migrate.primus.resolved import ResolvedConfig
from migrate.tokenizer_vocab import padded_vocab_size
from migrate.values import same_value

# Dests whose value we do not compare are the release's (`Release.ignored_dests`, with the reason,
# migrate.primus.releases). Keep those lists short: every entry is a place where "same run" is not checked.

# Dests whose list elements Megatron passes through int() before use (rampup_batch_size: the
# `start increment samples` strings of `--rampup-batch-size`), so ["16"] and [16] are one run.
# primus-0.1 turns every numeric-looking YAML string into a number, so only the int form exists there.
INT_LISTS = frozenset({"rampup_batch_size"})

# Types for which `same_value(x, x)` holds for every x (NaN included), checked without the call.
_SELF_SAME = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True)
class NullTokenizerAcceptance:
    """The one difference `convert --accept-null-tokenizer` accepts.

    The mock_data patch of v26.3 and later (patches/args/mock_data_patches.py) forces
    tokenizer_type NullTokenizer. Accepted: tokenizer_type (legacy -> NullTokenizer), and
    vocab_size compared by its consequence: the NullTokenizer reports vocab_size + 1 tokens,
    and Megatron pads that like the legacy tokenizer's size, so the padded vocabulary (the
    embedding) must be the same on both sides. Mock data ignores the tokenizer otherwise.
    """

    legacy_tokenizer: str  # the script's tokenizer_type
    legacy_vocab: int  # what the script's tokenizer reports (migrate.tokenizer_vocab)
    matched: str  # how the size was found

    def why(self) -> str:
        return (f"the target trains mock data with the NullTokenizer instead of {self.legacy_tokenizer} "
                f"(accepted with --accept-null-tokenizer)")


def _as_ints(value: Any) -> list[int] | None:
    if not isinstance(value, (list, tuple)):
        return None
    try:
        return [int(v) for v in value if not isinstance(v, bool)] if all(
            not isinstance(v, bool) for v in value) else None
    except (TypeError, ValueError):
        return None


def _to_compare(names: list[str], expected: Mapping[str, Any], derived: Mapping[str, Any],
                always: set[str]) -> list[tuple[str, Any, Any]]:
    """(dest, legacy value, Primus value) for the dests the rules must look at, in name order.

    Most dests hold the very same immutable value on both sides (the argparse default): those
    are equal under same_value, so only the others go through the rules. Told apart in C;
    dests of `always` (the Primus-only table, the outputs) are kept whatever their value."""
    wanted = list(map(expected.get, names, repeat(_MISSING)))
    found = list(map(derived.get, names, repeat(_MISSING)))
    settled = map(and_, map(is_, found, wanted), map(_SELF_SAME.__contains__, map(type, wanted)))
    todo = list(compress(range(len(names)), map(not_, settled)))
    spots = (bisect_left(names, d) for d in always)
    todo = sorted(set(todo) | {i for i in spots if i < len(names) and names[i] in always})
    return [(names[i], wanted[i], found[i]) for i in todo]


def check_static_parity(
    expected: Mapping[str, Any],
    resolved: ResolvedConfig,
    profile: Profile,
    derive: Callable[..., Mapping[str, Any]] | None = None,
    accept: NullTokenizerAcceptance | None = None,
) -> StaticParity:
    """Compare derive(resolved.values) with `expected` on every dest of the profile's Megatron.

    `resolved` is a `migrate.primus.ResolvedConfig`, taken with the release's trainer-side
    rewrites (`trainer_rewrites`) applied; a dest absent from its
    values (primus-0.1 hands Megatron only what its presets define) is taken at
    its argparse default for derivation and listed in `absent`; it is a
    difference only when the legacy run needs another value. `accept` lists the one
    documented exception (see NullTokenizerAcceptance); it is reported in `exceptions`.
    """
    schema = profile.schema()
    if derive is None:
        from migrate.megatron import derive as megatron_derive

        def derive(values: Mapping[str, Any]) -> Mapping[str, Any]:
            return megatron_derive(values, schema)

    defaults = schema.defaults()
    values = dict(resolved.values)
    # What the release's trainer rewrites before Megatron sees the namespace (mock data forcing the
    # NullTokenizer, ...) is part of what trains, so it is part of the comparison.
    rewrites = resolved.trainer_rewrites
    if not resolved.rewrites_applied:
        for key, (_, after, _) in rewrites.items():
            values[key] = after
    absent = sorted(defaults.keys() - values.keys())
    filled = dict(defaults)
    filled.update(values)
    derived = derive(filled)
    ignored_table = dict(profile.rules.ignored_dests)
    profile_name = profile.name
    primus_only = dict(resolved.primus_only)
    documented: list[dict[str, Any]] = []
    differences: list[tuple[str, Any, Any]] = []
    ignored: list[str] = []
    exceptions: list[dict[str, Any]] = []
    for dest, want, got in _to_compare(sorted(defaults), expected, derived, set(ignored_table) | set(OUTPUT_DESTS)):
        if want is _MISSING:
            continue  # not a dest of the legacy run
        if dest in ignored_table or is_runtime_value(want):
            ignored.append(dest)
            continue
        if dest in INT_LISTS and _as_ints(got) is not None and _as_ints(got) == _as_ints(want):
            continue
        if dest in OUTPUT_DESTS:
            verdict = output_verdict(dest, want, got, expected, derived, primus_only, profile_name)
            if verdict is not None:
                if verdict:
                    documented.append({"dest": dest, "legacy": _jsonable(want), "primus": _jsonable(got),
                                       "why": verdict})
                continue
        if got is _MISSING or not same_value(got, want):
            accepted = _accepted(accept, dest, expected, derived) if accept is not None else None
            if accepted is not None:
                exceptions.append({"dest": dest, "legacy": _jsonable(want), "primus": _jsonable(got),
                                   "why": accepted})
                continue
            differences.append((dest, want, got))
    resolved_origins = resolved.origins
    origins = {d: str(resolved_origins[d]) for d, _, _ in differences if d in resolved_origins}
    origins.update({d: f"<{profile_name} trainer: {rewrites[d][2]}>" for d, _, _ in differences if d in rewrites})
    refusals = list(resolved.refusals)
    return StaticParity(not differences and not refusals, differences, ignored, absent, origins, exceptions,
                        documented=documented, refusals=refusals)


def output_verdict(dest: str, want: Any, got: Any, expected: Mapping[str, Any], derived: Mapping[str, Any],
                   primus_only: Mapping[str, Any], profile_name: str) -> str | None:
    """None: compare as usual; "": the same run; else the documented difference, in words."""
    from migrate.primus.handoff import checkpoint_triggers, is_experiment_path

    if dest in ("save_interval", "non_persistent_save_interval"):
        # every use in Megatron (and the v0.1 trainer) is behind `args.save`: inert when the legacy
        # run saves nothing; the Primus side is then judged by checkpoint_triggers on `save`
        return "" if expected.get("save") is None else None
    if dest.startswith("wandb_") and not expected.get("wandb_project") and not derived.get("wandb_project"):
        # Megatron makes a W&B writer only for a non-empty wandb_project ('' and None alike)
        return ""
    if not is_experiment_path(got):
        return None
    if dest == "save":
        if want is None:
            triggers = checkpoint_triggers(derived, dict(primus_only), derived.get("train_iters"))
            if not triggers:
                return ""  # save is set, but nothing in this run writes a checkpoint
            if any(avoidable for _, avoidable in triggers):
                return None  # a key would avoid it: a difference
            return (f"{profile_name} always saves under {got}; the legacy run saved no checkpoint, this one "
                    f"writes checkpoints on: {'; '.join(t for t, _ in triggers)} (no key of this release "
                    "avoids it)")
        return f"checkpoints are written to {got} (the Primus experiment folder), not {want}"
    if dest == "tensorboard_dir":
        if want is None:
            if not derived.get("profile"):
                return None  # disable_tensorboard would avoid it: a difference
            return (f"{profile_name} writes TensorBoard logs to {got} although the legacy run wrote none "
                    "(its trainer turns TensorBoard on whenever profile is on)")
        return f"TensorBoard logs are written to {got} (the Primus experiment folder), not {want}"
    if dest == "wandb_save_dir":
        # Megatron's own default (an empty wandb_save_dir) is <save>/wandb
        legacy = want or (f"{expected.get('save')}/wandb" if expected.get("save") else "Megatron's default")
        return (f"W&B files are written under {got} (the Primus experiment folder), not {legacy}"
                if expected.get("wandb_project") else "")
    return None


def _accepted(accept: NullTokenizerAcceptance, dest: str, expected: Mapping[str, Any],
              derived: Mapping[str, Any]) -> str | None:
    """Why the difference in `dest` is the accepted one, or None when it is a real difference."""
    if derived.get("tokenizer_type") != "NullTokenizer" or expected.get("tokenizer_type") != accept.legacy_tokenizer:
        return None
    if dest == "tokenizer_type":
        return accept.why()
    if dest == "vocab_size":
        got = derived.get("vocab_size")
        if not isinstance(got, int) or isinstance(got, bool) or got <= 0:
            return None
        legacy = padded_vocab_size(accept.legacy_vocab, expected.get("make_vocab_size_divisible_by"),
                                   expected.get("tensor_model_parallel_size"))
        primus = padded_vocab_size(got + 1, derived.get("make_vocab_size_divisible_by"),
                                   derived.get("tensor_model_parallel_size"))
        if legacy != primus:
            return None
        return (f"the NullTokenizer reports vocab_size + 1 = {got + 1} tokens, the legacy tokenizer "
                f"{accept.legacy_vocab} ({accept.matched}); padded vocabulary {legacy} on both sides")
    return None
