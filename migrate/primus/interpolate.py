"""`${VAR}` / `${VAR:default}` substitution, with each Primus release's coercion.

Both releases substitute with the same pattern (a name without `:`, `{` or
`}`, then an optional `:default` up to the first `}`) from the process
environment; a `${VAR}` without default whose VAR is unset is an error. They
differ in what happens to the resulting string:

- primus-0.1 (`primus/core/utils/yaml_utils.py@v0.1.0-rc1`): walks keys *and*
  values; every string, substituted or not, becomes an int when it is all
  digits (optional `-`), else a float when Python's `float()` accepts it. So
  the YAML string `1e-5` ends up as the float 1e-05, and `inf` as a float.
- primus-26.5 (`primus/core/config/yaml_loader.py@v26.5.1`): walks values only;
  a string is converted only when a substitution changed it: `true`/`false`
  (any case) -> bool, digits -> int, a decimal/exponent literal -> float. A
  plain `1e-5` written in a YAML file stays the string '1e-5'.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from migrate.diagnostics import MigrateError, Origin

VAR_PATTERN = re.compile(r"\$\{([^:{}]+)(?::([^}]*))?\}")
_INT = re.compile(r"-?\d+")
_FLOAT_V26 = re.compile(r"-?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)")


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


def coerce_v01(text: str) -> Any:
    """primus-0.1: every string is tried as int, then as a Python float literal."""
    if _INT.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def coerce_v26(text: str) -> Any:
    """primus-26.5: bool, int, then decimal float; applied only to substituted strings."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT_V26.fullmatch(text):
        return float(text)
    return text


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


def interpolate_v01(obj: Any, env: Mapping[str, str], filename: str) -> Any:
    """Substitute and coerce keys and values, as primus-0.1 does for each file it reads."""
    return _walk(obj, lambda s, o: coerce_v01(substitute(s, env, o)), Origin(filename), keys=True)


def interpolate_v26(obj: Any, env: Mapping[str, str], filename: str) -> Any:
    """Substitute values; coerce only those a substitution changed, as primus-26.5 does."""

    def one(text: str, origin: Origin | None) -> Any:
        replaced = substitute(text, env, origin)
        return coerce_v26(replaced) if replaced != text else replaced

    return _walk(obj, one, Origin(filename), keys=False)
