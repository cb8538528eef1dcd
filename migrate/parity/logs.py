"""Training logs of both frameworks, read back into per-iteration numbers.

Megatron-LM prints one `|`-separated line per logging interval
(` [date] iteration 10/ 100 | ... | lm loss: 8.1E+00 | ...`). Primus prints
the same fields, but behind its own logger header
(`[20250101 10:00:00][user/team][pre_trainer][ip-...][rank-7/8][INFO] [--x.py:12] : ...`),
with timing fields as `instant/average` and an extra tokens/s/GPU field.
Each format has its own parser; both share the field table below.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from migrate.diagnostics import MigrateError, Origin

# Log field label -> our metric name. Values printed as `inst/avg` keep the instant value.
FIELDS: dict[str, str] = {
    "consumed samples": "consumed_samples",
    "elapsed time per iteration (ms)": "elapsed_ms",
    "throughput per GPU (TFLOP/s/GPU)": "tflops_per_gpu",
    "tokens per GPU (tokens/s/GPU)": "tokens_per_s_per_gpu",  # Primus v0.1 trainer
    "tokens/s/GPU inst/harmonic mean": "tokens_per_s_per_gpu",  # Primus 26.x training_log patch
    "mem usages": "mem_usage",
    "learning rate": "lr",
    "global batch size": "global_batch_size",
    "lm loss": "lm_loss",
    "loss scale": "loss_scale",
    "grad norm": "grad_norm",
    "num zeros": "num_zeros",
    "params norm": "params_norm",
    "number of skipped iterations": "skipped_iterations",
    "number of nan iterations": "nan_iterations",
}

_ITERATION = re.compile(r"\biteration\s+(\d+)\s*/\s*(\d+)\s*\|")
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|NAN|NaN|inf|INF|Inf)"
_VALUE = re.compile(rf"^({_NUMBER})(?:\s*/\s*({_NUMBER}))?$")
# Primus logger header: optional master prefix, then [time][...]...[LEVEL] and the
# `[---module.py:line] :` caller stamp before the message.
_PRIMUS_HEADER = re.compile(
    r"^(?:\(PrimusMaster[^)]*\)\s*)?\[\d{8} \d{2}:\d{2}:\d{2}\](?:\[[^\]]*\])*\s*"
    r"(?:\[-*[\w.]+\.py:\d+\]\s*:\s?)?"
)
# Megatron's argument dump: `  seq_length ........................ 4096`
_ARG_DUMP = re.compile(r"\b(seq_length|world_size|log_interval|seed)\s\.{2,}\s(\S+)\s*$")


@dataclass
class IterationRecord:
    """The numbers one log line reports for one iteration."""

    iteration: int
    train_iters: int
    line: int  # 1-based line number in the log file
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class ParsedLog:
    path: str
    format: str  # "megatron" | "primus"
    records: list[IterationRecord]
    facts: dict[str, float]  # from the argument dump: seq_length, world_size, ...
    notes: list[str] = field(default_factory=list)

    def iterations(self) -> list[int]:
        return [r.iteration for r in self.records]

    def series(self, metric: str) -> dict[int, float]:
        """iteration -> value, for the iterations whose line printed `metric`."""
        return {r.iteration: r.values[metric] for r in self.records if metric in r.values}

    def origin(self, iteration: int) -> Origin:
        for r in self.records:
            if r.iteration == iteration:
                return Origin(self.path, r.line)
        return Origin(self.path)


def parse_fields(message: str) -> dict[str, float]:
    """`| key: value |` segments of one training-log line -> {metric: value}."""
    values: dict[str, float] = {}
    for segment in message.split("|"):
        label, sep, raw = segment.strip().rpartition(":")
        if not sep:
            continue
        metric = FIELDS.get(label.strip())
        match = _VALUE.match(raw.strip())
        if metric and match:
            values[metric] = float(match.group(1))
    return values


@dataclass(frozen=True)
class LogFormat:
    """One framework's iteration lines: how to recognise them and where the message starts."""

    name: str
    matches: Callable[[str], bool]
    message: Callable[[str], str]


def _primus_message(line: str) -> str:
    m = _PRIMUS_HEADER.match(line)
    return line[m.end():] if m else line


def _looks_primus(line: str) -> bool:
    if _PRIMUS_HEADER.match(line):
        return True
    # Primus without its header (console capture): timing printed as inst/avg, tokens/s/GPU added.
    return "tokens/s/GPU" in line or bool(re.search(r"per iteration \(ms\):\s*[\d.]+/[\d.]+", line))


MEGATRON = LogFormat("megatron", lambda line: not _looks_primus(line), lambda line: line)
PRIMUS = LogFormat("primus", _looks_primus, _primus_message)
FORMATS = (PRIMUS, MEGATRON)


def detect_format(lines: Iterable[str]) -> LogFormat | None:
    for line in lines:
        if _ITERATION.search(line):
            return next(f for f in FORMATS if f.matches(line))
    return None


def parse_log_text(text: str, path: str = "<log>", fmt: LogFormat | None = None) -> ParsedLog:
    """Every iteration line of a log. Raises MigrateError (exit 2) when there is none."""
    lines = text.splitlines()
    fmt = fmt or detect_format(lines)
    if fmt is None:
        raise MigrateError(
            f"no training iteration lines found ({len(lines)} lines read)",
            origin=Origin(path),
            hint="expected Megatron-LM/Primus lines like ' iteration 10/ 100 | ... | lm loss: ... |'",
        )
    facts: dict[str, float] = {}
    by_iteration: dict[int, IterationRecord] = {}
    notes: list[str] = []
    for number, line in enumerate(lines, start=1):
        dump = _ARG_DUMP.search(line)
        if dump and dump.group(1) not in facts:
            try:
                facts[dump.group(1)] = float(dump.group(2))
            except ValueError:
                pass
            continue
        match = _ITERATION.search(line)
        if not match:
            continue
        message = fmt.message(line)
        record = IterationRecord(int(match.group(1)), int(match.group(2)), number, parse_fields(message))
        _nan_loss_from_counter(record)
        previous = by_iteration.get(record.iteration)
        if previous is not None and previous.values != record.values:
            notes.append(
                f"{path}:{number}: iteration {record.iteration} printed again with other values "
                f"(first at line {previous.line}); using the later line"
            )
        if previous is None or previous.values != record.values:
            by_iteration[record.iteration] = record
    records = sorted(by_iteration.values(), key=lambda r: r.iteration)
    return ParsedLog(path, fmt.name, records, facts, notes)


def _nan_loss_from_counter(record: IterationRecord) -> None:
    """Megatron prints a loss only when it is > 0, so a NaN loss shows up only as
    `number of nan iterations: N`; make that visible as a NaN loss."""
    if "lm_loss" not in record.values and record.values.get("nan_iterations", 0) > 0:
        record.values["lm_loss"] = math.nan


def parse_log_file(path: str | Path) -> ParsedLog:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise MigrateError("no such log file", origin=Origin(str(p))) from None
    except IsADirectoryError:
        raise MigrateError("is a directory, expected a training log", origin=Origin(str(p))) from None
    except OSError as exc:  # unreadable (permissions), a name too long, a device that fails
        raise MigrateError(f"cannot read the log: {exc.strerror or exc}", origin=Origin(str(p))) from None
    return parse_log_text(text, str(p))
