"""`primus-migrate compare-logs`: verdicts, exit codes, plot and golden outputs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES

LOGS = FIXTURES / "logs"
LEGACY = LOGS / "megatron_llama3_8b.log"


def test_same_losses_hold_exit_0(cli):
    r = cli("compare-logs", LEGACY, LOGS / "primus_llama3_8b.log")
    assert r.code == 0, r.err
    assert "parity: HOLDS" in r.out
    assert "iterations only in" in r.out and ": 7 " in r.out  # the gap in the Primus log is listed


def test_primus_v01_log_format_also_reads(cli):
    r = cli("compare-logs", LEGACY, LOGS / "primus_v01_llama3_8b.log", "--json")
    assert r.code == 0
    data = json.loads(r.out)
    assert data["primus"]["format"] == "primus"
    assert data["parity"]["metrics"]["lm_loss"]["compared"] == 10


def test_divergence_exit_3_names_the_iteration(cli):
    r = cli("compare-logs", LEGACY, LOGS / "primus_diverged.log", "--json")
    assert r.code == 3
    first = json.loads(r.out)["parity"]["first_divergence"]
    # primus_diverged.log scales the loss by 1.013 from iteration 6 (fixtures/logs/README.md)
    assert (first["metric"], first["iteration"]) == ("lm_loss", 6)
    assert "iteration 6" in r.err


def test_rtol_accepts_small_differences(cli):
    assert cli("compare-logs", LEGACY, LOGS / "primus_diverged.log", "--rtol", "0.05").code == 0
    assert cli("compare-logs", LEGACY, LOGS / "primus_diverged.log", "--rtol", "0.01").code == 3


def test_nan_loss_is_a_parity_failure_named_as_nan(cli):
    r = cli("compare-logs", LOGS / "megatron_nan_loss.log", LOGS / "primus_v01_llama3_8b.log")
    assert r.code == 3
    assert "legacy lm loss is NaN at iteration 4" in r.err


def test_no_iteration_lines_is_bad_input(cli):
    r = cli("compare-logs", LOGS / "megatron_no_iterations.log", LEGACY)
    assert r.code == 2
    assert "megatron_no_iterations.log: error: no training iteration lines" in r.err


def test_disjoint_iteration_ranges_is_bad_input(cli):
    r = cli("compare-logs", LEGACY, LOGS / "primus_later_range.log")
    assert r.code == 2
    assert "1..10" in r.err and "51..60" in r.err


def test_throughput_derived_for_megatron_and_printed_for_primus(cli):
    data = json.loads(cli("compare-logs", LEGACY, LOGS / "primus_v01_llama3_8b.log", "--json").out)
    legacy, primus = data["throughput"]["legacy"], data["throughput"]["primus"]
    assert legacy["source"] == "derived" and primus["source"] == "printed"
    # 128 samples x 8192 tokens / 4.1002 s (median iteration time after iteration 1) / 8 GPUs
    assert abs(legacy["median_tokens_per_s_per_gpu"] - 128 * 8192 / 4.1002 / 8) < 0.1


def test_throughput_unavailable_without_seq_length(cli, tmp_path):
    stripped = tmp_path / "legacy.log"
    stripped.write_text("".join(
        line for line in LEGACY.read_text().splitlines(keepends=True) if "seq_length" not in line
    ))
    data = json.loads(cli("compare-logs", stripped, LOGS / "primus_llama3_8b.log", "--json").out)
    assert data["throughput"]["legacy"]["source"] == "unavailable"
    data = json.loads(cli("compare-logs", stripped, LOGS / "primus_llama3_8b.log", "--json",
                          "--seq-length", "8192").out)
    assert data["throughput"]["legacy"]["source"] == "derived"


def test_plot_and_golden_written_and_not_overwritten(cli, tmp_path):
    png, gold = tmp_path / "out" / "loss.png", tmp_path / "out" / "golden.json"
    r = cli("compare-logs", LEGACY, LOGS / "primus_llama3_8b.log", "--plot", png, "--golden", gold)
    assert r.code == 0, r.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    golden = json.loads(gold.read_text())
    assert golden["lm loss"]["values"]["1"] == 1.28451
    assert golden["iteration-time"]["values"]["2"] == 4.1027
    before = gold.read_text()
    # other content (every 2nd step) for an existing file: refused without --force, nothing written
    again = cli("compare-logs", LEGACY, LOGS / "primus_llama3_8b.log", "--golden", gold, "--golden-interval", "2")
    assert again.code == 2 and "--force" in again.err
    assert gold.read_text() == before
    forced = cli("compare-logs", LEGACY, LOGS / "primus_llama3_8b.log", "--golden", gold,
                 "--golden-interval", "2", "--force")
    assert forced.code == 0 and list(json.loads(gold.read_text())["lm loss"]["values"]) == ["1", "2", "4", "6", "8", "10"]


def test_different_log_intervals_is_bad_input(cli, tmp_path):
    # every 2nd line of the Primus log: a run logged with --log-interval 2
    lines = (LOGS / "primus_v01_llama3_8b.log").read_text().splitlines(keepends=True)
    sparse = tmp_path / "primus_every2.log"
    sparse.write_text("".join(lines[1::2]))
    r = cli("compare-logs", LEGACY, sparse)
    assert r.code == 2
    assert "different log intervals" in r.err and "every 1" in r.err and "every 2" in r.err


def test_json_output_is_strict_json_even_with_nan(cli):
    r = cli("compare-logs", LOGS / "megatron_nan_loss.log", LEGACY, "--json")
    assert r.code == 3
    data = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["parity"]["first_divergence"]["legacy"] == "nan"
