"""Which Megatron-LM option table reads a legacy script, and why: one decision, said out loud.

A script is read with the option table of the Megatron-LM it was written for. In order:
1. the table the user named (`--legacy-schema NAME|FILE`);
2. the table of the Megatron-LM checkout the script sits in (a folder above it holding
   `megatron/training/arguments.py`, or `megatron/arguments.py` before 2024), extracted from that
   checkout's own sources;
3. the first bundled table, default first, under which every option of the launch parses.
The choice is reported, so a script read with another table than the default never goes unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from migrate.diagnostics import Diagnostics, MigrateError
from migrate.megatron.schema import Schema, load_schema, remember_schema

DEFAULT_LEGACY_SCHEMA = "rocm_dev"
# Tried in this order when the user names none: the ROCm fork first, then newer upstream, then older.
BUNDLED_ORDER = (DEFAULT_LEGACY_SCHEMA, "d3528a21", "5a676b36")
# a Megatron-LM checkout holds its parser here (the second: before training moved to megatron/training/)
CHECKOUT_MARKERS = (Path("megatron/training/arguments.py"), Path("megatron/arguments.py"))
_MAX_LEVELS_UP = 32
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
LEGACY_SCHEMA_CODE = "legacy-schema"  # the diagnostic that says which table was used


@dataclass(frozen=True)
class SchemaChoice:
    schema: Schema  # the base table (entry providers are applied by the caller)
    label: str  # what the report records: a bundled name or the checkout's path
    why: str  # one sentence for the user; '' for the default read without question
    guessed: bool = False  # a bundled table other than the default: the script's Megatron version is inferred


def find_checkout(start: str | Path) -> Path | None:
    """The nearest folder at or above `start` that is a Megatron-LM checkout (holds one of CHECKOUT_MARKERS)."""
    here = Path(os.path.abspath(start))
    if here.is_file() or not here.exists():
        here = here.parent
    for _ in range(_MAX_LEVELS_UP):
        if any((here / marker).is_file() for marker in CHECKOUT_MARKERS):
            return here
        if here.parent == here:
            return None
        here = here.parent
    return None


_CHECKOUT_SCHEMAS: dict[str, Schema] = {}


def checkout_schema(checkout: Path) -> Schema:
    """The checkout's own table, extracted once per process (a few seconds of libcst)."""
    key = str(checkout)
    if key not in _CHECKOUT_SCHEMAS:
        from migrate.megatron.extract import extract_schema

        # a name without '/' or '+' (load_schema reads those as a path or as entry providers), unique per folder
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        try:
            schema = extract_schema(checkout, name=f"checkout:{_NAME_UNSAFE.sub('_', checkout.name)}@{digest}",
                                    source=key)
        except MigrateError as exc:  # a fork whose arguments.py we cannot read: say how to go on without it
            exc.hint = "; ".join(filter(None, [exc.hint, f"the script sits in the Megatron-LM checkout {checkout}; "
                                               "pass --legacy-schema NAME|FILE to read it with another table"]))
            raise
        remember_schema(schema)  # MegatronArgs name their schema; later steps load it by that name
        _CHECKOUT_SCHEMAS[key] = schema
    return _CHECKOUT_SCHEMAS[key]


def choose_legacy_schema(requested: str | None, script: str | Path, entry: str | None,
                         argv: Sequence) -> SchemaChoice:
    """The table to read `argv` (the launch's Megatron arguments) with; see the module docstring."""
    if requested:
        return SchemaChoice(load_schema(requested), requested, "")
    checkout = find_checkout(script)
    if checkout is not None:
        return SchemaChoice(checkout_schema(checkout), str(checkout),
                            f"read with the option table of the Megatron-LM checkout it sits in ({checkout}), "
                            "extracted from that checkout's own arguments.py")
    return first_accepting_bundled(entry, argv)


def first_accepting_bundled(entry: str | None, argv: Sequence) -> SchemaChoice:
    """The first bundled table under which `argv` parses; the default's error when none does."""
    from migrate.megatron.argv import parse_argv

    first_error: MigrateError | None = None
    refusals: list[str] = []
    for name in BUNDLED_ORDER:
        schema = load_schema(name)
        try:
            parse_argv(schema.for_entry(entry), argv, Diagnostics())
        except MigrateError as exc:
            first_error = first_error or exc
            refusals.append(f"{name}: {exc.message}")
            continue
        if name == DEFAULT_LEGACY_SCHEMA:
            return SchemaChoice(schema, name, "")
        return SchemaChoice(schema, name, f"read with the bundled Megatron-LM {name} option table, the first that "
                                          f"accepts every option ({'; '.join(refusals)}); its defaults stand for "
                                          "the options the script leaves unset: pass --legacy-schema to choose "
                                          "another", guessed=True)
    assert first_error is not None
    if len({r.split(": ", 1)[1] for r in refusals}) > 1:  # the tables disagree: say what each refused
        first_error.hint = "; ".join(filter(None, [first_error.hint, "no bundled table accepts the script ("
                                                  + "; ".join(refusals[1:]) + ")"]))
    raise first_error
