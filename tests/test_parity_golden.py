"""Golden values in the shape of Megatron-LM's tests/functional_tests golden_values_*.json."""

from __future__ import annotations

import json

from migrate.parity.golden import dumps, golden_values
from migrate.parity.logs import parse_log_file
from tests.conftest import FIXTURES


def test_shape_matches_megatron_functional_tests():
    # Upstream shape: metric -> {start_step, end_step, step_interval, values: {"step": number}}.
    g = golden_values({"lm_loss": {1: 10.842, 2: 10.5, 3: 10.1}})
    assert g == {"lm loss": {"start_step": 1, "end_step": 3, "step_interval": 1,
                             "values": {"1": 10.842, "2": 10.5, "3": 10.1}}}


def test_interval_keeps_start_and_multiples_like_upstream():
    g = golden_values({"lm_loss": {i: float(i) for i in range(1, 13)}}, step_interval=5)
    assert list(g["lm loss"]["values"]) == ["1", "5", "10"]
    assert g["lm loss"]["end_step"] == 10 and g["lm loss"]["step_interval"] == 5


def test_missing_step_is_the_string_nan_and_values_are_rounded():
    g = golden_values({"lm_loss": {1: 1.234567891, 3: 0.5}})
    assert g["lm loss"]["values"] == {"1": 1.23457, "2": "nan", "3": 0.5}


def test_iteration_time_is_in_seconds_and_num_zeros_kept():
    g = golden_values({"elapsed_ms": {1: 1234.5}, "num_zeros": {1: 12.0}, "lr": {1: 1e-5}})
    assert g["iteration-time"]["values"] == {"1": 1.2345}
    assert g["num-zeros"]["values"] == {"1": 12.0}
    assert "lr" not in g  # not a golden-values metric


def test_from_fixture_log_round_trips_through_json():
    log = parse_log_file(FIXTURES / "logs" / "primus_llama3_8b.log")
    text = dumps(golden_values({m: log.series(m) for m in ("lm_loss", "elapsed_ms")}))
    data = json.loads(text)
    assert set(data) == {"lm loss", "iteration-time"}
    assert data["lm loss"]["values"]["7"] == "nan"  # iteration 7 is missing from that log
    assert data["lm loss"]["values"]["10"] == 0.8499
