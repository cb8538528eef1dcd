"""CPU threads of one-process runs: one thread at proxy sizes, the same for every run of a call."""

from __future__ import annotations

import pytest

from migrate.diagnostics import MigrateError
from primus_runtime.launch import SMALL_HIDDEN, cpu_threads


def test_small_models_train_on_one_thread(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu_threads([{"hidden_size": 128}, {"hidden_size": 512}], None) == 1


def test_one_large_model_keeps_the_default_for_every_run(monkeypatch):
    """Runs compared exactly must sum in the same order: one decision for the whole call."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu_threads([{"hidden_size": 128}, {"hidden_size": SMALL_HIDDEN * 4}], None) is None


def test_the_users_choice_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpu_threads([{"hidden_size": 128}], None) is None  # torch's default, which reads OMP_NUM_THREADS
    assert cpu_threads([{"hidden_size": 128}], 3) == 3
    with pytest.raises(MigrateError):
        cpu_threads([{"hidden_size": 128}], 0)


@pytest.mark.slow
def test_a_run_uses_the_chosen_threads_and_gives_them_back(monkeypatch, tmp_path):
    import torch

    from helpers_runtime import llama_namespace
    from primus_runtime import RunOptions, train

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = []
    import primus_runtime.loop as loop

    real = loop.run_rank
    monkeypatch.setattr(loop, "run_rank", lambda *a, **k: (seen.append(torch.get_num_threads()), real(*a, **k))[1])
    before = torch.get_num_threads()
    result = train(llama_namespace(), RunOptions(iters=2, proxy=True, device="cpu", quiet=True))
    assert seen == [1] and torch.get_num_threads() == before
    assert any("1 thread(s)" in note for note in result.notes)
