"""Read a training argv the way Megatron-LM's argparse parser reads it.

Megatron builds an `argparse.ArgumentParser(allow_abbrev=False)` with options
only (no positionals). We replay argparse's rules from the schema instead of
building a parser, so that errors carry the script line that produced the bad
token, and so that nothing is imported:

- `--flag value` and `--flag=value`; no abbreviations; the last occurrence wins
  (append actions accumulate);
- a following word is a value unless it looks like an option (starts with `-`
  and is not a negative number such as `-1` or `-.5`);
- nargs `None`, `?`, `*`, `+`, N; store/store_true/store_false/store_const/
  append/count/BooleanOptionalAction;
- type conversion, then the `choices` check, per value;
- options not given take their default; a string default is converted by the
  option's type (argparse does that too).
"""

from __future__ import annotations

import copy
import difflib
import re
from typing import Any, Iterable, Sequence

from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.megatron.args import MegatronArgs
from migrate.megatron.schema import UNEVALUATED, OptionSpec, Schema
from migrate.megatron.types import converter
from migrate.shell.plan import Token

# argparse (3.11) treats these as values, not options, when no option looks like a number.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


_UNKNOWN_HINT = "this word's value could not be determined statically; set the variables it uses (KEY=VALUE)"


class _Word:
    __slots__ = ("value", "origin", "unknown")

    def __init__(self, value: str, origin: Origin | None, unknown: bool) -> None:
        self.value = value
        self.origin = origin
        self.unknown = unknown


def _words(tokens: Sequence[Token | str]) -> list[_Word]:
    out = []
    for tok in tokens:
        if isinstance(tok, Token):
            out.append(_Word(tok.value, tok.origin, tok.unknown))
        else:
            out.append(_Word(str(tok), None, False))
    return out


def _looks_like_option(word: str, schema: Schema) -> bool:
    """argparse's `_parse_optional` answer: is this word an option (O) or a value (A)?"""
    if not word or word[0] != "-" or word == "-":
        return False
    if word in schema.by_option:
        return True
    if "=" in word and word.split("=", 1)[0] in schema.by_option:
        return True
    if _NEGATIVE_NUMBER.match(word):
        return False
    if " " in word:
        return False
    return True


# DeepSpeed's own options (deepspeed.add_config_arguments adds them to a Megatron-DeepSpeed parser at
# run time): a DeepSpeed run, not an option some Megatron-LM table lacks
_DEEPSPEED_OPTION = re.compile(r"--(?:deepspeed|deepscale)(?:[_-]\w+)*")
_DEEPSPEED_HINT = ("a Megatron-DeepSpeed run (DeepSpeed's engine and its config): Primus trains Megatron-LM "
                   "without DeepSpeed; keep it on DeepSpeed, or drop the DeepSpeed options and convert")
_OTHER_FORK_HINT = (
    "check the option against the Megatron-LM version the script targets; for another fork "
    "(e.g. Megatron-DeepSpeed) write its option table with `primus-migrate schema --megatron-path DIR "
    "-o fork.json` and pass `--legacy-schema fork.json`"
)


def _suggest(option: str, schema: Schema) -> str | None:
    close = similar_options(option, schema.by_option)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return None


def similar_options(typed: str, options: Iterable[str], limit: int = 3) -> list[str]:
    """Options the user probably meant, compared word by word (`--use-torch-compile` is not a typo of
    `--use-pytorch-profiler` although the letters are 70% alike). Best tier first, only that tier:
    0 the same words with typos (`--seq-lenght`, `--use-flash-attention` for `--use-flash-attn`,
    `--tensorboard_dir`, `--global-batchsize`); 1 one word more or less (`--disable-bias`);
    2 one word replaced, at least two telling words equal (`--no-bias-linear` -> `--disable-bias-linear`)."""
    words = _option_words(typed)
    tiers: dict[int, list[tuple[float, str]]] = {}
    for option in options:
        tier = _word_tier(words, _option_words(option))
        if tier is not None:
            tiers.setdefault(tier, []).append((-difflib.SequenceMatcher(None, typed, option).ratio(), option))
    if not tiers:
        return []
    return [option for _, option in sorted(tiers[min(tiers)])[:limit]]


def _option_words(option: str) -> list[str]:
    return [w for w in re.split(r"[-_]+", option.lower()) if w]


def _word_tier(a: list[str], b: list[str]) -> int | None:
    if _near("".join(a), "".join(b), joined=True) or (len(a) == len(b) and all(map(_near, a, b))):
        return 0
    if abs(len(a) - len(b)) == 1:
        short, long = (a, b) if len(a) < len(b) else (b, a)
        if any(all(map(_near, short, long[:i] + long[i + 1:])) for i in range(len(long))):
            return 1
    if len(a) == len(b) and len(a) >= 3:
        same = [x for x, y in zip(a, b) if x == y]
        if len(same) == len(a) - 1 and len([w for w in same if w not in _GENERIC_WORDS]) >= 2:
            return 2
    return None


# words that say little about which option is meant (`--use-torch-compile` vs `--use-torch-fsdp2`)
_GENERIC_WORDS = frozenset({"use", "no", "disable", "enable", "with", "num", "is", "do"})


def _near(x: str, y: str, joined: bool = False) -> bool:
    """One edit (insert, delete, replace, swap of neighbours) apart, or an abbreviation (`attn`)."""
    if x == y:
        return True
    if not joined and len(x) >= 3 and len(y) >= 3 and x[0] == y[0] and (_abbreviates(x, y) or _abbreviates(y, x)):
        return True
    return min(len(x), len(y)) >= 4 and _edit_distance(x, y) <= 1


def _abbreviates(short: str, long: str) -> bool:
    if len(short) >= len(long):
        return False
    letters = iter(long)
    return all(c in letters for c in short)


def _edit_distance(x: str, y: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance."""
    prev2: list[int] = []
    prev = list(range(len(y) + 1))
    for i, cx in enumerate(x, 1):
        cur = [i] + [0] * len(y)
        for j, cy in enumerate(y, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (cx != cy))
            if i > 1 and j > 1 and cx == y[j - 2] and x[i - 2] == cy:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _convert(spec: OptionSpec, word: _Word, flag: str, schema: Schema, diags: Diagnostics | None) -> Any:
    convert = converter(spec)
    if convert is None:
        if diags is not None:
            diags.warn(
                "megatron-unknown-type",
                f"{flag}: Megatron converts this value with `{spec.type}`, which primus-migrate does not model; "
                "kept as a string",
                word.origin,
            )
        return word.value
    try:
        value = convert(word.value)
    except ValueError as exc:
        if word.unknown:
            if diags is not None:
                diags.warn(
                    "megatron-unknown-value",
                    f"{flag}: value '{word.value}' is not known statically; kept as text",
                    word.origin,
                )
            return word.value
        kind = spec.type or "str"
        hint = str(exc)
        if spec.choices is not None:
            hint = "choose from " + ", ".join(repr(c) for c in spec.choices)
        raise MigrateError(f"invalid {kind} value for {flag}: '{word.value}'", origin=word.origin, hint=hint) from None
    if spec.choices is not None and value not in spec.choices:
        if word.unknown:
            if diags is not None:
                diags.warn(
                    "megatron-unknown-value", f"{flag}: value '{word.value}' is not known statically", word.origin
                )
            return value
        raise MigrateError(
            f"invalid choice for {flag}: '{word.value}'",
            origin=word.origin,
            hint="choose from " + ", ".join(repr(c) for c in spec.choices),
        )
    return value


def _nargs_text(nargs: Any) -> str:
    if nargs is None:
        return "expects a value"
    if nargs == "+":
        return "expects at least one value"
    if isinstance(nargs, int):
        return f"expects {nargs} value{'s' if nargs != 1 else ''}"
    return "expects a value"


def parse_argv(schema: Schema, tokens: Sequence[Token | str], diags: Diagnostics | None = None) -> MegatronArgs:
    """argv → MegatronArgs under `schema`; bad input raises MigrateError naming the token's origin."""
    words = _words(tokens)
    args = argparse_defaults(schema)
    explicit: dict[str, Origin | None] = {}
    i = 0
    while i < len(words):
        word = words[i]
        text = word.value
        if text == "--":
            extra = " ".join(w.value for w in words[i + 1 :]) or "(nothing)"
            raise MigrateError(
                f"unexpected '--' in the Megatron-LM arguments (followed by {extra})",
                origin=word.origin,
                hint="Megatron-LM takes no positional arguments",
            )
        if not _looks_like_option(text, schema):
            raise MigrateError(
                f"unexpected argument '{text}' in the Megatron-LM arguments",
                origin=word.origin,
                hint=_UNKNOWN_HINT if word.unknown
                else "no preceding option takes a value here (Megatron-LM takes no positional arguments)",
            )
        flag, explicit_value = text, None
        if flag not in schema.by_option and "=" in text:
            flag, explicit_value = text.split("=", 1)
        spec = schema.by_option.get(flag)
        if spec is None:
            deepspeed = bool(_DEEPSPEED_OPTION.fullmatch(flag))
            raise MigrateError(
                f"unknown Megatron-LM option '{flag}' (schema {schema.name})",
                origin=word.origin, category="deepspeed-run" if deepspeed else "unknown-option",
                hint=_UNKNOWN_HINT if word.unknown
                else _DEEPSPEED_HINT if deepspeed else _suggest(flag, schema) or _OTHER_FORK_HINT,
            )
        i += 1
        values: list[_Word] = []
        if explicit_value is not None:
            if not spec.takes_value:
                raise MigrateError(f"option {flag} takes no value (got '{explicit_value}')", origin=word.origin)
            values = [_Word(explicit_value, word.origin, word.unknown)]
            if isinstance(spec.nargs, int) and spec.nargs != 1:
                raise MigrateError(f"option {flag} {_nargs_text(spec.nargs)}", origin=word.origin)
        elif spec.takes_value:
            j = i
            while j < len(words) and not _looks_like_option(words[j].value, schema) and words[j].value != "--":
                j += 1
            available = words[i:j]
            nargs = spec.nargs
            if nargs is None:
                wanted = 1
            elif nargs == "?":
                wanted = min(1, len(available))
            elif nargs in ("*", "+"):
                wanted = len(available)
            elif isinstance(nargs, int):
                wanted = nargs
            else:  # argparse.REMAINDER and friends: take everything
                wanted = len(words) - i
                available = words[i:]
            if len(available) < wanted or (nargs == "+" and not available):
                raise MigrateError(
                    f"option {flag} {_nargs_text(nargs)}",
                    origin=word.origin,
                    hint=f"the next word is '{words[i].value}'"
                    if i < len(words)
                    else "it is the last word of the command",
                )
            values = available[:wanted]
            i += wanted
        _apply(spec, flag, values, args, schema, diags)
        explicit[spec.dest] = word.origin
    missing = [s for s in schema.options if s.required and s.dest not in explicit]
    if missing:
        raise MigrateError("missing required Megatron-LM option(s): " + ", ".join(s.option_strings[0] for s in missing))
    return MegatronArgs(schema.name, args, explicit)


def _apply(
    spec: OptionSpec, flag: str, values: list[_Word], args: dict[str, Any], schema: Schema, diags: Diagnostics | None
) -> None:
    action = spec.action
    if action in ("store_true", "store_false", "store_const"):
        args[spec.dest] = spec.const
    elif action == "boolean_optional":
        args[spec.dest] = not flag.startswith("--no-")
    elif action == "count":
        current = args.get(spec.dest)
        args[spec.dest] = (current if isinstance(current, int) else 0) + 1
    elif action == "append_const":
        args[spec.dest] = list(args.get(spec.dest) or []) + [spec.const]
    else:
        if spec.nargs == "?" and not values:
            value: Any = spec.const
        elif spec.nargs is None or spec.nargs == "?":
            value = _convert(spec, values[0], flag, schema, diags)
        else:
            value = [_convert(spec, w, flag, schema, diags) for w in values]
        if action == "append":
            args[spec.dest] = list(args.get(spec.dest) or []) + [value]
        elif action == "extend":
            args[spec.dest] = list(args.get(spec.dest) or []) + list(value)
        else:
            args[spec.dest] = value


def argparse_defaults(schema: Schema) -> dict[str, Any]:
    """dest → default as argparse fills it: the first registration wins; str defaults go through `type`.

    A fresh dict each call (mutable defaults copied); the computation is cached on the schema.
    """
    cached = schema.__dict__.get("_argparse_defaults")
    if cached is None:
        cached = _compute_defaults(schema)
        schema.__dict__["_argparse_defaults"] = cached
    out = dict(cached)
    for dest, value in out.items():
        if isinstance(value, (list, dict)) and not (isinstance(value, dict) and UNEVALUATED in value):
            out[dest] = copy.deepcopy(value)
    return out


def _compute_defaults(schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in schema.options:
        if spec.dest in out:
            continue
        default = spec.default
        if isinstance(default, str) and spec.takes_value and spec.type not in (None, "str"):
            convert = converter(spec)
            if convert is not None:
                try:
                    default = convert(default)
                except ValueError:
                    pass
        elif isinstance(default, (list, dict)) and not (isinstance(default, dict) and UNEVALUATED in default):
            default = copy.deepcopy(default)
        out[spec.dest] = default
    return out


def written_flags(schema: Schema, tokens: Sequence[Token | str]) -> dict[str, tuple[str, list[str]]]:
    """dest -> (the option as the script wrote it, the words it took), last occurrence winning as in
    `parse_argv`; for reports, which show what the user wrote (`--disable-bias-linear`, no value)
    rather than the dest's value (`add_bias_linear: false`). Assumes an argv `parse_argv` accepted."""
    words = [t if isinstance(t, str) else t.value for t in tokens]
    out: dict[str, tuple[str, list[str]]] = {}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in schema.by_option:
            flag, inline = word, None
        elif "=" in word and word.split("=", 1)[0] in schema.by_option:
            flag, inline = word.split("=", 1)
        else:
            continue
        spec = schema.by_option[flag]
        values = [inline] if inline is not None else []
        if inline is None and spec.takes_value:
            wanted = spec.nargs if isinstance(spec.nargs, int) else 1 if spec.nargs in (None, "?") else len(words)
            while len(values) < wanted and i < len(words) and not _looks_like_option(words[i], schema):
                values.append(words[i])
                i += 1
        out[spec.dest] = (flag, values)
    return out
