"""The table of Megatron-LM command-line options for one Megatron version.

A schema is data: extracted from a checkout's `megatron/training/arguments.py`
by `migrate.megatron.extract` (never by importing it), stored as JSON, and
loaded here. Everything that needs to know an option's dest, default, type or
action (the argv parser, the version translator, the Primus loaders that fall
back to argparse defaults) reads it through `Schema`.

JSON shape (`schemas/<name>.json`):
    {"name": "rocm_dev", "source": "<repo>@<commit>", "options": [ {OptionSpec fields}, ... ]}
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from migrate.diagnostics import MigrateError

SCHEMA_DIR = Path(__file__).parent / "schemas"

# A default that the extractor could not reduce to a JSON value (a call, an
# expression over other variables) is stored as {"unevaluated": "<source text>"}.
UNEVALUATED = "unevaluated"


@dataclass(frozen=True)
class OptionSpec:
    """One `parser.add_argument(...)` call, reduced to the facts argparse uses."""

    option_strings: tuple[str, ...]
    dest: str
    action: str = "store"  # store, store_true, store_false, store_const, append, count, ...
    default: Any = None
    type: str | None = None  # "int", "float", "str", or the name of a custom callable
    const: Any = None
    choices: tuple[Any, ...] | None = None
    nargs: str | int | None = None
    required: bool = False
    group: str | None = None
    deprecated: bool = False
    # Source text of an `if` guarding the add_argument call (e.g. `HAVE_KITCHEN`): the option
    # exists only when that holds at Megatron's start-up. None: always registered.
    condition: str | None = None

    @property
    def takes_value(self) -> bool:
        return self.action in ("store", "append", "extend") and self.nargs != 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["option_strings"] = list(self.option_strings)
        if self.choices is not None:
            data["choices"] = list(self.choices)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OptionSpec":
        data = dict(data)
        data["option_strings"] = tuple(data["option_strings"])
        if data.get("choices") is not None:
            data["choices"] = tuple(data["choices"])
        unknown = data.keys() - _OPTION_FIELDS
        if unknown:
            raise TypeError(f"unknown option fields {sorted(unknown)}")
        # Loading a schema builds hundreds of these; skip the frozen-dataclass __init__ (slow
        # per-field object.__setattr__) and fill the instance dict directly, defaults first.
        spec = object.__new__(cls)
        spec.__dict__.update(_OPTION_DEFAULTS)
        spec.__dict__.update(data)
        return spec


_OPTION_FIELDS = frozenset(f.name for f in fields(OptionSpec))
_OPTION_DEFAULTS = {f.name: f.default for f in fields(OptionSpec) if f.default is not MISSING}


@dataclass
class Schema:
    name: str
    source: str
    options: list[OptionSpec]
    notes: list[str] = field(default_factory=list)  # what the extractor could not follow
    by_option: dict[str, OptionSpec] = field(init=False, repr=False)
    by_dest: dict[str, list[OptionSpec]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_option = {}
        self.by_dest = {}
        for spec in self.options:
            for opt in spec.option_strings:
                self.by_option[opt] = spec
            self.by_dest.setdefault(spec.dest, []).append(spec)

    def defaults(self) -> dict[str, Any]:
        """dest → argparse default; the first option registering a dest sets it, as argparse does."""
        out: dict[str, Any] = {}
        for spec in self.options:
            out.setdefault(spec.dest, spec.default)
        return out

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "source": self.source}
        if self.notes:
            data["notes"] = list(self.notes)
        data["options"] = [o.to_json() for o in self.options]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Schema":
        return cls(
            data["name"],
            data.get("source", ""),
            [OptionSpec.from_json(o) for o in data["options"]],
            list(data.get("notes", [])),
        )


def bundled_schema_names() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


_LOADED_BY_NAME: dict[str, Schema] = {}


@lru_cache(maxsize=None)
def _load_path(path: str) -> Schema:
    try:
        return Schema.from_json(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise MigrateError(f"schema file not found: {path}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise MigrateError(f"{path}: not a primus-migrate schema file ({exc})",
                           hint="generate one with `primus-migrate schema --megatron-path DIR -o FILE`") from None


def load_schema(name_or_path: str) -> Schema:
    """A bundled schema by name (`rocm_dev`, `5a676b36`, `d3528a21`) or a JSON file path."""
    bundled = SCHEMA_DIR / f"{name_or_path}.json"
    if bundled.is_file():
        return _load_path(str(bundled))
    if Path(name_or_path).suffix == ".json" or Path(name_or_path).exists():
        schema = _load_path(str(Path(name_or_path).resolve()))
        _LOADED_BY_NAME.setdefault(schema.name, schema)
        return schema
    if name_or_path in _LOADED_BY_NAME:  # a custom schema loaded from its file earlier, named by MegatronArgs.schema
        return _LOADED_BY_NAME[name_or_path]
    raise MigrateError(
        f"unknown Megatron schema '{name_or_path}'",
        hint=f"bundled schemas: {', '.join(bundled_schema_names()) or '(none)'}; or pass a JSON file",
    )
