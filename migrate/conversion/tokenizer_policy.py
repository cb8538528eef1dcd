"""The tokenizer step: primus-26.5 trains --mock-data runs with the NullTokenizer.

Without --accept-null-tokenizer that difference fails static parity (with a hint); with it, the
one difference is accepted and vocab_size is set so that the padded vocabulary stays the legacy one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from migrate.conversion.static_parity import NullTokenizerAcceptance
from migrate.diagnostics import MigrateError, Origin
from migrate.primus.profiles import Profile

if TYPE_CHECKING:
    from migrate.shell.plan import LaunchPlan


_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_TOKENIZER_FILE = re.compile(r"\.(model|json|txt|vocab|tiktoken|spm|bpe|merges|pkl|bin)$", re.I)


def is_hub_model_id(value: str, plan: LaunchPlan | None) -> bool:
    """`meta-llama/Llama-3.1-8B` is fetched from the Hugging Face Hub; `experiment/tokenizer_llama2`
    (a folder the script tests for and fills with wget) and `data/tokenizer.model` are local paths.
    A Hub id is `owner/name` (one slash), names no tokenizer file, and is no path the script tests."""
    if not _HUB_ID.fullmatch(value) or _TOKENIZER_FILE.search(value):
        return False
    tested = [d.message for d in (plan.diagnostics if plan else []) if d.code == "shell-assumption"]
    return not any(f"`{value}`" in m or f"`{value}/" in m for m in tested)


def null_tokenizer_forced(profile: Profile, run: Mapping[str, Any]) -> bool:
    """The mock_data patch of v26.3 and later replaces the script's tokenizer by the NullTokenizer."""
    return (profile.rules.trainer.mock_data_null_tokenizer and bool(run.get("mock_data"))
            and run.get("tokenizer_type") != "NullTokenizer")


def keeping_targets() -> str:
    """`--target X` for the bundled targets whose release keeps the script's tokenizer on mock data."""
    from migrate.primus.profiles import catalog

    names = [name for name, info in catalog().items() if not info.rules.trainer.mock_data_null_tokenizer]
    if not names:
        return "an older target"
    rest = f" (or {', '.join(names[1:])})" if names[1:] else ""
    return f"--target {names[0]}{rest}"


def null_tokenizer_hint(profile: Profile, run: Mapping[str, Any]) -> str:
    return (f"{profile.name} trains --mock-data runs with the NullTokenizer (its mock_data patch replaces "
            f"tokenizer_type {run.get('tokenizer_type')}), so the resolved arguments differ from the script's. "
            "Pass --accept-null-tokenizer to accept that one difference (vocab_size is then set so the padded "
            f"vocabulary stays the script's), or convert with {keeping_targets()}, which keeps the script's tokenizer.")


def null_tokenizer_acceptance(profile: Profile, run: Mapping[str, Any],
                              origin: Origin | None = None) -> NullTokenizerAcceptance:
    """The accepted difference for --accept-null-tokenizer; refuses when the legacy vocabulary is unknown."""
    from migrate.tokenizer_files import unread_tokenizer_files
    from migrate.tokenizer_vocab import known_tokenizer_names, known_vocab_size

    known = known_vocab_size(run.get("tokenizer_type"), run.get("tokenizer_model"))
    if known is None:
        raise MigrateError(
            f"--accept-null-tokenizer: the vocabulary size of the script's tokenizer "
            f"'{run.get('tokenizer_model') or run.get('tokenizer_type')}' ({run.get('tokenizer_type')}) is unknown, "
            f"{unread_tokenizer_files(run.get('tokenizer_type'), run.get('tokenizer_model'))}"
            f"so no vocab_size can give {profile.name}'s NullTokenizer the same padded vocabulary; nothing written",
            origin=origin, category="unknown-tokenizer",
            hint=f"known tokenizers: {', '.join(known_tokenizer_names())} (or point --tokenizer-model at the "
                 "tokenizer's files, which are then read); or convert with "
                 f"{keeping_targets()}, which keeps the script's tokenizer")
    return NullTokenizerAcceptance(str(run.get("tokenizer_type")), known[0], known[1])


@dataclass
class RunValues:
    """What the Primus files must say: the legacy run at the target schema, with its entry's
    args_defaults in place and the tokenizer policy applied."""
    values: dict[str, Any]  # before derivation (what the emitter writes)
    expected: dict[str, Any]  # derived (what the emitter searches against)
    notes: dict[str, str] = field(default_factory=dict)  # dest -> why the converter chose its value
    accepted: NullTokenizerAcceptance | None = None
    hint: str | None = None  # what to do when parity fails for this known reason


def apply_tokenizer_policy(profile: Profile, run: RunValues, accept: bool,
                           origin: Origin | None) -> RunValues:
    """Set the hint (and, with --accept-null-tokenizer, the accepted difference and vocab_size)
    when the release replaces the script's tokenizer by the NullTokenizer."""
    if not null_tokenizer_forced(profile, run.values):
        return run
    run.hint = null_tokenizer_hint(profile, run.values)
    if not accept:
        return run
    from migrate.tokenizer_vocab import null_tokenizer_vocab_size

    accepted = null_tokenizer_acceptance(profile, run.values, origin)
    size = null_tokenizer_vocab_size(accepted.legacy_vocab)
    run.values["vocab_size"] = run.expected["vocab_size"] = size
    run.notes["vocab_size"] = (f"NullTokenizer reports vocab_size+1 = {accepted.legacy_vocab} tokens, as "
                               f"{run.values.get('tokenizer_model') or accepted.legacy_tokenizer} did "
                               "(--accept-null-tokenizer)")
    run.accepted = accepted
    return run
