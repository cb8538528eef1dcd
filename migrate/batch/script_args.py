"""`batch --script-args`: positional arguments for the scripts that need them, chosen by glob.

Many launchers take their paths and sizes as `$1 $2 ...`; a batch has no command line per script,
so the user maps globs to arguments, on the command line or in a small file:

    --script-args 'examples/gpt3/*.sh=/ckpt /tb /data/vocab.json /data/merges.txt /data/text'
    --script-args @script_args.txt      # one GLOB=ARGUMENTS per line, '#' starts a comment

ARGUMENTS are split like a shell command line (quotes group words). The first glob that matches a
script's relative path wins (the same glob rules as --include).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence

from migrate.diagnostics import MigrateError, Origin

ScriptArgs = list[tuple[str, tuple[str, ...]]]
_EXAMPLE = "for example --script-args 'examples/gpt3/*.sh=/ckpt /tb /data/vocab.json'"


def parse_script_args(items: Sequence[str]) -> ScriptArgs:
    """Each item is `GLOB=ARGUMENTS` or `@FILE` of such lines, in order."""
    mapping: ScriptArgs = []
    for item in items:
        if item.startswith("@"):
            mapping += _read_file(Path(item[1:]))
        else:
            mapping.append(_parse_one(item, None))
    return mapping


def _read_file(path: Path) -> ScriptArgs:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrateError(f"--script-args: cannot read {path}: {exc}", hint=_EXAMPLE) from None
    mapping: ScriptArgs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            mapping.append(_parse_one(line.strip(), Origin(str(path), number)))
    return mapping


def _parse_one(item: str, origin: Origin | None) -> tuple[str, tuple[str, ...]]:
    glob, sep, words = item.partition("=")
    if not sep or not glob.strip():
        raise MigrateError(f"--script-args: expected GLOB=ARGUMENTS, got {item!r}", origin=origin, hint=_EXAMPLE)
    try:
        return glob.strip(), tuple(shlex.split(words))
    except ValueError as exc:
        raise MigrateError(f"--script-args: cannot split the arguments of {glob.strip()!r}: {exc}",
                           origin=origin, hint="close the quote") from None
