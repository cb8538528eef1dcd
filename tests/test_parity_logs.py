"""Log parsers: Megatron-LM iteration lines and Primus's logger-wrapped variants."""

from __future__ import annotations

import math

import pytest

from migrate.diagnostics import MigrateError
from migrate.parity.logs import parse_fields, parse_log_file, parse_log_text
from tests.conftest import FIXTURES

LOGS = FIXTURES / "logs"

# Written by hand in the layout of Megatron-LM's training_log (rocm_dev and d3528a21).
MEGATRON_LINE = (
    " [2025-01-01 10:00:00] iteration       10/     100 | consumed samples:         1280 |"
    " elapsed time per iteration (ms): 1234.5 | throughput per GPU (TFLOP/s/GPU): 201.3 |"
    " learning rate: 1.000000E-05 | global batch size:   128 | lm loss: 8.123456E+00 |"
    " loss scale: 1.0 | grad norm: 3.210 | num zeros: 12 | number of skipped iterations:   0 |"
    " number of nan iterations:   0 |"
)
# Primus 26.x: logger header, timing as instant/average, tokens/s/GPU spliced after TFLOP/s.
PRIMUS_26_LINE = (
    "[20250101 10:00:00][root/amd][pre_trainer][ip-10.0.0.1][rank-7/8][INFO]     "
    "[-------training.py:2153] : [2025-01-01 10:00:00.5] iteration       10/     100 |"
    " consumed samples:         1280 | elapsed time per iteration (ms): 1234.5/1200.0 |"
    " throughput per GPU (TFLOP/s/GPU): 201.3/199.0  | tokens/s/GPU inst/harmonic mean: 12345.6/12000.1 |"
    " learning rate: 1.000000E-05 | global batch size:   128 | lm loss: 7.654321E-01 | loss scale: 1.0"
)
# Primus v0.1 trainer: no date in the message, `tokens per GPU (tokens/s/GPU)` field.
PRIMUS_01_LINE = (
    "[20250101 10:00:00][rank-7/8][INFO ] [------------trainer.py:2321] :  iteration        3/      20 |"
    " consumed samples:          384 | elapsed time per iteration (ms): 900.0/950.0 | mem usages: 0.5000 |"
    " throughput per GPU (TFLOP/s/GPU): 100.0/101.0 | tokens per GPU (tokens/s/GPU): 4000.0/3900.0 |"
    " learning rate: 2.500000E-06 | global batch size:    16 | lm loss: 2.000000E+00 | loss scale: 1.0 |"
    " grad norm: 1.500 | number of skipped iterations:   0 | number of nan iterations:   0 |"
)


def test_megatron_line_fields():
    log = parse_log_text(MEGATRON_LINE)
    assert log.format == "megatron"
    (rec,) = log.records
    assert (rec.iteration, rec.train_iters) == (10, 100)
    assert rec.values["lm_loss"] == 8.123456
    assert rec.values["lr"] == 1e-05
    assert rec.values["grad_norm"] == 3.21
    assert rec.values["elapsed_ms"] == 1234.5
    assert rec.values["global_batch_size"] == 128
    assert rec.values["num_zeros"] == 12
    assert "tokens_per_s_per_gpu" not in rec.values


def test_primus_26_line_keeps_instant_values_and_tokens():
    log = parse_log_text(PRIMUS_26_LINE)
    assert log.format == "primus"
    values = log.records[0].values
    assert values["elapsed_ms"] == 1234.5  # instant, not the running average
    assert values["tflops_per_gpu"] == 201.3
    assert values["tokens_per_s_per_gpu"] == 12345.6
    assert values["lm_loss"] == 0.7654321


def test_primus_01_line():
    log = parse_log_text(PRIMUS_01_LINE)
    assert log.format == "primus"
    rec = log.records[0]
    assert (rec.iteration, rec.train_iters) == (3, 20)
    assert rec.values["tokens_per_s_per_gpu"] == 4000.0
    assert rec.values["elapsed_ms"] == 900.0
    assert rec.values["lm_loss"] == 2.0


def test_elapsed_time_label_is_not_mistaken_for_the_iteration_counter():
    values = parse_fields(" elapsed time per iteration (ms): 55.0 |")
    assert values == {"elapsed_ms": 55.0}
    assert parse_log_text(MEGATRON_LINE).records[0].iteration == 10


def test_unknown_segments_are_ignored():
    assert parse_fields(" hip mem usage/free/total/usage_ratio: 1GB/2GB/3GB/33% | lm loss: 1.0E+00 |") == {
        "lm_loss": 1.0
    }


def test_fixture_megatron_log_with_argument_dump_and_losses_below_one():
    log = parse_log_file(LOGS / "megatron_llama3_8b.log")
    assert log.format == "megatron"
    assert log.iterations() == list(range(1, 11))
    assert log.facts["seq_length"] == 8192 and log.facts["world_size"] == 8
    loss = log.series("lm_loss")
    assert loss[1] == 1.284512 and loss[10] == 0.849903
    assert sum(1 for v in loss.values() if v < 1) == 6


def test_fixture_primus_log_with_a_missing_iteration():
    log = parse_log_file(LOGS / "primus_llama3_8b.log")
    assert log.format == "primus"
    assert log.iterations() == [1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert log.series("lm_loss")[5] == 0.987731


def test_nan_loss_shows_as_nan_from_megatrons_nan_counter():
    # Megatron prints a loss only when it is > 0: a NaN iteration has no `lm loss` field.
    log = parse_log_file(LOGS / "megatron_nan_loss.log")
    loss = log.series("lm_loss")
    assert math.isnan(loss[4])
    assert not any(math.isnan(loss[i]) for i in (1, 2, 3, 5, 6))


def test_printed_nan_is_read_as_nan():
    log = parse_log_text(" iteration 1/ 2 | lm loss: NAN | grad norm: nan |")
    assert math.isnan(log.records[0].values["lm_loss"])
    assert math.isnan(log.records[0].values["grad_norm"])


def test_repeated_line_with_same_values_is_kept_once():
    log = parse_log_text(MEGATRON_LINE + "\n" + MEGATRON_LINE)
    assert len(log.records) == 1 and not log.notes


def test_repeated_iteration_with_other_values_is_noted():
    other = MEGATRON_LINE.replace("8.123456E+00", "8.000000E+00")
    log = parse_log_text(MEGATRON_LINE + "\n" + other, "x.log")
    assert log.records[0].values["lm_loss"] == 8.0
    assert "printed again" in log.notes[0] and "x.log:2" in log.notes[0]


def test_log_without_iteration_lines_is_bad_input():
    with pytest.raises(MigrateError, match="no training iteration lines") as exc:
        parse_log_file(LOGS / "megatron_no_iterations.log")
    assert exc.value.exit_code == 2


def test_missing_log_file_is_bad_input(tmp_path):
    with pytest.raises(MigrateError, match="no such log file"):
        parse_log_file(tmp_path / "nope.log")
