"""Which knob assignments to convert for one script.

Rule (documented in the README): by default a knob is varied when it selects
the model (its name contains MODEL or SIZE: `MODEL_SIZE`, `MODEL`,
`MODEL_NAME`) and the script compares it with at least one literal that is not
boolean-like: `MODEL_SIZE` compared with 8 and 70, `MODEL` with 8x7b and
8x22b. A user migrating a repository wants a config per model the scripts
support. Other choices (`PR=bf16|fp8`, `AC=sel|full`, `OPTIMIZER=adam|sgd`)
keep their default unless `--all-choices` is given, and toggles
(`TE_FP8 == 1`, `[ -z "$X" ]`) always do: varying them would multiply the
output without adding model coverage (choose any of them with `--knobs`).
Thresholds are not choices either: a literal the script only uses in an
ordering test (`[ "$SEQ_LENGTH" -gt 4096 ]`, `(( GBS < 256 ))`) is a bound.

Variants are the cartesian product of the varied knobs' values (the default
first, then the compared literals in natural order), knobs in name order;
the all-defaults assignment is converted with no overrides at all. The product
is capped (`DEFAULT_MAX_VARIANTS`) and a capped script is flagged.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from migrate.diagnostics import MigrateError

DEFAULT_MAX_VARIANTS = 16
BOOLEAN_LIKE = frozenset({"0", "1", "true", "false", "yes", "no", "on", "off", "y", "n", "t", "f", "enable",
                          "disable", "enabled", "disabled", "none", "null", ""})
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
_KNOB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class KnobInfo:
    """What the batch needs to know about a knob (merged over all evaluations of a script)."""

    name: str
    default: str | None
    compared_with: list[str] = field(default_factory=list)

    def merge(self, values: Iterable[str]) -> bool:
        """Add newly seen comparison literals; True when something was new."""
        new = [v for v in values if v not in self.compared_with]
        self.compared_with.extend(new)
        return bool(new)


@dataclass(frozen=True)
class Variant:
    """One knob assignment. `env` holds only the values that differ from the defaults."""

    label: str
    env: tuple[tuple[str, str], ...]
    is_default: bool

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


_MODEL_SELECTOR = re.compile(r"MODEL|SIZE", re.IGNORECASE)


def selects_model(name: str) -> bool:
    """`MODEL_SIZE`, `MODEL`, `MODEL_NAME`, `SIZE`: knobs that choose which network is built."""
    return bool(_MODEL_SELECTOR.search(name))


def is_varied(info: KnobInfo, all_choices: bool = False) -> bool:
    """The automatic rule (see the module docstring)."""
    return not is_toggle(info) and (all_choices or selects_model(info.name))


def is_toggle(info: KnobInfo) -> bool:
    """True for knobs that only switch something on or off (not varied by default)."""
    literals = [v for v in info.compared_with if v != ""]
    return not literals or all(v.strip().lower() in BOOLEAN_LIKE for v in literals)


def ordering_literals(text: str, name: str) -> set[str]:
    """Literals `name` is compared with by -gt/-lt/-ge/-le or (( < > )) in `text` (thresholds)."""
    return set(_ordering_literals(text, name))


@lru_cache(maxsize=1024)
def _ordering_literals(text: str, name: str) -> frozenset[str]:
    """Cached: a batch asks again for every knob after every variant, over the same sources."""
    var = rf"(?:\$\{{?{re.escape(name)}\}}?|\b{re.escape(name)}\b)"
    found = set()
    for m in re.finditer(rf'"?{var}"?\s*(?:-gt|-lt|-ge|-le|<=?|>=?)\s*["\']?([\w.+-]+)', text):
        found.add(m.group(1))
    # Literal first (`8 -lt $X`): every such match contains an operator right before the knob, so
    # look for that cheap tail first; the full pattern backtracks through every word of the text.
    if re.search(rf'(?:-gt|-lt|-ge|-le|<=?|>=?)\s*"?{var}', text):
        for m in re.finditer(rf'["\']?([\w.+-]+)["\']?\s*(?:-gt|-lt|-ge|-le|<=?|>=?)\s*"?{var}', text):
            found.add(m.group(1))
    return frozenset(found)


def drop_thresholds(info: KnobInfo, text: str) -> KnobInfo:
    """The knob without the literals that only bound it (see the module docstring)."""
    bounds = ordering_literals(text, info.name)
    return KnobInfo(info.name, info.default, [v for v in info.compared_with if v not in bounds])


def natural_key(value: str) -> tuple:
    """`8x7b` < `8x22b`, `7` < `13` < `70`: numbers inside strings compare as numbers."""
    parts = re.split(r"(\d+)", value)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def knob_values(info: KnobInfo) -> list[str | None]:
    """None (the script's own default, no override) first, then the other literals in natural order."""
    literals = sorted({v for v in info.compared_with if v != ""}, key=natural_key)
    return [None] + [v for v in literals if v != info.default]


def label_for(assignment: Sequence[tuple[str, str]]) -> str:
    """File-name-safe, readable variant name: `MODEL_SIZE=70`, `MODEL=8x7b,TP=2`, `default`."""
    if not assignment:
        return "default"
    return ",".join(f"{name}={_SAFE.sub('_', value) or 'empty'}" for name, value in assignment)


def auto_variants(knobs: Mapping[str, KnobInfo], cap: int = DEFAULT_MAX_VARIANTS,
                  all_choices: bool = False) -> tuple[list[Variant], bool]:
    """Variants from the script's own comparisons. Returns (variants, capped).

    The defaults are named by their values (`MODEL_SIZE=8` next to `MODEL_SIZE=70`),
    or `unset` when the script has no default for the knob.
    """
    varied = sorted(name for name, info in knobs.items() if is_varied(info, all_choices))
    variants: list[Variant] = []
    capped = False
    for combo in itertools.product(*[[(n, v) for v in knob_values(knobs[n])] for n in varied]):
        if len(variants) >= cap:
            capped = True
            break
        overrides = tuple((n, v) for n, v in combo if v is not None)
        named = tuple((n, v if v is not None else (knobs[n].default or "unset")) for n, v in combo)
        variants.append(Variant(label_for(named), overrides, not overrides))
    return variants, capped


def explicit_variants(
    choices: Mapping[str, Sequence[str]],
    declared: Iterable[str],
    cap: int = DEFAULT_MAX_VARIANTS,
) -> tuple[list[Variant], bool, list[str]]:
    """Variants from `--knobs`, restricted to the knobs this script declares.

    Returns (variants, capped, ignored knob names). Every listed value is passed
    explicitly, also when it equals the script's default.
    """
    known = set(declared)
    names = [n for n in choices if n in known]
    ignored = [n for n in choices if n not in known]
    variants: list[Variant] = []
    capped = False
    for combo in itertools.product(*[[(n, v) for v in choices[n]] for n in names]):
        if len(variants) >= cap:
            capped = True
            break
        variants.append(Variant(label_for(combo), tuple(combo), not combo))
    return variants, capped, ignored


def parse_knobs_option(text: str) -> dict[str, list[str]]:
    """`"MODEL_SIZE=8,70 TP=1"` -> {"MODEL_SIZE": ["8", "70"], "TP": ["1"]} (order kept)."""
    choices: dict[str, list[str]] = {}
    for item in text.replace(";", " ").split():
        name, sep, values = item.partition("=")
        if not sep or not _KNOB_NAME.match(name):
            raise MigrateError(f"--knobs: expected NAME=VALUE[,VALUE...], got {item!r}",
                               hint='for example --knobs "MODEL_SIZE=8,70 TP=1"')
        listed = [v for v in values.split(",")]
        if name in choices:
            raise MigrateError(f"--knobs: {name} given twice", hint="list all its values once: NAME=a,b")
        unique: list[str] = []
        for value in listed:
            if value not in unique:
                unique.append(value)
        choices[name] = unique
    if not choices:
        raise MigrateError("--knobs: no knob given", hint='for example --knobs "MODEL_SIZE=8,70 TP=1"')
    return choices
