"""Per-iteration records: a Megatron-format log line and a JSON-lines metrics file.

The text line is what Megatron-LM's `training_log` prints (same fields, same number
formats), so tools written for Megatron logs (and `primus-migrate compare-logs`) read
it. The runtime logs every iteration (Megatron averages over `log_interval`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import IO, Any

# Keys of every metrics.jsonl record (and RunResult.metrics entry).
METRIC_KEYS = ("iteration", "lm_loss", "grad_norm", "lr", "tokens_per_s", "step_time", "consumed_samples", "skipped", "nan")


def megatron_line(m: dict[str, Any], train_iters: int, global_batch_size: int, loss_scale: float = 1.0) -> str:
    text = f" [{datetime.now().strftime('%Y-%m-%d %H:%M:%S.%f')}]"
    text += " iteration {:8d}/{:8d} |".format(m["iteration"], train_iters)
    text += " consumed samples: {:12d} |".format(m["consumed_samples"])
    text += " elapsed time per iteration (ms): {:.1f} |".format(m["step_time"] * 1000.0)
    text += f" learning rate: {m['lr']:.6E} |"
    text += f" global batch size: {global_batch_size:5d} |"
    if m["lm_loss"] > 0.0:
        text += " lm loss: {:.6E} |".format(m["lm_loss"])
    text += f" loss scale: {loss_scale:.1f} |"
    text += f" grad norm: {m['grad_norm']:.3f} |"
    text += " number of skipped iterations: {:3d} |".format(m["skipped"])
    text += " number of nan iterations: {:3d} |".format(m["nan"])
    return text


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

    def record(self, m: dict[str, Any], line: str) -> None:
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
