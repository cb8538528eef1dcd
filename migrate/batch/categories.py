"""Why a batch row was rejected or skipped, as a stable code, and the command that moves it on.

The code comes from the error where it was raised (`MigrateError.category`) when
that site sets one; otherwise, and for rows that never were a `MigrateError`
(limits hit by the worker pool, crashed workers, discovery's skips), it is read
from the row's reason here, the one place that matches message text. Codes are
an interface (`batch_report.json`, scripts that sort rejections): never rename one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Sequence

from migrate.batch.results import ScriptResult, VariantResult


@dataclass(frozen=True)
class Category:
    code: str
    title: str        # what the row means, for the report's summary
    next_step: str    # the command that moves it on, with {batch} {path} {rel} {loc} {env} ... filled in per row
    note: str = ""    # what to know before running it
    command: bool = True  # False: next_step is an action in words (nothing to run)


CATEGORIES: tuple[Category, ...] = (
    Category("needs-arguments", "the script reads positional arguments it was not given",
             "{batch} --script-args '{rel}={args}'", "the arguments you would give `bash {rel}`"),
    Category("needs-environment", "the script needs a variable set (it exits or lacks values without it)",
             "primus-migrate {path} {var}={value} -o OUT", "the value you would export before running it"),
    Category("needs-file", "the script exits unless a file or folder exists (files are never looked at)",
             "{batch} --assume-exists {file}", "only if it exists where the script runs"),
    Category("missing-source", "the script sources a file that is not in the folder converted",
             "convert from a folder that holds {sourced} (as the script finds it from where it runs)",
             command=False),
    Category("unknown-option", "an option no bundled Megatron-LM option table knows (a fork's option?)",
             "primus-migrate schema --megatron-path CHECKOUT -o fork.json && {batch} --legacy-schema fork.json",
             "CHECKOUT: the Megatron-LM fork the script was written for"),
    Category("deepspeed-run", "a DeepSpeed run (--deepspeed, its config): Primus trains Megatron-LM without DeepSpeed",
             "{batch} --exclude '{rel}'", "keep training it with DeepSpeed, or drop the DeepSpeed options and convert"),
    Category("unknown-entry", "an entry script primus-migrate does not know",
             "{batch} --entry-as gpt", "only if it builds what pretrain_gpt.py builds from the same arguments"),
    Category("unsupported-entry", "the entry script builds a model Primus cannot train",
             "{batch} --exclude '{rel}'", "train it outside Primus"),
    Category("null-tokenizer", "primus-26.5 would train the --mock-data run with the NullTokenizer",
             "{batch} --accept-null-tokenizer", "or --target primus-0.1, which keeps the script's tokenizer"),
    Category("unknown-tokenizer", "the tokenizer's vocabulary size is unknown",
             "{batch} --target primus-0.1", "or point --tokenizer-model at the tokenizer's files, which are read"),
    Category("shell-parse-error", "bash cannot parse the script",
             "bash -n {path}", "then fix the line it names, e.g. an unfilled template placeholder"),
    Category("crlf", "the script has Windows (CRLF) line endings", "dos2unix {path} && {batch}"),
    Category("megatron-would-reject", "Megatron-LM's own parser refuses these arguments: the legacy run never trained",
             "fix the launch at {loc}", command=False),
    Category("mock-data-path", "--mock-data with --data-path: the release's trainer clears the path, Megatron-LM "
             "reads it", "fix the launch at {loc}", "remove --data-path (pure mock data) or --mock-data",
             command=False),
    Category("parity-failed", "the Primus config would not train like the script (a conversion bug)",
             "PRIMUS_MIGRATE_DEBUG=1 primus-migrate {path}{env} -o OUT", "and report the differences"),
    Category("timed-out", "converting the script took longer than batch_script_seconds", "{limit} {batch}"),
    Category("out-of-memory", "converting the script needed more than batch_script_memory", "{limit} {batch}"),
    Category("limit-exceeded", "the script is past one of primus-migrate's input limits", "{limit} {batch}",
             "only if the script is trusted"),
    Category("no-launch", "not a training launch (a helper): skipped", "{batch} --exclude '{rel}'",
             "nothing to do; this leaves it out of the report"),
    Category("internal-error", "primus-migrate failed (a bug)",
             "PRIMUS_MIGRATE_DEBUG=1 primus-migrate {path}{env} -o OUT", "and report the traceback"),
    Category("other", "refused for another reason", "read the reason at {loc}", command=False),
)
BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}
CODES: tuple[str, ...] = tuple(BY_CODE)

# First match wins: the cause a user acts on first (missing arguments explain the empty values
# Megatron's parser then trips over; an internal error explains everything after it).
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((code, re.compile(p)) for code, p in (
    ("internal-error", r"^internal error"),
    ("timed-out", r"^timed out\b|\bbatch_script_seconds="),
    ("out-of-memory", r"^out of memory\b|\bbatch_script_memory="),
    ("limit-exceeded", r": over the limit \w+=|raise the limit: PRIMUS_MIGRATE_LIMITS="),
    ("crlf", r"\(CRLF\) line endings"),
    ("shell-parse-error", r"^cannot parse script\b"),
    ("needs-arguments", r"reads arguments it was not given|(?:^|: )needs arguments? \$\d"),
    ("needs-file", r"(?:^|: )needs `[^`]+` to exist"),
    ("missing-source", r"(?:^|: )needs file \S+ \(sourced\b"),
    # an option left without its value because a variable the job sets was unset (migrate/conversion/hints.py)
    ("needs-environment", r"(?:^|: )needs [A-Z_][A-Z0-9_]*\b|variables the script read unset"
                          r"|\$\w+ is unset, so --\S+ got no value"),
    ("no-launch", r"^helper: |no training launch|nothing in the text starts a training launch"),
    ("unknown-option", r"^unknown Megatron-LM option"),
    ("unknown-entry", r"^unknown entry script"),
    ("unsupported-entry", r"^entry script .* cannot train"),
    ("unknown-tokenizer", r"vocabulary size of the script's tokenizer .* is unknown"),
    ("null-tokenizer", r"^static parity failed\b.*NullTokenizer"),
    # Megatron-LM's own argparse refuses these too (migrate/megatron/argv.py models its errors)
    ("megatron-would-reject", r"^Megatron-LM would refuse|^option --\S+ (?:expects|takes|requires)\b"
                              r"|^invalid (?:\w+ )?(?:value|choice) for --|^unexpected (?:argument|'--') .* "
                              r"in the Megatron-LM arguments|^missing required Megatron-LM option"),
    ("mock-data-path", r"^static parity failed\b.*trainer clears data paths under --mock-data"),
    ("parity-failed", r"^static parity failed"),
))
_LIMIT = re.compile(r"PRIMUS_MIGRATE_LIMITS=\S+?(?=[);,]|\s|$)")
_DOLLAR_ARGS = re.compile(r"\$\{?(\d+)\}?")
_UNSET = re.compile(r"\$\{(\w+)\} unset|\$(\w+) is unset, so --")
_NEEDS_FILE = re.compile(r"needs `([^`]+)` to exist")
_SOURCED = re.compile(r"needs file (\S+) \(sourced")
_NEEDS_VAR = re.compile(r"(?:^|: )needs ([A-Z_][A-Z0-9_]*)\b(?: \(one of ([^)]*)\))?")


def classify(reason: str | None, category: str | None = None) -> str:
    """The row's code: the raise site's when it set one, else the first pattern its reason matches."""
    if category in BY_CODE:
        return category  # type: ignore[return-value]
    text = reason or ""
    return next((code for code, pattern in _PATTERNS if pattern.search(text)), "other")


@dataclass(frozen=True)
class BatchCommand:
    """How the user ran the batch, as shown in next steps (no machine paths: absolute ones become DIR/OUT)."""

    directory: str = "DIR"
    output: str = "OUT"
    extra: tuple[str, ...] = ()   # options that change what converts (--target, --legacy-schema, ...)

    def __str__(self) -> str:
        return shlex.join(["primus-migrate", "batch", self.directory, "-o", self.output, *self.extra])

    def script_path(self, rel: str) -> str:
        return rel if self.directory in (".", "") else f"{self.directory.rstrip('/')}/{rel}"


def next_step(code: str, rel: str, location: str | None, reason: str | None, env: dict[str, str],
              batch: BatchCommand) -> str:
    """The exact next command for one row."""
    text = reason or ""
    limit = _LIMIT.search(text)
    needs = _NEEDS_VAR.search(text)
    sourced = _SOURCED.search(text)
    fields = {
        "batch": str(batch),
        "path": shlex.quote(batch.script_path(rel)),
        "rel": rel,
        "loc": location or rel,
        "env": "".join(f" {shlex.quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        "args": _argument_words(text),
        "var": needs.group(1) if needs else "=VALUE ".join(dict.fromkeys(
            a or b for a, b in _UNSET.findall(text))) or "VAR",
        "value": shlex.quote(_first_choice(needs.group(2))) if needs and needs.group(2) else "VALUE",
        "limit": limit.group(0) if limit else "PRIMUS_MIGRATE_LIMITS=NAME=VALUE",
        "sourced": sourced.group(1) if sourced else "FILE",
        "file": " --assume-exists ".join(shlex.quote(f) for f in dict.fromkeys(_NEEDS_FILE.findall(text))) or "PATH",
    }
    return BY_CODE.get(code, BY_CODE["other"]).next_step.format(**fields)


def _first_choice(choices: str) -> str:
    """`gfx942, gfx950` -> `gfx942`: the first value the script's condition compares with."""
    return re.split(r",\s*|\s+or\s+", choices.strip())[0].strip("`'\"")


def _argument_words(reason: str) -> str:
    """ARG1 .. ARGn for the highest `$n` the reason lists as read but not given."""
    if "reads arguments it was not given" in reason:
        tail = reason.split("reads arguments it was not given", 1)[-1]
    else:  # a gate: `needs arguments $1 $2 (the script stops at x.sh:2 without them ...)`
        tail = reason.split("needs argument", 1)[-1].split(" (", 1)[0]
    numbers = [int(n) for n in _DOLLAR_ARGS.findall(tail.split(";", 1)[0]) if n != "0"]
    count = max(numbers, default=0)
    return " ".join(f"ARG{i}" for i in range(1, count + 1)) if count else "ARG1 ARG2 ..."


def _rows(result: ScriptResult) -> list[ScriptResult | VariantResult]:
    """The rows a report counts: each variant, or the script itself when it has none."""
    return list(result.variants) if result.variants else [result]


def annotate(results: Sequence[ScriptResult], batch: BatchCommand) -> None:
    """Give every rejected or skipped row (and script) its category and next step, in place."""
    for result in results:
        for row in _rows(result):
            if row.status not in ("rejected", "skipped"):
                continue
            row.category = classify(row.reason, row.category)
            env = row.env if isinstance(row, VariantResult) else {}
            row.next_step = next_step(row.category, result.script, row.location, row.reason, env, batch)
        first = next((v for v in result.variants if v.category is not None), None)
        if first is not None and result.status in ("rejected", "skipped"):
            result.category, result.next_step = first.category, first.next_step  # its first stopped variant


def summary(results: Sequence[ScriptResult]) -> list[dict[str, object]]:
    """Per category: rows, scripts, and the next step of its first row; rejections first, most rows first."""
    table: dict[str, dict[str, object]] = {}
    for result in sorted(results, key=lambda r: r.script):
        for row in _rows(result):
            if row.status not in ("rejected", "skipped") or row.category is None:
                continue
            entry = table.setdefault(row.category, {
                "category": row.category, "status": row.status, "title": BY_CODE[row.category].title,
                "rows": 0, "scripts": [], "next_step": row.next_step,
                "note": BY_CODE[row.category].note.format(rel=result.script)})
            entry["rows"] = int(entry["rows"]) + 1  # type: ignore[call-overload]
            scripts = entry["scripts"]
            assert isinstance(scripts, list)
            if result.script not in scripts:
                scripts.append(result.script)
    order = {code: i for i, code in enumerate(CODES)}
    # rejections before skips (a skip usually needs nothing), then most rows, then the table's order
    return sorted(table.values(), key=lambda e: (e["status"] == "skipped", -int(e["rows"]),  # type: ignore[call-overload]
                                                 order[str(e["category"])]))
