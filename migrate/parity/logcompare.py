"""Compare a legacy Megatron-LM log with a Primus log of the same workload.

Loss (and grad norm, learning rate) decide parity. Throughput is reported,
never judged: it is compared in tokens/s/GPU, which both frameworks can be
brought to, unlike TFLOP/s whose FLOP formula differs between versions. When
a log does not print tokens/s/GPU it is derived as
global batch size x seq length / iteration time / world size.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from migrate.diagnostics import MigrateError
from migrate.parity.logs import ParsedLog
from migrate.parity.series import SeriesComparison, Tolerance, compare_runs

PARITY_METRICS = ["lm_loss", "grad_norm", "lr"]


@dataclass
class Throughput:
    side: str
    source: str  # "printed" | "derived" | "unavailable"
    per_iteration: dict[int, float]
    median: float | None
    how: str  # one sentence for the report

    def to_json(self) -> dict:
        return {"source": self.source, "median_tokens_per_s_per_gpu": self.median, "how": self.how}


@dataclass
class LogComparison:
    legacy: ParsedLog
    primus: ParsedLog
    result: SeriesComparison
    throughput: dict[str, Throughput]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def throughput_ratio(self) -> float | None:
        a, b = self.throughput["legacy"].median, self.throughput["primus"].median
        return b / a if a and b else None

    def to_json(self) -> dict:
        return {
            "legacy": {"path": self.legacy.path, "format": self.legacy.format, "iterations": len(self.legacy.records)},
            "primus": {"path": self.primus.path, "format": self.primus.format, "iterations": len(self.primus.records)},
            "parity": self.result.to_json(),
            "throughput": {k: v.to_json() for k, v in self.throughput.items()}
            | {"primus_over_legacy": self.throughput_ratio},
            "notes": self.notes,
        }


def series_of(log: ParsedLog, metrics: list[str]) -> dict[str, dict[int, float]]:
    return {m: log.series(m) for m in metrics}


def tokens_per_gpu(log: ParsedLog, side: str, seq_length: int | None, world_size: int | None) -> Throughput:
    printed = log.series("tokens_per_s_per_gpu")
    if printed:
        return Throughput(side, "printed", printed, _steady_median(printed), "tokens/s/GPU as printed in the log")
    seq = seq_length or log.facts.get("seq_length")
    world = world_size or log.facts.get("world_size")
    elapsed = log.series("elapsed_ms")
    batch = log.series("global_batch_size")
    if not (seq and world and elapsed and batch):
        missing = [n for n, v in (("seq length", seq), ("world size", world), ("iteration time", elapsed),
                                  ("global batch size", batch)) if not v]
        return Throughput(side, "unavailable", {}, None,
                          f"not printed and cannot be derived: missing {', '.join(missing)} "
                          "(pass --seq-length/--world-size, or keep Megatron's argument dump in the log)")
    derived = {
        it: batch[it] * seq / (elapsed[it] / 1000.0) / world
        for it in elapsed
        if it in batch and elapsed[it] > 0
    }
    return Throughput(
        side, "derived", derived, _steady_median(derived),
        f"derived: global batch size x seq length {int(seq)} / iteration time / world size {int(world)}",
    )


def _steady_median(values: dict[int, float]) -> float | None:
    """Median over logged iterations, leaving out the first (warm-up) when there are more."""
    its = sorted(values)
    if len(its) > 2:
        its = its[1:]
    return statistics.median(values[i] for i in its) if its else None


def compare_logs(
    legacy: ParsedLog,
    primus: ParsedLog,
    tolerance: Tolerance,
    seq_length: int | None = None,
    world_size: int | None = None,
) -> LogComparison:
    """Align by iteration and compare. Unusable input raises MigrateError (exit 2)."""
    for log in (legacy, primus):
        if not log.series("lm_loss"):
            raise MigrateError(
                f"{log.path}: {len(log.records)} iteration line(s) but none prints 'lm loss'",
                hint="parity is judged on lm loss; use a log with log_interval lines that include it",
            )
    a, b = legacy.iterations(), primus.iterations()
    ia, ib = log_interval(legacy), log_interval(primus)
    if ia and ib and ia != ib:
        raise MigrateError(
            f"the logs use different log intervals: {legacy.path} every {ia} iteration(s), "
            f"{primus.path} every {ib}",
            hint="Megatron prints the loss averaged over the interval, so the values are not comparable; "
                 "rerun one side with the other's --log-interval",
        )
    if not set(a) & set(b):
        raise MigrateError(
            f"the logs cover different iterations: {legacy.path} has {_span(a)}, {primus.path} has {_span(b)}",
            hint="compare logs of the same iterations (same train_iters and log_interval)",
        )
    result = compare_runs(series_of(legacy, PARITY_METRICS), series_of(primus, PARITY_METRICS),
                          PARITY_METRICS, tolerance)
    notes = list(legacy.notes) + list(primus.notes)
    if result.only_legacy:
        notes.append(f"iterations only in {legacy.path}: {_compact(result.only_legacy)} (not compared)")
    if result.only_primus:
        notes.append(f"iterations only in {primus.path}: {_compact(result.only_primus)} (not compared)")
    if legacy.records[0].train_iters != primus.records[0].train_iters:
        notes.append(
            f"train_iters differ: {legacy.records[0].train_iters} (legacy) vs {primus.records[0].train_iters} "
            "(primus); the learning-rate schedule depends on it"
        )
    for name, m in result.metrics.items():
        for side, its in m.nan_iterations.items():
            notes.append(f"{side} log has NaN {name.replace('_', ' ')} at iteration(s) {_compact(its)}")
    throughput = {
        "legacy": tokens_per_gpu(legacy, "legacy", seq_length, world_size),
        "primus": tokens_per_gpu(primus, "primus", seq_length, world_size),
    }
    return LogComparison(legacy, primus, result, throughput, notes)


def log_interval(log: ParsedLog) -> int | None:
    """The run's log_interval: from its argument dump, else the most common step between lines."""
    if log.facts.get("log_interval"):
        return int(log.facts["log_interval"])
    its = log.iterations()
    steps = [b - a for a, b in zip(its, its[1:])]
    return max(set(steps), key=steps.count) if steps else None


def _span(its: list[int]) -> str:
    return f"iterations {its[0]}..{its[-1]}" if its else "no iterations"


def _compact(its: list[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, its[:limit]))
    return shown + (f", ... ({len(its)} in all)" if len(its) > limit else "")
