"""Test helpers for the Megatron argument model: an argparse oracle built from a schema."""

from __future__ import annotations

import argparse
import contextlib
import io
import textwrap
from pathlib import Path
from typing import Any

from migrate.megatron.schema import UNEVALUATED, Schema

_BUILTIN_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def argparse_from_schema(schema: Schema) -> argparse.ArgumentParser:
    """Replay the schema's OptionSpecs into a real ArgumentParser, as Megatron builds its own.

    Types argparse knows natively are passed as themselves; enum types become `str`
    (we represent members by name); other custom converters are left out, so oracle
    comparisons should use options with builtin types.
    """
    parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False, exit_on_error=False)
    for spec in schema.options:
        kwargs: dict[str, Any] = {"dest": spec.dest}
        default = spec.default
        if isinstance(default, dict) and UNEVALUATED in default:
            default = dict(default)
        kwargs["default"] = default
        if spec.action == "boolean_optional":
            names = [o for o in spec.option_strings if not (o.startswith("--no-") and "--" + o[5:] in spec.option_strings)]
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        kwargs["action"] = spec.action
        if spec.action in ("store", "append", "extend"):
            if spec.type in _BUILTIN_TYPES:
                kwargs["type"] = _BUILTIN_TYPES[spec.type]
            elif spec.type and spec.type.startswith("enum:"):
                kwargs["type"] = str
            if spec.nargs is not None:
                kwargs["nargs"] = spec.nargs
            if spec.choices is not None:
                kwargs["choices"] = list(spec.choices)
            if spec.const is not None:
                kwargs["const"] = spec.const
        elif spec.action == "store_const":
            kwargs["const"] = spec.const
        kwargs["required"] = spec.required
        parser.add_argument(*spec.option_strings, **kwargs)
    return parser


def oracle_parse(schema: Schema, argv: list[str]) -> dict[str, Any] | None:
    """argparse's namespace as a dict, or None when argparse rejects the argv."""
    parser = argparse_from_schema(schema)
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return vars(parser.parse_args(argv))
        except (SystemExit, argparse.ArgumentError):
            return None


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write a fake checkout (relative path -> dedented source) under `root`; returns `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root
