"""A torchtitan job's effective JobConfig, read as torchtitan's ConfigManager reads it.

`ConfigManager.parse_args` (torchtitan/config/manager.py at the pin):
  1. the TOML named by the FIRST `--job.config_file X` / `--job.config-file=X` is loaded (tomllib);
  2. its tables become the dataclasses: a key that names no field or section is an error
     (`Invalid field names in <class>`); values are stored as given, unchecked;
  3. tyro parses the whole argv over that: `--section.key value` (or `=value`; `-` and `_` alike),
     the LAST occurrence wins, `bool` fields are flags (`--x` / `--x.no-y`), `list[str]` is one
     comma-separated word, `None` reads as None where the type allows it, anything else is an error;
  4. `_validate_config` copies a set `model.tokenizer_path` to `model.hf_assets_path` and a set
     `experimental.custom_args_module` to `job.custom_config_module`.
We refuse (exit 2, located) what torchtitan would refuse, and also TOML values of the wrong type
(torchtitan stores them and fails later, or trains with a string where a number belongs), extension
modules (`custom_config_module`: their fields are unknown to us) and values the shell evaluation
could not know.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from migrate import limits
from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.torchtitan.schema import TitanSchema, conforms, from_cli, is_flag, type_text

CONFIG_FILE_KEYS = ("--job.config_file", "--job.config-file")


@dataclass
class TitanJob:
    """The effective JobConfig (dotted field -> value) and where each non-default value came from."""

    schema: TitanSchema
    values: dict[str, Any]
    origins: dict[str, Origin] = field(default_factory=dict)  # fields set by the TOML or the argv
    toml_path: Path | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    def explicit(self) -> list[str]:
        return sorted(self.origins)

    def nested(self) -> dict[str, Any]:
        """The JobConfig as nested dicts (what `JobConfig.to_dict()` gives)."""
        out: dict[str, Any] = {}
        for path, value in self.values.items():
            node = out
            *parents, leaf = path.split(".")
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = value
        return out


@dataclass(frozen=True)
class Word:
    """One argv word and where it came from (a shell Token, or a word typed on our command line)."""

    value: str
    origin: Origin
    unknown: bool = False


def words_of(tokens: Sequence[Any], origin: Origin | None = None) -> list[Word]:
    """Shell tokens (value/origin/unknown) or plain strings -> Words."""
    out = []
    for i, tok in enumerate(tokens):
        if isinstance(tok, str):
            out.append(Word(tok, origin or Origin("<command line>", 0, i + 1)))
        else:
            out.append(Word(tok.value, tok.origin, bool(getattr(tok, "unknown", False))))
    return out


# -- TOML ------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _unquote_path(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


def toml_lines(text: str) -> dict[str, int]:
    """dotted key -> line, for error messages and origins (tomllib keeps no positions)."""
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("[["):
            table = _unquote_path(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            dotted = f"{table}.{_unquote_path(key.group(1))}" if table else _unquote_path(key.group(1))
            lines.setdefault(dotted, number)
    return lines


def _line_of(lines: dict[str, int], dotted: str) -> int:
    while dotted:
        if dotted in lines:
            return lines[dotted]
        dotted = dotted.rpartition(".")[0]
    return 0


def _suggest(name: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else None


def load_toml(path: Path, schema: TitanSchema, display: str | None = None) -> tuple[dict[str, Any], dict[str, Origin]]:
    """The TOML's fields (dotted -> value) and their file:line, checked against the schema."""
    shown = display or str(path)
    try:
        path.stat()  # a missing file: the hint below
        text = limits.read_regular_file(str(path), "config_bytes", shown, "job config file").decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise MigrateError(f"job config file not found: {path}", hint="torchtitan opens a relative path from the "
                           "directory the launch runs in (the directory primus-migrate runs in, then the script's "
                           "own `cd`s); run primus-migrate from the directory you start the script in") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrateError(f"cannot read job config file {shown}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise MigrateError(f"invalid TOML: {exc}", origin=Origin(shown, int(match.group(1)) if match else 0)) from None
    lines = toml_lines(text)
    for section, key in EXTENSION_KEYS:  # before the names: an extension module adds its own
        table = data.get(section)
        if isinstance(table, dict) and table.get(key):
            refuse_extension(f"{section}.{key}", table[key], Origin(shown, _line_of(lines, f"{section}.{key}")))
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    _walk_toml(data, "", schema, lines, shown, values, origins)
    return values, origins


EXTENSION_KEYS = (("job", "custom_config_module"), ("experimental", "custom_args_module"))


def refuse_extension(key: str, module: Any, origin: Origin | None) -> None:
    raise MigrateError(
        f"{key} = {module!r}: the job extends JobConfig with its own module, and primus-migrate does not model "
        "JobConfig extensions (Primus's torchtitan backend sets experimental.custom_args_module to its own)",
        origin=origin, hint="convert the job without the extension and its sections, then port them by hand")


def _walk_toml(table: dict[str, Any], section: str, schema: TitanSchema, lines: dict[str, int], shown: str,
               values: dict[str, Any], origins: dict[str, Origin]) -> None:
    for key, value in table.items():
        dotted = f"{section}.{key}" if section else key
        where = Origin(shown, _line_of(lines, dotted))
        if schema.is_section(dotted):
            if not isinstance(value, dict):
                raise MigrateError(f"'{dotted}' is a section of JobConfig; it needs a table, not {value!r}",
                                   origin=where)
            _walk_toml(value, dotted, schema, lines, shown, values, origins)
            continue
        spec = schema.fields.get(dotted)
        if spec is None:
            where_text = f"field '{key}' in [{section}]" if section else f"section [{key}]"
            raise MigrateError(f"unknown {where_text} (torchtitan {schema.name} rejects it: Invalid field names)",
                               origin=where, hint=_suggest(key, schema.children(section)))
        if not conforms(spec.type, value):
            raise MigrateError(f"'{dotted}' must be {type_text(spec.type)} ({spec.annotation}), got {value!r}",
                               origin=where,
                               hint="torchtitan stores TOML values unchecked and fails later; fix the value")
        values[dotted] = value
        origins[dotted] = where


# -- argv ------------------------------------------------------------------------------------------

def _config_file_word(words: list[Word]) -> tuple[Word, Word] | None:
    """(option word, path word) of the FIRST --job.config_file, as `_maybe_load_toml` finds it."""
    for i, word in enumerate(words):
        key, sep, value = word.value.partition("=")
        if sep and key in CONFIG_FILE_KEYS:
            return word, Word(value, word.origin, word.unknown)
        if not sep and word.value in CONFIG_FILE_KEYS and i < len(words) - 1:
            return word, words[i + 1]
    return None


def _field_for(name: str, schema: TitanSchema) -> tuple[str, bool] | None:
    """`training.local-batch-size` -> ("training.local_batch_size", True); `x.no-y` -> ("x.y", False)."""
    dotted = name.replace("-", "_")
    if dotted in schema.fields:
        return dotted, True
    head, _, leaf = dotted.rpartition(".")
    if leaf.startswith("no_"):
        positive = f"{head}.{leaf[3:]}" if head else leaf[3:]
        spec = schema.fields.get(positive)
        if spec is not None and is_flag(spec.type):
            return positive, False
    return None


def parse_argv(words: list[Word], schema: TitanSchema) -> tuple[dict[str, Any], dict[str, Origin]]:
    """tyro's reading of the argv: dotted field -> value (last wins) and the origin of that value."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.unknown:
            raise MigrateError(f"argument '{word.value}' depends on a value not known before the run",
                               origin=word.origin, hint="set the knob it depends on (KEY=VALUE)")
        if not word.value.startswith("--"):
            raise MigrateError(f"unexpected argument '{word.value}' (torchtitan takes only --section.key options)",
                               origin=word.origin)
        name, sep, inline = word.value[2:].partition("=")
        found = _field_for(name, schema)
        if found is None:
            section = name.replace("-", "_").rpartition(".")[0]
            choices = [f"{section}.{c}" if section else c for c in schema.children(section)] if (
                not section or schema.is_section(section)) else list(schema.fields)
            raise MigrateError(f"unknown torchtitan option '--{name}' (not a field of JobConfig {schema.name})",
                               origin=word.origin, hint=_suggest(name.replace("-", "_"), choices))
        dotted, positive = found
        spec = schema.fields[dotted]
        if is_flag(spec.type):
            if sep:
                raise MigrateError(f"'--{name}' is a flag and takes no value (use --{name} or its --no- form)",
                                   origin=word.origin)
            values[dotted], origins[dotted] = positive, word.origin
            i += 1
            continue
        if sep:
            text, origin, i = inline, word.origin, i + 1
        else:
            if i + 1 >= len(words) or (words[i + 1].value.startswith("--") and not _is_number(words[i + 1].value)):
                raise MigrateError(f"'--{name}' expects a value ({spec.annotation})", origin=word.origin)
            if words[i + 1].unknown:
                raise MigrateError(f"the value of '--{name}' is not known before the run", origin=words[i + 1].origin,
                                   hint="set the knob it depends on (KEY=VALUE)")
            text, origin, i = words[i + 1].value, words[i + 1].origin, i + 2
        try:
            values[dotted] = from_cli(spec.type, text)
        except ValueError as exc:
            raise MigrateError(f"'--{name} {text}': {exc} ({spec.annotation})", origin=origin) from None
        origins[dotted] = word.origin
    return values, origins


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# -- the whole job ----------------------------------------------------------------------------------

def parse_job(schema: TitanSchema, argv: Sequence[Any], cwd: str | Path, toml_display_root: str | Path | None = None,
              toml: Path | None = None) -> TitanJob:
    """The job's effective JobConfig: defaults <- TOML <- argv, then `_validate_config`'s copies.

    `cwd` is the directory torchtitan starts in (a relative config path is opened from there);
    `toml`, when given, is the job config used when the argv names none (a TOML converted alone).
    """
    words = words_of(argv)
    for i, word in enumerate(words):
        name, sep, inline = word.value.partition("=")
        key = name[2:].replace("-", "_")
        if (key.split(".", 1)[0], key.split(".", 1)[-1]) in EXTENSION_KEYS:
            module = inline if sep else (words[i + 1].value if i + 1 < len(words) else "")
            if module:
                refuse_extension(key, module, word.origin)
    values = schema.defaults()
    origins: dict[str, Origin] = {}
    toml_path = toml
    found = _config_file_word(words)
    if found is not None:
        option, path_word = found
        if path_word.unknown:
            raise MigrateError("the job config path is not known before the run", origin=path_word.origin,
                               hint="set the knob it depends on (KEY=VALUE)")
        toml_path = Path(os.path.normpath(os.path.join(str(cwd), path_word.value)))
    job = TitanJob(schema, values, origins, toml_path)
    if toml_path is not None:
        display = _display(toml_path, toml_display_root)
        try:
            toml_values, toml_origins = load_toml(toml_path, schema, display)
        except MigrateError as exc:
            if exc.origin is None and found is not None:
                exc.origin = found[1].origin  # "not found": point at the argument that names it
            raise
        values.update(toml_values)
        origins.update(toml_origins)
    cli_values, cli_origins = parse_argv(words, schema)
    values.update(cli_values)
    origins.update(cli_origins)
    if found is not None and "job.config_file" in cli_values and cli_values["job.config_file"] != found[1].value:
        job.diagnostics.warn("torchtitan-config-file-twice",
                             f"--job.config_file given more than once: torchtitan loads the first "
                             f"({found[1].value}) but records the last", cli_origins["job.config_file"])
    _validate(job)
    return job


def _display(path: Path, root: str | Path | None) -> str:
    if root is None:
        return str(path)
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def _validate(job: TitanJob) -> None:
    """`ConfigManager._validate_config`'s rewrites (the host-dependent path checks aside) and our refusals."""
    v, o = job.values, job.origins
    for section, name in EXTENSION_KEYS:  # already refused where they were read; kept as the last word
        if v.get(f"{section}.{name}"):
            refuse_extension(f"{section}.{name}", v[f"{section}.{name}"], o.get(f"{section}.{name}"))
    _post_init_checks(job)
    if v.get("model.tokenizer_path") and "model.hf_assets_path" in v:
        v["model.hf_assets_path"] = v["model.tokenizer_path"]
        o["model.hf_assets_path"] = o.get("model.tokenizer_path", Origin("<torchtitan>"))


def _post_init_checks(job: TitanJob) -> None:
    """The checks JobConfig's own dataclasses make when torchtitan builds the config.

    `Validation.__post_init__` (steps) and `Parallelism.__post_init__` (an empty load balancer),
    torchtitan/config/job_config.py at 5fb7cc2e and 73a0e697, the pins whose JobConfig has these
    fields; torchtitan stops before training, so such a job is refused, not converted.
    """
    v, o = job.values, job.origins
    steps = v.get("validation.steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and not (steps > 0 or steps == -1):
        raise MigrateError(f"validation.steps = {steps}: torchtitan refuses it (steps must be positive or -1)",
                           origin=o.get("validation.steps"), hint="set a positive number of steps, or -1")
    if "parallelism.context_parallel_load_balancer" in v and v["parallelism.context_parallel_load_balancer"] == "":
        raise MigrateError("parallelism.context_parallel_load_balancer is empty: torchtitan refuses it",
                           origin=o.get("parallelism.context_parallel_load_balancer"),
                           hint="leave it unset for the default, or give None to turn load balancing off")
