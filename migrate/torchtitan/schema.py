"""torchtitan's JobConfig as data: sections, fields (dotted paths), types, defaults, value checks.

Bundled tables live in `schemas/<commit8>.json`, one per torchtitan commit a supported Primus
release pins (regenerate with `python -m migrate.torchtitan.bundle`). A table made by
`primus-migrate schema --torchtitan-path DIR` can be passed by path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from migrate.diagnostics import MigrateError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@dataclass(frozen=True)
class FieldSpec:
    path: str          # "training.local_batch_size"
    annotation: str    # as written upstream: "int | None"
    type: Any          # descriptor, see extract.type_descriptor
    default: Any
    line: int          # line in the upstream file


@dataclass(frozen=True)
class TitanSchema:
    name: str
    file: str
    sections: tuple[str, ...]
    fields: dict[str, FieldSpec]

    def defaults(self) -> dict[str, Any]:
        """dotted field -> default (lists copied: callers may keep them)."""
        return {p: list(f.default) if isinstance(f.default, list) else f.default for p, f in self.fields.items()}

    def is_section(self, path: str) -> bool:
        return path in self.sections

    def children(self, section: str) -> list[str]:
        """Immediate child names (fields and sub-sections) of `section` ("" for the top level)."""
        prefix = f"{section}." if section else ""
        names = {p[len(prefix):].split(".", 1)[0] for p in (*self.fields, *self.sections) if p.startswith(prefix)}
        return sorted(names)


def bundled_schema_names() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


def schema_from_json(data: dict[str, Any]) -> TitanSchema:
    fields = {p: FieldSpec(p, f["annotation"], f["type"], f["default"], f.get("line", 0))
              for p, f in data["fields"].items()}
    return TitanSchema(data["name"], data.get("file", ""), tuple(data["sections"]), fields)


@lru_cache(maxsize=8)
def load_schema(name_or_path: str) -> TitanSchema:
    """A bundled table by name (`73a0e697`) or a JSON file made by `primus-migrate schema`."""
    path = Path(name_or_path)
    if not path.suffix == ".json":
        path = SCHEMA_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise MigrateError(f"no torchtitan schema '{name_or_path}'",
                           hint=f"bundled: {', '.join(bundled_schema_names())}; or a file made by "
                                "`primus-migrate schema --torchtitan-path DIR`")
    try:
        return schema_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise MigrateError(f"{path}: not a torchtitan schema file ({exc})") from None


# -- value checks ---------------------------------------------------------------------------------

def type_text(descriptor: Any) -> str:
    if isinstance(descriptor, str):
        return {"none": "None"}.get(descriptor, descriptor)
    if "list" in descriptor:
        return f"list[{type_text(descriptor['list'])}]"
    if "literal" in descriptor:
        return "one of " + ", ".join(repr(v) for v in descriptor["literal"])
    return " | ".join(type_text(o) for o in descriptor["union"])


def conforms(descriptor: Any, value: Any) -> bool:
    """Does a TOML value have the field's type? (torchtitan itself stores it unchecked.)"""
    if isinstance(descriptor, dict):
        if "union" in descriptor:
            return any(conforms(o, value) for o in descriptor["union"])
        if "literal" in descriptor:
            return any(type(value) is type(v) and value == v for v in descriptor["literal"])
        return isinstance(value, list) and all(conforms(descriptor["list"], v) for v in value)
    if descriptor == "any":
        return True
    if descriptor == "none":
        return value is None
    if descriptor == "bool":
        return isinstance(value, bool)
    if descriptor == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if descriptor == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if descriptor == "str":
        return isinstance(value, str)
    if descriptor == "dict":
        return isinstance(value, dict)
    return False


def is_flag(descriptor: Any) -> bool:
    """tyro turns a `bool` field into `--x` / `--no-x` flags that take no value."""
    return descriptor == "bool"


def from_cli(descriptor: Any, word: str) -> Any:
    """One command-line word as tyro reads it for this type (ValueError when it would refuse).

    Unions are tried in their written order (`float | int` reads "1" as 1.0); `None` reads as
    None where the type allows it; `list[str]` is one comma-separated word (torchtitan's own rule).
    """
    if isinstance(descriptor, dict):
        if "union" in descriptor:
            if word == "None" and "none" in descriptor["union"]:
                return None  # tyro reads None first, whatever the order
            for option in descriptor["union"]:
                try:
                    return from_cli(option, word)
                except ValueError:
                    continue
            raise ValueError(f"expected {type_text(descriptor)}")
        if "literal" in descriptor:
            for choice in descriptor["literal"]:
                if str(choice) == word:
                    return choice
            raise ValueError(f"expected {type_text(descriptor)}")
        if descriptor["list"] == "str":
            return word.split(",")
        raise ValueError(f"{type_text(descriptor)} cannot be given on the command line by primus-migrate")
    if descriptor == "none":
        if word == "None":
            return None
        raise ValueError("expected None")
    if descriptor == "int":
        try:
            return int(word)
        except ValueError:
            raise ValueError("expected an integer") from None
    if descriptor == "float":
        try:
            return float(word)
        except ValueError:
            raise ValueError("expected a number") from None
    if descriptor in ("str", "any"):
        return word
    raise ValueError(f"expected {type_text(descriptor)}")
