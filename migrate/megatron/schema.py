"""The table of Megatron-LM command-line options for one Megatron version.

A schema is data: extracted from a checkout's `megatron/training/arguments.py`
by `migrate.megatron.extract` (never by importing it), stored as JSON, and
loaded here. Everything that needs to know an option's dest, default, type or
action (the argv parser, the version translator, the Primus loaders that fall
back to argparse defaults) reads it through `Schema`.

JSON shape (`schemas/<name>.json`):
    {"name": "rocm_dev", "source": "<repo>@<commit>", "options": [ {OptionSpec fields}, ... ],
     "providers": {"get_patch_args": {"options": [...], "edits": [{"option": "--x", "default": ...}]}},
     "entries": {"examples/deepseek_v2/pretrain_deepseek.py": ["get_patch_args"]},
     "args_defaults": {"pretrain_gpt.py": {"tokenizer_type": "GPT2BPETokenizer"}}}

`providers`, `entries` and `args_defaults` are optional (older files lack the
last). Megatron entry scripts pass an `extra_args_provider` to `parse_args`,
which calls it on the finished parser: its options are registered after the
base ones, and it may change base options in place (`edits`: a new default or
choice list). So the option table of a run depends on its entry script:
`Schema.for_entry(entry)`. Entry scripts also pass `args_defaults` to
`pretrain()`: validate_args gives each of its keys that value when the parsed
one is None (`Schema.entry_args_defaults(entry)`, applied by `derive`).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from migrate.diagnostics import MigrateError

SCHEMA_DIR = Path(__file__).parent / "schemas"

# A default that the extractor could not reduce to a JSON value (a call, an
# expression over other variables) is stored as {"unevaluated": "<source text>"}.
UNEVALUATED = "unevaluated"


def is_runtime_value(value: Any) -> bool:
    """A default the schema could not evaluate statically (`int(os.getenv('LOCAL_RANK', '0'))`):
    it is computed by each process at start-up, on either side, so it is not compared or written."""
    return isinstance(value, dict) and set(value) == {UNEVALUATED}


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
class Provider:
    """What one `extra_args_provider(parser)` function does to the parser."""

    options: list[OptionSpec] = field(default_factory=list)  # registered, in call order
    # In-place changes of options registered before it: {"option": "--x", "default"/"choices": new value}
    edits: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"options": [o.to_json() for o in self.options]}
        if self.edits:
            data["edits"] = [dict(e) for e in self.edits]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Provider":
        edits = []
        for edit in data.get("edits", []):
            edit = dict(edit)
            if isinstance(edit.get("choices"), list):
                edit["choices"] = tuple(edit["choices"])
            edits.append(edit)
        return cls([OptionSpec.from_json(o) for o in data.get("options", [])], edits)


@dataclass
class Schema:
    name: str
    source: str
    options: list[OptionSpec]
    notes: list[str] = field(default_factory=list)  # what the extractor could not follow
    providers: dict[str, Provider] = field(default_factory=dict)  # extra_args_provider name -> what it adds
    entries: dict[str, list[str]] = field(default_factory=dict)  # entry script (repo-relative) -> providers
    # provider dests: dest -> the provider that registered it (only in a schema made by with_providers)
    provided_by: dict[str, str] = field(default_factory=dict)
    # entry script (repo-relative) -> the literal `args_defaults` it passes to pretrain()/initialize_megatron()
    args_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
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
        cached = self.__dict__.get("_defaults")
        if cached is None or cached[0] is not self.options or cached[1] != len(self.options):
            out: dict[str, Any] = {}
            for spec in self.options:
                out.setdefault(spec.dest, spec.default)
            # Memoised (a batch asks thousands of times); keyed by the option list itself, and a
            # fresh top-level dict each call so callers may still add or drop keys.
            cached = self.__dict__["_defaults"] = (self.options, len(self.options), out)
        return dict(cached[2])

    # ---- entry scripts

    def match_entry(self, entry: str | None) -> str | None:
        """The repo-relative entry script the launch runs, None when unknown or ambiguous.

        `entry` is the program as the launch names it (a path of any depth, or a bare name):
        matched against the known entry paths (those with providers or args_defaults) by the
        longest common tail, a bare name only when exactly one entry has that file name.
        """
        if not entry or not (self.entries or self.args_defaults):
            return None
        cache = self.__dict__.setdefault("_entry_matches", {})  # asked a few times per conversion
        if entry not in cache:
            cache[entry] = self._match_entry(entry)
        return cache[entry]

    def _match_entry(self, entry: str) -> str | None:
        from migrate.megatron.entry_paths import longest_tail_match

        return longest_tail_match(entry, [*self.entries, *self.args_defaults])

    def entry_providers(self, entry: str | None) -> list[str]:
        """Providers the entry script passes to Megatron's parser; [] for an unknown entry."""
        return list(self.entries.get(self.match_entry(entry) or "", []))

    def entry_args_defaults(self, entry: str | None) -> dict[str, Any]:
        """The `args_defaults` the entry script hands validate_args; {} for an unknown entry."""
        return dict(self.args_defaults.get(self.match_entry(entry) or "", {}))

    def for_entry(self, entry: str | None) -> "Schema":
        """The option table a run of `entry` parses with: base options, then its providers'."""
        return self.with_providers(self.entry_providers(entry))

    def with_providers(self, names: list[str]) -> "Schema":
        """Base options edited by, then followed by, the named providers' options (argparse order).

        argparse fills each dest's default from the first action registering it, so a provider
        option whose dest the base already has does not change that default; an edit does.
        """
        if not names:
            return self
        key = tuple(names)
        cache = self.__dict__.setdefault("_with_providers", {})
        if key in cache:
            return cache[key]
        options = list(self.options)
        provided_by: dict[str, str] = {}
        for name in names:
            provider = self.providers.get(name)
            if provider is None:
                raise MigrateError(f"schema {self.name} has no extra_args_provider '{name}'")
            for edit in provider.edits:
                for i, spec in enumerate(options):
                    if edit["option"] in spec.option_strings:
                        changes = {k: v for k, v in edit.items() if k != "option"}
                        options[i] = replace(spec, **changes)
                        break
            for spec in provider.options:
                options.append(spec)
                provided_by.setdefault(spec.dest, name)
        derived = Schema(f"{self.name}+{'+'.join(names)}", self.source, options, list(self.notes),
                         provided_by={d: p for d, p in provided_by.items() if d not in self.by_dest})
        derived.__dict__["base"] = self
        cache[key] = derived
        return derived

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "source": self.source}
        if self.notes:
            data["notes"] = list(self.notes)
        if self.entries:
            data["entries"] = {k: list(v) for k, v in self.entries.items()}
        if self.args_defaults:
            data["args_defaults"] = {k: dict(v) for k, v in self.args_defaults.items()}
        if self.providers:
            data["providers"] = {k: p.to_json() for k, p in self.providers.items()}
        data["options"] = [o.to_json() for o in self.options]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Schema":
        return cls(
            data["name"],
            data.get("source", ""),
            [OptionSpec.from_json(o) for o in data["options"]],
            list(data.get("notes", [])),
            {k: Provider.from_json(v) for k, v in data.get("providers", {}).items()},
            {k: list(v) for k, v in data.get("entries", {}).items()},
            args_defaults={k: dict(v) for k, v in data.get("args_defaults", {}).items()},
        )


def bundled_schema_names() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


_LOADED_BY_NAME: dict[str, Schema] = {}


def remember_schema(schema: Schema) -> None:
    """Make a schema built in this process (a checkout's) loadable by its name, as a loaded file is."""
    _LOADED_BY_NAME.setdefault(schema.name, schema)


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
    """A bundled schema by name (`rocm_dev`, `5a676b36`, `d3528a21`) or a JSON file path.

    `base+provider[+provider]` (the name `Schema.for_entry` gives) is the base schema with
    those entry providers applied.
    """
    if "+" in name_or_path and "/" not in name_or_path and not name_or_path.endswith(".json") \
            and not Path(name_or_path).exists():
        base, *providers = name_or_path.split("+")
        return load_schema(base).with_providers(providers)
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
