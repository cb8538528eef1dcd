"""Per-iteration records: a Megatron-format log line and a JSON-lines metrics file.

The text line is what Megatron-LM's `training_log` prints (same fields, same number
formats), so tools written for Megatron logs (and `primus-migrate compare-logs`) read
it. As in Megatron (d3528a21), a line is printed after the first iteration and then
every `log_interval` iterations, with the loss averaged over the iterations of the
interval that updated the model; metrics.jsonl keeps every iteration.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import IO, Any

# Keys of every metrics.jsonl record (and RunResult.metrics entry). `grad_norm` is None on
# an iteration that skipped its update; `skipped` and `nan` count iterations so far.
METRIC_KEYS = ("iteration", "lm_loss", "grad_norm", "lr", "loss_scale", "tokens_per_s", "step_time",
               "consumed_samples", "skipped", "nan")


def megatron_line(m: dict[str, Any], train_iters: int, global_batch_size: int, loss_scale: float = 1.0) -> str:
    """One `training_log` line. `m` holds the values to print: lm_loss (None: not printed),
    grad_norm (None: not printed), step_time (seconds per iteration), skipped/nan counts."""
    text = f" [{datetime.now().strftime('%Y-%m-%d %H:%M:%S.%f')}]"
    text += " iteration {:8d}/{:8d} |".format(m["iteration"], train_iters)
    text += " consumed samples: {:12d} |".format(m["consumed_samples"])
    text += " elapsed time per iteration (ms): {:.1f} |".format(m["step_time"] * 1000.0)
    text += f" learning rate: {m['lr']:.6E} |"
    text += f" global batch size: {global_batch_size:5d} |"
    if m["lm_loss"] is not None and m["lm_loss"] > 0.0:
        text += " lm loss: {:.6E} |".format(m["lm_loss"])
    text += f" loss scale: {loss_scale:.1f} |"
    if m["grad_norm"] is not None:
        text += f" grad norm: {m['grad_norm']:.3f} |"
    text += " number of skipped iterations: {:3d} |".format(m["skipped"])
    text += " number of nan iterations: {:3d} |".format(m["nan"])
    return text


class IntervalLog:
    """Megatron's `training_log` bookkeeping: which iterations print, and what.

    Per interval it counts iterations that updated the model ("advanced"), skipped ones,
    and skipped ones whose loss was inf/nan ("nan"); the printed loss is the mean over
    the advanced iterations, the time the mean over all. The first iteration prints
    without closing the interval (so the first printed interval still spans
    `log_interval` iterations); every `log_interval`-th iteration prints and starts a new one.
    """

    def __init__(self, log_interval: int, train_iters: int, global_batch_size: int) -> None:
        self.log_interval = max(1, int(log_interval))
        self.train_iters = train_iters
        self.global_batch_size = global_batch_size
        self._reset()

    def _reset(self) -> None:
        self.advanced = self.skipped = self.nan = 0
        self.loss_sum = 0.0
        self.time_sum = 0.0

    def add(self, m: dict[str, Any], skipped: bool) -> str | None:
        """Account iteration `m` (a metrics record); the line to print now, or None."""
        if skipped:
            self.skipped += 1
            if not math.isfinite(m["lm_loss"]):
                self.nan += 1
        else:
            self.advanced += 1
            self.loss_sum += m["lm_loss"]
        self.time_sum += m["step_time"]
        first = m["iteration"] == 1
        if m["iteration"] % self.log_interval and not first:
            return None
        shown = dict(m)
        shown["lm_loss"] = self.loss_sum / max(1, self.advanced) if self.advanced else None
        shown["step_time"] = self.time_sum / (self.advanced + self.skipped)
        shown["skipped"], shown["nan"] = self.skipped, self.nan
        line = megatron_line(shown, self.train_iters, self.global_batch_size, m.get("loss_scale", 1.0))
        if not first or self.log_interval == 1:
            self._reset()
        return line


class MetricsWriter:
    """Appends one JSON object per iteration and the Megatron-format line to train.log."""

    def __init__(self, out_dir: Path | None, echo: bool) -> None:
        self.echo = echo
        self.jsonl: IO[str] | None = None
        self.log: IO[str] | None = None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.jsonl = open(out_dir / "metrics.jsonl", "w")
            self.log = open(out_dir / "train.log", "w")

    def text(self, line: str) -> None:
        if self.echo:
            print(line, flush=True)
        if self.log:
            self.log.write(line + "\n")
            self.log.flush()

    def record(self, m: dict[str, Any], line: str | None) -> None:
        if line is not None:
            self.text(line)
        if self.jsonl:
            self.jsonl.write(json.dumps(m) + "\n")
            self.jsonl.flush()

    def close(self) -> None:
        for f in (self.jsonl, self.log):
            if f:
                f.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
