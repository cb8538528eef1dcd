"""Reading YAML the way Primus does (PyYAML SafeLoader), keeping line numbers.

Primus parses every config with `yaml.SafeLoader`, i.e. YAML 1.1 scalar
resolution: `1.0e-05` is a float but `1e-5` and `1.0e5` are *strings*, `on`
and `yes` are booleans. We must type values exactly as it does, so we use the
same loader and only add a record of which line each mapping key came from,
so errors and origins can name `file:line`.
"""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import yaml

from migrate import limits
from migrate.diagnostics import MigrateError, Origin


class MarkedDict(dict):
    """A YAML mapping that remembers the 1-based line of each of its keys."""

    lines: dict[Any, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = {}


class _MarkedLoader(yaml.SafeLoader):
    """SafeLoader, whose mappings are MarkedDicts. Scalars are typed unchanged."""


def _construct_marked_map(loader: _MarkedLoader, node: yaml.MappingNode):
    data = MarkedDict()
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:  # flattened by construct_mapping (merge keys `<<`)
        key = loader.construct_object(key_node)
        try:
            data.lines[key] = key_node.start_mark.line + 1  # a repeated key keeps its last line, as its value
        except TypeError:
            pass


_MarkedLoader.add_constructor("tag:yaml.org,2002:map", _construct_marked_map)

_CLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _MarkedCLoader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
        """libyaml's parser, our (Python) constructors and resolver: for text we emitted only."""

    _MarkedCLoader.add_constructor("tag:yaml.org,2002:map", _construct_marked_map)
    _CLoader = _MarkedCLoader

# Texts our own emitter wrote (`mark_emitted`). Only these are parsed by libyaml: it is several
# times faster than PyYAML's pure-Python parser, and tests check that it builds the same values
# and key lines on everything the emitter writes. User YAML and presets keep the Python parser.
_EMITTED: set[str] = set()


def mark_emitted(text: str) -> str:
    """Record `text` as written by our emitter (so it may be parsed with libyaml); returns it."""
    if _CLoader is not None:
        if len(_EMITTED) > 4096:
            _EMITTED.clear()
        _EMITTED.add(text)
    return text


def load_emitted_text(text: str, filename: str) -> Any:
    """`load_yaml_text` for text the emitter wrote: libyaml where present; anything it
    refuses goes through the Python parser, whose error (or value) is the reference."""
    if _CLoader is not None:
        try:
            return yaml.load(text, Loader=_CLoader)  # noqa: S506 - a CSafeLoader subclass
        except yaml.YAMLError:
            pass
    return load_yaml_text(text, filename)


def load_yaml_text(text: str, filename: str) -> Any:
    """Parse `text` like `yaml.load(text, SafeLoader)`; malformed YAML -> MigrateError at its mark."""
    try:
        data = yaml.load(text, Loader=_MarkedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        origin = Origin(filename, mark.line + 1, mark.column + 1) if mark else Origin(filename)
        problem = exc.problem or exc.context or "malformed YAML"
        raise MigrateError(f"malformed YAML: {problem}", origin=origin) from None
    except yaml.YAMLError as exc:
        raise MigrateError(f"malformed YAML: {exc}", origin=Origin(filename)) from None
    except (ValueError, OverflowError) as exc:  # a 5,000-digit integer, a date that does not exist
        raise MigrateError(f"unreadable value in YAML: {str(exc)[:200]}", origin=Origin(filename)) from None
    except RecursionError:
        raise MigrateError("YAML nested too deeply to read", origin=Origin(filename),
                           hint="flatten the nested lists or mappings") from None
    check_size(data, filename)
    return data


def check_size(data: Any, filename: str) -> None:
    """Refuse a tree over the `yaml_nodes` or `yaml_depth` limit, counting an alias as every
    value it repeats: `&a [x, x] ... [*a, *a]` nested ten times ("billion laughs") loads in
    microseconds as shared objects, but every later walk (interpolation, merge, compare)
    would visit each repetition. The walk stops at the limit, so it costs at most that."""
    budget = int(limits.current().yaml_nodes)
    depth_limit = int(limits.current().yaml_depth)
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen, line = 0, 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > budget:
            raise limits.exceeded("yaml_nodes", f"YAML has more than {budget} values (aliases expanded)",
                                  Origin(filename, line))
        if depth > depth_limit:
            raise limits.exceeded("yaml_depth", f"YAML nested more than {depth_limit} levels", Origin(filename, line))
        if isinstance(value, dict):
            line = max(getattr(value, "lines", {}).values(), default=line)
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


_CACHE: dict[tuple[str, int, int], Any] = {}
_TEXT_CACHE: dict[str, Any] = {}

_ATOMIC = frozenset({type(None), bool, int, float, str, bytes, datetime.date, datetime.datetime})


def copy_tree(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy` of parsed YAML, several times faster: scalars are shared (they are
    immutable), mappings and lists are rebuilt (a MarkedDict with its `lines`), shared
    sub-trees (YAML aliases) stay shared, anything else goes to `copy.deepcopy`."""
    cls = type(value)
    if cls in _ATOMIC:
        return value
    if memo is None:
        memo = {}
    done = memo.get(id(value))
    if done is not None:
        return done
    if cls is dict or cls is MarkedDict:
        out = {} if cls is dict else MarkedDict.__new__(MarkedDict)
        memo[id(value)] = out
        if cls is MarkedDict:
            attrs = value.__dict__
            if len(attrs) == 1 and type(attrs.get("lines")) is dict:
                # key -> line number: hashable keys and ints, so a flat copy is a deep one
                out.__dict__["lines"] = dict(attrs["lines"])
            else:
                out.__dict__.update(copy.deepcopy(attrs, memo))
        for key, item in value.items():
            out[key] = copy_tree(item, memo)
        return out
    if cls is list:
        out_list: list[Any] = []
        memo[id(value)] = out_list
        out_list.extend(copy_tree(item, memo) for item in value)
        return out_list
    return copy.deepcopy(value, memo)


def load_yaml_file(path: str | Path, referenced_from: Origin | None = None) -> Any:
    """Read and parse one file; a missing file is reported where it was referenced.

    Parsed files are cached by (path, mtime, size): presets are read over and over
    (every model preset repeats its chain) and PyYAML's pure-Python parser is slow.
    Callers get a deep copy, so they may mutate it; the cached tree itself is never handed out.
    """
    path = Path(path)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return copy_tree(_CACHE[key])
    parsed = _load_uncached(path, referenced_from)
    if key is not None:
        if len(_CACHE) > 512:
            _CACHE.clear()
        _CACHE[key] = parsed  # the same tree as the text cache's: both only ever copied from
    return copy_tree(parsed)


def _load_uncached(path: Path, referenced_from: Origin | None) -> Any:
    """The parsed tree of the file's text, as the text cache keeps it (callers copy it)."""
    try:
        path.stat()
        if path.is_dir():
            raise IsADirectoryError(str(path))
        # at most `config_bytes`, and never a blocking read of a pipe or a device
        text = limits.read_regular_file(str(path), "config_bytes", str(path), "config file").decode("utf-8")
    except FileNotFoundError:
        raise MigrateError(f"config file not found: {path}", origin=referenced_from) from None
    except IsADirectoryError:
        raise MigrateError(f"config path is a directory, not a YAML file: {path}", origin=referenced_from) from None
    except UnicodeDecodeError as exc:
        raise MigrateError(f"config file is not UTF-8 text ({exc.reason})", origin=Origin(str(path))) from None
    except OSError as exc:  # unreadable (permissions), a name too long, a device that fails
        raise MigrateError(f"cannot read config file {path}: {exc.strerror or exc}", origin=referenced_from) from None
    # The tree depends on the text alone (the name only appears in errors, which are not
    # cached): files staged anew for every resolve (emitted experiments and models, the
    # batch's placed copies) repeat texts already parsed under another path.
    cached = _TEXT_CACHE.get(text)
    if cached is not None:
        return cached
    data = load_emitted_text(text, str(path)) if text in _EMITTED else load_yaml_text(text, str(path))
    if len(_TEXT_CACHE) > 512:
        _TEXT_CACHE.clear()
    _TEXT_CACHE[text] = data
    return data


def key_line(mapping: Any, key: Any) -> int:
    """The line `key` was written on in `mapping`, 0 when unknown."""
    return getattr(mapping, "lines", {}).get(key, 0)
