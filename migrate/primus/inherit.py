"""File-level inheritance: the `bases:`/`includes:` and the `extends:` dialects.

Each function reads one YAML file, interpolates it with the release's rules
(an `Interpolation`, which the release in migrate.primus.releases chooses),
then composes it with the files it names (paths relative to the file itself).
They return the flat mapping plus, for every top-level key, the file:line that
gave it its value.

`bases:` (`primus/core/utils/yaml_utils.py::parse_yaml@v0.1.0-rc1`, to v0.5.0):
  - an empty file is `{}`;
  - `bases: [b1, b2, ...]`, in order: every key of the file (as filled so far,
    except `bases`) must exist in the base, then the base fills keys the file
    lacks (the file wins); `bases` is then dropped;
  - `includes: [i1, ...]`, after bases, in order: fill keys still missing;
    `includes` is then dropped.
`extends:` (`primus/core/config/yaml_loader.py`, v0.6.0 to v26.5.1):
  - an empty file is an error;
  - `extends: [e1, e2, ...]`: deep merge e1, e2, ... (later wins, nested
    mappings merged key by key), then the file's own keys on top; other keys
    such as `bases:` are plain data there.
Both: a missing file is an error; a file reaching itself again is a cycle
(upstream recurses until Python's recursion limit; we name the chain).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, Mapping, Sequence

from migrate import limits
from migrate.diagnostics import MigrateError, Origin
from migrate.primus.confine import check_reference
from migrate.primus.interpolate import Interpolation
from migrate.primus.yamlio import copy_tree, key_line, load_yaml_file


@dataclass
class Layer:
    """One composed config: values and where each top-level key got its value."""

    values: dict[str, Any]
    origins: dict[str, Origin] = field(default_factory=dict)
    path: Path | None = None


def locate(ref: Any, current: Path, fallbacks: Sequence[Path], origin: Origin) -> Path:
    """`ref` relative to the referring file's folder; then our overlay folders (see profiles)."""
    if not isinstance(ref, str) or not ref:
        raise MigrateError(f"expected a YAML file name, got {ref!r}", origin=origin)
    candidates = [current.parent / ref] + [Path(d) / ref for d in fallbacks]
    for candidate in candidates:
        if candidate.is_file():
            check_reference(ref, candidate, origin, "base file")
            return candidate
        _note((str(candidate), None, None))
    raise MigrateError(f"base file '{ref}' not found (looked in {current.parent})", origin=origin)


def _ref_list(data: Mapping[str, Any], key: str, path: Path) -> list[Any]:
    refs = data[key]
    origin = Origin(str(path), key_line(data, key))
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise MigrateError(f"'{key}' must be a list of YAML file names, got {type(refs).__name__}", origin=origin)
    return refs


def _enter(path: Path, stack: tuple[Path, ...], origin: Origin | None) -> tuple[Path, ...]:
    real = path.resolve()
    if real in stack:
        chain = " -> ".join(p.name for p in stack[stack.index(real):] + (real,))
        raise MigrateError(f"inheritance cycle: {chain}", origin=origin)
    if len(stack) >= limits.current().extends_depth:
        raise limits.exceeded("extends_depth", f"a chain of {len(stack) + 1} inherited files reaches {path.name}",
                              origin)
    return stack + (real,)


def _origins(data: Mapping[str, Any], path: Path) -> dict[str, Origin]:
    return {k: Origin(str(path), key_line(data, k)) for k in data}


def _read(path: Path, referenced_from: Origin | None) -> Any:
    _note(_stamp(path))
    data = load_yaml_file(path, referenced_from)
    if data is not None and not isinstance(data, dict):
        raise MigrateError(
            f"a config file must be a YAML mapping, got {type(data).__name__}", origin=Origin(str(path), 1)
        )
    return data


# Composed layers, cached: every resolve re-composes the same preset chains (module preset, model
# preset and its bases), which costs a YAML-cache copy per file and a deep merge per level. An entry
# remembers what it depended on: (file, mtime_ns, size) of every file read, and (candidate, None,
# None) for every place `locate` found no file; it is reused only while all of that still holds.
_Dep = tuple[str, "int | None", "int | None"]
_LAYERS: dict[tuple, tuple[tuple[_Dep, ...], Layer]] = {}
_RECORDERS: list[list[_Dep]] = []


def _note(dep: _Dep) -> None:
    for recorder in _RECORDERS:
        recorder.append(dep)


def _stamp(path: Path) -> _Dep:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _fresh(deps: Sequence[_Dep]) -> bool:
    """Every file still has its (mtime, size) and every place found empty is still empty.

    os.stat on the path strings: the same checks as `_stamp` / `Path.is_file`, without building
    a Path per file (a memo hit checks every file of a preset chain, on every resolve)."""
    for file, mtime, size in deps:
        try:
            stat = os.stat(file)
        except (FileNotFoundError, NotADirectoryError):
            if mtime is None:
                continue
            if (mtime, size) != (-1, -1):
                return False
            continue
        except OSError:
            # anything unusual: the Path-based checks decide, as they always did
            if mtime is None:
                if Path(file).is_file():
                    return False
            elif _stamp(Path(file)) != (file, mtime, size):
                return False
            continue
        if mtime is None:
            if S_ISREG(stat.st_mode):
                return False
        elif (stat.st_mtime_ns, stat.st_size) != (mtime, size):
            return False
    return True


_REALS: dict[tuple[str, tuple[_Dep, ...]], frozenset[Path]] = {}


def _reals(deps: tuple[_Dep, ...]) -> frozenset[Path]:
    """The files an entry read, as `_enter` names them (for the cycle check of a nested load).

    Cached by working folder and stamps (path, mtime, size): every memo hit asked again, and
    resolving the same preset chain thousands of times was a tenth of a batch's time."""
    key = (os.getcwd(), deps)
    hit = _REALS.get(key)
    if hit is None:
        if len(_REALS) > 4096:
            _REALS.clear()
        hit = _REALS[key] = frozenset(Path(file).resolve() for file, mtime, _ in deps if mtime is not None)
    return hit


def _copy_layer(layer: Layer) -> Layer:
    return Layer(copy_tree(layer.values), dict(layer.origins), layer.path)


def _memo(kind: str, build: Any, path: Path, env: Mapping[str, str], fallbacks: Sequence[Path],
          referenced_from: Origin | None, _stack: tuple[Path, ...]) -> Layer:
    key = (kind, str(path), tuple(sorted(env.items())), tuple(str(f) for f in fallbacks))
    hit = _LAYERS.get(key)
    if hit is not None:
        deps, layer = hit
        if not (_stack and _reals(deps).intersection(_stack)) and _fresh(deps):
            _LAYERS[key] = _LAYERS.pop(key)  # most recently used last
            for outer_recorder in _RECORDERS:
                outer_recorder.extend(deps)
            return _copy_layer(layer)
    recorder: list[_Dep] = []
    _RECORDERS.append(recorder)
    try:
        layer = build(path, env, fallbacks, referenced_from, _stack)
    finally:
        _RECORDERS.pop()
    recorder = list(dict.fromkeys(recorder))  # a file reached twice (a diamond of extends:) is one dependency
    for outer in _RECORDERS:
        outer.extend(recorder)
    while len(_LAYERS) >= 256:  # evict the least recently used (one-off experiment files, mostly)
        del _LAYERS[next(iter(_LAYERS))]
    _LAYERS[key] = (tuple(recorder), _copy_layer(layer))
    return layer


def load_bases(path: Path, env: Mapping[str, str], interpolation: Interpolation, fallbacks: Sequence[Path] = (),
               referenced_from: Origin | None = None, _stack: tuple[Path, ...] = ()) -> Layer:
    """The `bases:`/`includes:` releases' parse_yaml."""
    def build(p: Path, e: Mapping[str, str], f: Sequence[Path], r: Origin | None, st: tuple[Path, ...]) -> Layer:
        return _load_bases(p, e, interpolation, f, r, st)

    return _memo(f"bases:{interpolation.name}", build, path, env, fallbacks, referenced_from, _stack)


def _load_bases(path: Path, env: Mapping[str, str], interpolation: Interpolation, fallbacks: Sequence[Path],
                referenced_from: Origin | None, _stack: tuple[Path, ...]) -> Layer:
    stack = _enter(path, _stack, referenced_from)
    raw = _read(path, referenced_from)
    if raw is None:
        return Layer({}, {}, path)
    data = interpolation.apply(raw, env, str(path))
    origins = _origins(data, path)
    if "bases" in data:
        for ref in _ref_list(data, "bases", path):
            where = Origin(str(path), key_line(data, "bases"))
            base_path = locate(ref, path, fallbacks, where)
            base = load_bases(base_path, env, interpolation, fallbacks, where, stack)
            for key in data:
                if key != "bases" and key not in base.values:
                    raise MigrateError(
                        f"'{key}' is set in {path.name} but its base '{ref}' does not define it "
                        "(`bases:` only lets a file change keys its bases already have)",
                        origin=origins.get(key, where),
                        hint="check the key's spelling, or move it to `overrides:` / `includes:`",
                    )
            for key, value in base.values.items():
                if key != "bases" and key not in data:
                    data[key] = value
                    origins[key] = base.origins.get(key, Origin(str(base_path)))
        del data["bases"]
        origins.pop("bases", None)
    if "includes" in data:
        for ref in _ref_list(data, "includes", path):
            where = Origin(str(path), key_line(data, "includes"))
            inc_path = locate(ref, path, fallbacks, where)
            inc = load_bases(inc_path, env, interpolation, fallbacks, where, stack)
            for key, value in inc.values.items():
                if key != "includes" and key not in data:
                    data[key] = value
                    origins[key] = inc.origins.get(key, Origin(str(inc_path)))
        del data["includes"]
        origins.pop("includes", None)
    return Layer(dict(data), origins, path)


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any], owned: bool = False) -> dict[str, Any]:
    """The `extends:` loader's deep_merge: `top` wins; mappings on both sides merge key by key.

    Neither input is changed. The result shares `top`'s values; it shares `base`'s untouched
    sub-trees only with `owned=True`, for a `base` the caller holds privately and drops (a
    loader's own fresh copy), which saves copying a preset tree a second time."""
    out = dict(base) if owned else copy_tree(dict(base))
    for key, value in top.items():
        if key in out and isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value, owned)
        else:
            out[key] = value
    return out


def merge_layers(base: Layer, top: Layer, owned: bool = False) -> Layer:
    """`top` over `base` (see deep_merge for `owned`)."""
    origins = dict(base.origins)
    fallback = Origin(str(top.path))
    origins.update({k: top.origins.get(k, fallback) for k in top.values})
    return Layer(deep_merge(base.values, top.values, owned), origins, top.path)


def load_extends(path: Path, env: Mapping[str, str], interpolation: Interpolation, fallbacks: Sequence[Path] = (),
                 referenced_from: Origin | None = None, _stack: tuple[Path, ...] = ()) -> Layer:
    """The `extends:` releases' parse_yaml."""
    def build(p: Path, e: Mapping[str, str], f: Sequence[Path], r: Origin | None, st: tuple[Path, ...]) -> Layer:
        return _load_extends(p, e, interpolation, f, r, st)

    return _memo(f"extends:{interpolation.name}", build, path, env, fallbacks, referenced_from, _stack)


def _load_extends(path: Path, env: Mapping[str, str], interpolation: Interpolation, fallbacks: Sequence[Path],
                  referenced_from: Origin | None, _stack: tuple[Path, ...]) -> Layer:
    stack = _enter(path, _stack, referenced_from)
    raw = _read(path, referenced_from)
    if raw is None:
        raise MigrateError("YAML config file is empty (the `extends:` loader refuses empty configs)",
                           origin=referenced_from or Origin(str(path)))
    data = interpolation.apply(raw, env, str(path))
    own = Layer({k: v for k, v in data.items() if k != "extends"},
                {k: o for k, o in _origins(data, path).items() if k != "extends"}, path)
    if "extends" not in data:
        return own
    merged = Layer({}, {}, path)  # built here from fresh copies: ours to merge into without copying
    for ref in _ref_list(data, "extends", path):
        where = Origin(str(path), key_line(data, "extends"))
        ext_path = locate(ref, path, fallbacks, where)
        merged = merge_layers(merged, load_extends(ext_path, env, interpolation, fallbacks, where, stack),
                              owned=True)
    return merge_layers(merged, own, owned=True)
