"""Two-process runs (gloo) train the same model as one process: TP, DP, PP and EP layouts."""

from __future__ import annotations

import time

import pytest

from helpers_runtime import llama_namespace, mixtral_namespace
from migrate.diagnostics import MigrateError
from primus_runtime import RunOptions, train, train_many

pytestmark = pytest.mark.slow

ITERS = 4
RTOL = 1e-5

LAYOUTS = {
    "tp2": (llama_namespace, {"tensor_model_parallel_size": 2}, {"tp": 2, "pp": 1, "dp": 1, "ep": 1}),
    "dp2": (llama_namespace, {}, {"tp": 1, "pp": 1, "dp": 2, "ep": 1}),
    "pp2": (llama_namespace, {"pipeline_model_parallel_size": 2}, {"tp": 1, "pp": 2, "dp": 1, "ep": 1}),
    "ep2": (mixtral_namespace, {"expert_model_parallel_size": 2}, {"tp": 1, "pp": 1, "dp": 2, "ep": 2}),
}


@pytest.fixture(scope="module")
def single():
    """The one-process reference runs."""
    llama, mixtral = train_many([llama_namespace(train_iters=ITERS), mixtral_namespace(train_iters=ITERS)],
                                RunOptions(quiet=True))
    return {llama_namespace: llama, mixtral_namespace: mixtral}


@pytest.fixture(scope="module")
def two_process():
    """All layouts in one pair of worker processes (megatron-core is imported once per rank)."""
    configs = [make(train_iters=ITERS, **layout) for make, layout, _ in LAYOUTS.values()]
    return dict(zip(LAYOUTS, train_many(configs, RunOptions(nproc=2, quiet=True))))


def curve(result, key="lm_loss"):
    return [m[key] for m in result.metrics]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_two_process_layout_matches_single_process(single, two_process, name):
    make, _, layout = LAYOUTS[name]
    result, reference = two_process[name], single[make]
    assert {k: result.layout[k] for k in layout} == layout
    assert len(result.metrics) == ITERS
    assert curve(result) == pytest.approx(curve(reference), rel=RTOL)
    assert curve(result, "grad_norm") == pytest.approx(curve(reference, "grad_norm"), rel=RTOL)
    assert curve(result, "lr") == curve(reference, "lr")


def test_a_crashed_rank_ends_the_run_with_its_message(monkeypatch):
    monkeypatch.setenv("PRIMUS_RUNTIME_FAULT_RANK", "1")
    start = time.monotonic()
    with pytest.raises(MigrateError) as info:
        train(llama_namespace(train_iters=ITERS), RunOptions(nproc=2, quiet=True, timeout_s=60))
    assert info.value.exit_code == 5
    assert "rank 1" in info.value.message and "fault injected" in info.value.message
    assert time.monotonic() - start < 60  # rank 0 was waiting in a collective: it is stopped, not awaited
