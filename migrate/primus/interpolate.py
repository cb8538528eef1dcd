"""`${VAR}` / `${VAR:default}` substitution, and the ways Primus releases type its result.

Every release substitutes with the same pattern (a name without `:`, `{` or
`}`, then an optional `:default` up to the first `}`) from the process
environment; a `${VAR}` without default whose VAR is unset is an error. They
differ in which strings are walked and how a string becomes a typed value; an
`Interpolation` names one such way, and each release (migrate.primus.releases)
says which it uses:

- every string coerced, keys too (`primus/core/utils/yaml_utils.py::parse_yaml`
  at v0.1.0-rc1..v0.3.0): all digits (optional `-`) -> int, else what Python's
  `float()` accepts -> float. The YAML string `1e-5` ends up as 1e-05.
- substituted strings only, keys too (the same file at v0.4.0, v0.5.0): the same
  int / `float()` coercion, but only for a string a substitution changed.
- substituted values only (`primus/core/config/yaml_loader.py`, v0.6.0..v26.5.0):
  digits -> int, a decimal/exponent literal -> float; keys are never walked.
- the same plus `true`/`false` (any case) -> bool first (yaml_loader.py@v26.5.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from migrate.diagnostics import MigrateError, Origin

VAR_PATTERN = re.compile(r"\$\{([^:{}]+)(?::([^}]*))?\}")
_INT = re.compile(r"-?\d+")
_FLOAT_DECIMAL = re.compile(r"-?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)")


def substitute(text: str, env: Mapping[str, str], origin: Origin | None) -> str:
    """Replace every `${VAR[:default]}` in `text`."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is None:
            raise MigrateError(
                f"environment variable '{name}' is required but not set, and '${{{name}}}' gives no default",
                origin=origin,
                hint=f"export {name}=... or write ${{{name}:default}}",
            )
        return default

    return VAR_PATTERN.sub(one, text)


def coerce_python_number(text: str) -> Any:
    """int when all digits, else a Python `float()` literal (`inf`, `1e-5`, ` 2 `), else the text."""
    if _INT.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def coerce_decimal_number(text: str) -> Any:
    """int when all digits, else a float only for a decimal/exponent literal, else the text."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT_DECIMAL.fullmatch(text):
        return float(text)
    return text


def coerce_scalar(text: str) -> Any:
    """`true`/`false` (any case) -> bool, then as coerce_decimal_number."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return coerce_decimal_number(text)


def _walk(obj: Any, fn: Callable[[str, Origin | None], Any], origin: Origin | None, keys: bool) -> Any:
    if isinstance(obj, dict):
        out = type(obj)()
        lines = getattr(obj, "lines", None)
        for key, value in obj.items():
            here = origin
            if lines is not None and key in lines and origin is not None:
                here = Origin(origin.file, lines[key])
            new_key = fn(key, here) if keys and isinstance(key, str) else key
            out[new_key] = _walk(value, fn, here, keys)
            if lines is not None and key in lines:
                out.lines[new_key] = lines[key]  # type: ignore[attr-defined]  # same type as obj
        return out
    if isinstance(obj, list):
        return [_walk(item, fn, origin, keys) for item in obj]
    if isinstance(obj, str):
        return fn(obj, origin)
    return obj


@dataclass(frozen=True)
class Interpolation:
    """One release's way of reading `${VAR}` in a file it loads."""

    name: str                                  # distinguishes cached loads made with different rules
    coerce: Callable[[str], Any]               # how a string becomes a typed value
    keys: bool                                 # mapping keys are substituted (and coerced) too
    every_string: bool                         # coerce strings no substitution changed as well

    def apply(self, obj: Any, env: Mapping[str, str], filename: str) -> Any:
        """`obj` (a parsed YAML file) with substitutions made and strings typed."""

        def one(text: str, origin: Origin | None) -> Any:
            replaced = substitute(text, env, origin)
            return self.coerce(replaced) if self.every_string or replaced != text else replaced

        return _walk(obj, one, Origin(filename), keys=self.keys)

    def typed(self, written: str) -> Any:
        """The value a YAML string holding `${VAR:...}` reads back as, once substituted to `written`."""
        return self.coerce(written)


EVERY_STRING = Interpolation("every-string", coerce_python_number, keys=True, every_string=True)
SUBSTITUTED_PYTHON = Interpolation("substituted-python", coerce_python_number, keys=True, every_string=False)
SUBSTITUTED_DECIMAL = Interpolation("substituted-decimal", coerce_decimal_number, keys=False, every_string=False)
SUBSTITUTED_SCALAR = Interpolation("substituted-scalar", coerce_scalar, keys=False, every_string=False)
