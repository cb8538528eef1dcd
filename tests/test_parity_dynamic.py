"""Dynamic parity orchestration with fake converter/loader/runtime (real runs: test_parity_e2e.py)."""

from __future__ import annotations

import json
import math

import pytest

from migrate.diagnostics import MigrateError
from migrate.parity.dynamic import ParityOptions, metrics_series, run_parity
from tests.helpers_parity import (
    LEGACY,
    fake_backends,
    fake_conversion,
    first_loss_affected_by_weight_decay,
)


def test_faithful_conversion_holds_exactly():
    run = run_parity("x.sh", {}, [], ParityOptions(iters=5), fake_backends())
    assert run.ok and run.comparison.ok
    assert run.comparison.tolerance.mode == "exact"
    assert run.comparison.metrics["lm_loss"].compared == [1, 2, 3, 4, 5]


def test_dropped_weight_decay_fails_where_the_first_update_shows():
    conv = fake_conversion(drop=("weight_decay",))
    run = run_parity("x.sh", {}, [], ParityOptions(iters=6), fake_backends(conv))
    assert not run.ok
    first = run.comparison.first_divergence
    assert (first.metric, first.iteration) == ("lm_loss", first_loss_affected_by_weight_decay(LEGACY))
    assert first.iteration == 2  # no warm-up: the update of iteration 1 already decays


def test_with_warmup_from_zero_the_divergence_comes_one_iteration_later():
    legacy = {**LEGACY, "lr_warmup_iters": 4}
    conv = fake_conversion(legacy, drop=("weight_decay",))
    run = run_parity("x.sh", {}, [], ParityOptions(iters=6), fake_backends(conv))
    assert run.comparison.first_divergence.iteration == first_loss_affected_by_weight_decay(legacy) == 3


def test_static_only_trains_nothing():
    calls = []
    run = run_parity("x.sh", {}, [], ParityOptions(static_only=True), fake_backends(calls=calls))
    assert run.ok and run.comparison is None and calls == []


def test_static_failure_fails_parity_even_if_losses_match():
    run = run_parity("x.sh", {}, [], ParityOptions(iters=3), fake_backends(fake_conversion(static_ok=False)))
    assert run.comparison.ok and not run.ok


def test_rtol_default_on_gpu_and_explicit():
    run = run_parity("x.sh", {}, [], ParityOptions(iters=2), fake_backends(device="cuda"))
    assert run.comparison.tolerance.rtol == 1e-5
    run = run_parity("x.sh", {}, [], ParityOptions(iters=2, rtol=0.05), fake_backends())
    assert run.comparison.tolerance.mode == "rtol=0.05"


def test_layout_is_shrunk_and_checked_against_tp1():
    calls = []
    run = run_parity("x.sh", {}, [], ParityOptions(iters=3, nproc=4), fake_backends(calls=calls))
    # legacy TP=8 on 8 GPUs -> TP=2 (capped), PP=1, DP=2 on 4 processes; then a 1-process reference
    assert str(run.legacy_layout) == "TP=8 PP=1 DP=1"
    assert str(run.run_layout) == "TP=2 PP=1 DP=2"
    assert [c[1].nproc for c in calls] == [4, 4, 1]
    legacy_cfg, reference_cfg = calls[0][0], calls[2][0]
    assert legacy_cfg["tensor_model_parallel_size"] == 2 and legacy_cfg["data_parallel_size"] == 2
    assert reference_cfg["tensor_model_parallel_size"] == 1 and reference_cfg["sequence_parallel"] is False
    assert run.layout_comparison is not None and run.layout_comparison.ok
    assert any("shrunk to TP=2" in n for n in run.layout_notes)


def test_single_process_runs_tp1_without_reference():
    calls = []
    run = run_parity("x.sh", {}, [], ParityOptions(iters=2), fake_backends(calls=calls))
    assert len(calls) == 2 and run.layout_comparison is None
    assert calls[0][0]["tensor_model_parallel_size"] == 1


def test_same_options_for_both_sides():
    calls = []
    run_parity("x.sh", {}, [], ParityOptions(iters=4, proxy=True, seed=7), fake_backends(calls=calls))
    (_, a), (_, b) = calls
    assert (a.iters, a.proxy, a.seed, a.nproc) == (b.iters, b.proxy, b.seed, b.nproc) == (4, True, 7, 1)
    assert a.out_dir != b.out_dir


def test_run_that_cannot_fit_says_what_it_needs():
    with pytest.raises(MigrateError) as exc:
        run_parity("x.sh", {}, [], ParityOptions(iters=2), fake_backends(memory=1 << 20))
    assert exc.value.exit_code == 2
    assert "GiB" in exc.value.message and "--proxy" in exc.value.hint


def test_proxy_skips_the_memory_check():
    run = run_parity("x.sh", {}, [], ParityOptions(iters=2, proxy=True), fake_backends(memory=1))
    assert run.ok and run.memory is None
    assert "proxy: num_layers 32 -> 2" in run.notes


def test_training_failure_is_exit_5():
    def boom(cfg, ro):
        raise RuntimeError("gloo timeout")

    with pytest.raises(MigrateError, match="legacy training run failed: RuntimeError: gloo timeout") as exc:
        run_parity("x.sh", {}, [], ParityOptions(iters=2, proxy=True), fake_backends(train=boom))
    assert exc.value.exit_code == 5


def test_nondeterministic_legacy_env_is_noted():
    conv = fake_conversion(env={"TE_HIPBLASLT_TUNING_RUN_COUNT": "10", "TE_HIPBLASLT_TUNING_ALGO_COUNT": "50",
                                "PYTORCH_TUNABLEOP_ENABLED": "1", "NCCL_IB_HCA": "rdma0"})
    run = run_parity("x.sh", {}, [], ParityOptions(iters=2), fake_backends(conv))
    notes = " ".join(run.repro.nondeterminism)
    assert "GEMM tuning is on" in notes and "TunableOp" in notes and "--deterministic-mode" in notes
    assert "NCCL_IB_HCA" not in run.repro.env and run.repro.env["PYTORCH_TUNABLEOP_ENABLED"] == "1"
    assert run.repro.settings["seed"] == 1234


def test_metrics_series_skips_missing_values():
    s = metrics_series([{"iteration": 1, "lm_loss": 2.0, "grad_norm": None, "lr": 0.1}])
    assert s == {"lm_loss": {1: 2.0}, "lr": {1: 0.1}}


# ---- the command line, with the same fakes ---------------------------------------------------


@pytest.fixture
def fake_cli(cli, monkeypatch, tmp_path):
    from migrate.cli import parity_cmd

    script = tmp_path / "train.sh"
    script.write_text("#!/bin/bash\n")
    state = {"conversion": fake_conversion(), "seen": {}}

    def backends():
        b = fake_backends(state["conversion"])
        real_convert = b.convert

        def convert(script, env, args, options):
            state["seen"] = {"env": env, "args": args, "options": options}
            return real_convert(script, env, args, options)

        b.convert = convert
        return b

    monkeypatch.setattr(parity_cmd, "_backends_hook", backends)
    return cli, script, state


def test_cli_holds_exit_0_with_env_and_script_args(fake_cli):
    cli, script, state = fake_cli
    r = cli("parity", script, "TP=2", "--iters", "3", "MBS=1", "--", "--extra", "x")
    assert r.code == 0, r.err
    assert state["seen"]["env"] == {"TP": "2", "MBS": "1"}
    assert state["seen"]["args"] == ["--extra", "x"]
    assert state["seen"]["options"].iters == 3
    assert "dynamic parity: HOLDS" in r.out and "parity: HOLDS" in r.out


def test_cli_failure_exit_3_json_and_plot(fake_cli, tmp_path):
    cli, script, state = fake_cli
    state["conversion"] = fake_conversion(drop=("weight_decay",))
    png = tmp_path / "loss.png"
    r = cli("parity", script, "--iters", "4", "--json", "--plot", png)
    assert r.code == 3
    data = json.loads(r.out)
    assert data["dynamic"]["comparison"]["first_divergence"]["iteration"] == 2
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "dynamic parity failed: lm loss differs from iteration 2" in r.err


def test_cli_static_only(fake_cli):
    cli, script, _ = fake_cli
    r = cli("parity", "--static", script)
    assert r.code == 0 and "static only" in r.out


def test_cli_rejects_stray_words(fake_cli):
    cli, script, _ = fake_cli
    r = cli("parity", script, "oops")
    assert r.code == 2 and "KEY=VALUE" in r.err


def test_cli_missing_script(cli, tmp_path):
    r = cli("parity", tmp_path / "none.sh")
    assert r.code == 2 and "script not found" in r.err  # the same words as convert and inspect


def test_losses_are_finite_in_fake_runs():
    run = run_parity("x.sh", {}, [], ParityOptions(iters=3), fake_backends())
    assert all(math.isfinite(v) for v in run.sides["legacy"].series()["lm_loss"].values())


def test_training_output_goes_to_stderr_not_stdout(capfd):
    import os

    from migrate.parity.dynamic import stdout_to_stderr

    with stdout_to_stderr():
        print("from python")
        os.write(1, b"from a library\n")
    print("report")
    out, err = capfd.readouterr()
    assert out == "report\n"
    assert "from python" in err and "from a library" in err


def test_missing_dataset_trains_both_sides_on_synthetic_tokens():
    calls = []
    legacy = {**LEGACY, "mock_data": False, "data_path": ["/nonexistent/corpus_text_document"]}
    run = run_parity("x.sh", {}, [], ParityOptions(iters=2), fake_backends(fake_conversion(legacy), calls=calls))
    assert all(cfg["mock_data"] and cfg["data_path"] is None for cfg, _ in calls)
    assert "synthetic tokens for both sides" in run.repro.run["data"]
    assert run.repro.settings["mock_data"] is False  # the legacy settings are reported as the script has them


def test_keep_logs_gives_each_side_its_folder_and_refuses_reuse(tmp_path):
    calls = []
    run_parity("x.sh", {}, [], ParityOptions(iters=2, logs_dir=tmp_path), fake_backends(calls=calls))
    assert [ro.out_dir for _, ro in calls] == [tmp_path / "legacy", tmp_path / "primus"]
    (tmp_path / "legacy").mkdir()
    with pytest.raises(MigrateError, match="already exists"):
        run_parity("x.sh", {}, [], ParityOptions(iters=2, logs_dir=tmp_path), fake_backends())


def test_both_sides_share_workers_when_the_runtime_can(tmp_path):
    from migrate.parity.report import render_parity
    from tests.helpers_parity import fake_train

    batches = []

    def train_many(cfgs, ro):
        batches.append((len(cfgs), ro.nproc, ro.out_dir))
        for i in range(len(cfgs)):  # the runtime's layout: run<i>/ below out_dir
            (ro.out_dir / f"run{i}").mkdir(parents=True)
            (ro.out_dir / f"run{i}" / "train.log").write_text(f"run {i}\n")
        return [fake_train(c, ro) for c in cfgs]

    backends = fake_backends()
    backends.train_many = train_many
    run = run_parity("x.sh", {}, [], ParityOptions(iters=2, nproc=2, logs_dir=tmp_path), backends)
    assert batches == [(2, 2, tmp_path / ".shared")]  # the reference (1 process) trains alone
    assert (tmp_path / "legacy" / "train.log").read_text() == "run 0\n"
    assert (tmp_path / "primus" / "train.log").read_text() == "run 1\n"
    assert not (tmp_path / ".shared").exists()
    assert run.ok and "legacy + primus" in render_parity(run)
