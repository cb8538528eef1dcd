"""`primus-migrate batch` end to end over a fake pipeline: tree, report rows, re-runs, globs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers_batch import FakeBackend, write_fake_repo

import migrate.batch.runner as runner


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(runner, "PipelineBackend", FakeBackend)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_batch_writes_one_tree_and_a_report(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    out = tmp_path / "out"
    res = cli("batch", repo, "-o", out, "--jobs", "1")
    assert res.code == 2, res.err  # the broken script is rejected, the batch still completes
    files = _tree(out)
    models = sorted(p for p in files if p.startswith("models/"))
    exps = sorted(p for p in files if p.startswith("exp/") and p.endswith(".yaml"))
    assert exps == [
        "exp/forks/team_a/train_llama3_fork/MODEL_SIZE=70.yaml",
        "exp/forks/team_a/train_llama3_fork/MODEL_SIZE=8.yaml",
        "exp/llama/train_llama3/MODEL_SIZE=70.yaml",
        "exp/llama/train_llama3/MODEL_SIZE=8.yaml",
    ]
    # the fork and the original have the same model per size: two model files, not four
    assert len(models) == 2 and all(m.startswith("models/megatron/llama3_") for m in models)
    for exp in exps:
        ref = yaml.safe_load(files[exp])["modules"]["pre_trainer"]["model"]
        assert f"models/megatron/{ref}" in models
    envs = {p for p in files if p.endswith(".env.sh")}
    assert envs == {"exp/llama/train_llama3/MODEL_SIZE=70.env.sh", "exp/llama/train_llama3/MODEL_SIZE=8.env.sh"}
    runs = {p for p in files if p.endswith(".run.sh")}
    assert runs == {e.replace(".yaml", ".run.sh") for e in exps}  # each experiment's launch script beside it
    assert set(files) == set(exps) | set(models) | envs | runs | {"batch_report.json", "batch_report.md"}

    report = json.loads(files["batch_report.json"])
    rows = {s["script"]: (s["status"], s["reason"]) for s in report["scripts"]}
    assert rows == {
        "broken/train_broken.sh": ("rejected", "'if' is never closed"),
        "data/prepare_data.sh": ("skipped", rows["data/prepare_data.sh"][1]),
        "forks/team_a/train_llama3_fork.sh": ("converted_with_warnings", None),
        "llama/train_llama3.sh": ("converted", None),
        "tools/common.sh": ("skipped", "helper: no training launch found (commands seen: python, wget)"),
    }
    assert rows["data/prepare_data.sh"][1].startswith("helper:")
    assert report["summary"]["scripts"] == {"converted": 1, "converted_with_warnings": 1, "rejected": 1,
                                            "skipped": 2, "total": 5}
    assert report["summary"]["variants"]["total"] == 4 and report["summary"]["parity"] == {"ok": 4, "failed": 0}
    assert report["knob_mappings"] == [{"knob": "MODEL_SIZE", "keys": ["num_layers"],
                                        "scripts": ["forks/team_a/train_llama3_fork.sh", "llama/train_llama3.sh"]}]
    assert [len(m["used_by"]) for m in report["models"]] == [2, 2]
    md = files["batch_report.md"].decode()
    assert "| `broken/train_broken.sh` | | rejected | - | | | broken/train_broken.sh:4:3: 'if' is never closed |" in md
    assert "| `MODEL_SIZE` | num_layers | forks/team_a/train_llama3_fork.sh, llama/train_llama3.sh |" in md
    assert "broken/train_broken.sh:4:3: rejected [other]: 'if' is never closed" in res.out
    assert str(tmp_path) not in files["batch_report.json"].decode() + md


def test_rerun_is_byte_identical_and_needs_no_force(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    cli("batch", repo, "-o", tmp_path / "a", "--jobs", "1")
    first = _tree(tmp_path / "a")
    assert cli("batch", repo, "-o", tmp_path / "a", "--jobs", "1").code == 2  # same bytes: not a conflict
    assert _tree(tmp_path / "a") == first
    cli("batch", repo, "-o", tmp_path / "b", "--jobs", "1")
    assert _tree(tmp_path / "b") == first


def test_changed_output_is_not_overwritten_without_force(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    out = tmp_path / "out"
    cli("batch", repo, "-o", out, "--jobs", "1")
    (repo / "llama/train_llama3.sh").write_text((repo / "llama/train_llama3.sh").read_text().replace("MBS 2", "MBS 3"))
    before = _tree(out)
    res = cli("batch", repo, "-o", out, "--jobs", "1")
    assert res.code == 2 and "would be overwritten" in res.err and "--force" in res.err
    assert _tree(out) == before
    assert cli("batch", repo, "-o", out, "--jobs", "1", "--force").code == 2
    assert b"micro_batch_size: 3" in (out / "exp/llama/train_llama3/MODEL_SIZE=8.yaml").read_bytes()


def test_include_exclude_and_json_output(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    res = cli("batch", repo, "-o", tmp_path / "out", "--jobs", "1", "--json", "--include", "*llama3*",
              "--exclude", "forks/*")
    assert res.code == 0 and res.err == ""
    report = json.loads(res.out)
    assert [s["script"] for s in report["scripts"]] == ["llama/train_llama3.sh"]
    assert res.out == (tmp_path / "out/batch_report.json").read_text()


def test_knobs_option_chooses_the_variants(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    res = cli("batch", repo, "-o", tmp_path / "out", "--jobs", "1", "--json", "--include", "llama/*",
              "--knobs", "MODEL_SIZE=70 MBS=1,2")
    report = json.loads(res.out)
    (script,) = report["scripts"]
    assert [v["label"] for v in script["variants"]] == ["MODEL_SIZE=70,MBS=1", "MODEL_SIZE=70,MBS=2"]
    assert sorted(p.name for p in (tmp_path / "out/exp/llama/train_llama3").glob("*.yaml")) == [
        "MODEL_SIZE=70,MBS=1.yaml", "MODEL_SIZE=70,MBS=2.yaml"]


def test_bad_arguments_are_errors_not_tracebacks(fake, cli, tmp_path):
    res = cli("batch", tmp_path / "missing", "-o", tmp_path / "out")
    assert res.code == 2 and "not a directory" in res.err
    res = cli("batch", tmp_path, "--knobs", "MODEL_SIZE", "-o", tmp_path / "out")
    assert res.code == 2 and "--knobs" in res.err


def test_output_inside_the_repository_is_not_rediscovered(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    (repo / "out").mkdir()
    (repo / "out/stale.sh").write_text("torchrun pretrain_gpt.py\n")
    res = cli("batch", repo, "-o", repo / "out", "--jobs", "1", "--json")
    assert "out/stale.sh" not in [s["script"] for s in json.loads(res.out)["scripts"]]


@pytest.mark.slow
def test_parallel_workers_give_the_same_bytes_and_isolate_a_dying_worker(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    (repo / "zz/train_dies.sh").parent.mkdir()
    (repo / "zz/train_dies.sh").write_text("#!/bin/bash\n# die\ntorchrun pretrain_gpt.py\n")
    (repo / "zz/train_bug.sh").write_text("#!/bin/bash\n# crash\ntorchrun pretrain_gpt.py\n")
    serial = cli("batch", repo, "-o", tmp_path / "serial", "--jobs", "1", "--exclude", "zz/train_dies.sh")
    parallel = cli("batch", repo, "-o", tmp_path / "parallel", "--jobs", "3")
    assert serial.code == parallel.code == 1  # internal errors are bugs: exit 1
    report = json.loads((tmp_path / "parallel/batch_report.json").read_text())
    rows = {s["script"]: s for s in report["scripts"]}
    assert rows["zz/train_dies.sh"]["reason"].startswith("internal error: the worker process died")
    assert rows["zz/train_bug.sh"]["reason"].startswith("internal error: ZeroDivisionError")
    assert rows["llama/train_llama3.sh"]["status"] == "converted"
    # every file apart from the report is byte-identical between 1 and 3 workers
    a, b = _tree(tmp_path / "serial"), _tree(tmp_path / "parallel")
    assert {k: v for k, v in a.items() if not k.startswith("batch_report")} == \
        {k: v for k, v in b.items() if not k.startswith("batch_report")}


@pytest.mark.slow
def test_the_first_script_in_order_is_isolated_too(fake, cli, tmp_path):
    """No script runs in the parent: one that kills its process first in line is only a row."""
    repo = write_fake_repo(tmp_path / "repo")
    (repo / "aa").mkdir()
    (repo / "aa/train_dies.sh").write_text("#!/bin/bash\n# die\ntorchrun pretrain_gpt.py\n")
    res = cli("batch", repo, "-o", tmp_path / "out", "--jobs", "2")
    assert res.code == 1
    rows = {s["script"]: s for s in json.loads((tmp_path / "out/batch_report.json").read_text())["scripts"]}
    assert sorted(rows)[0] == "aa/train_dies.sh"
    assert rows["aa/train_dies.sh"]["reason"].startswith("internal error: the worker process died")
    assert rows["llama/train_llama3.sh"]["status"] == "converted"


def test_capped_variants_are_warned_about(fake, cli, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.sh").write_text("#!/bin/bash\n# knob MODEL_SIZE 8 8 70 405\ntorchrun pretrain_gpt.py\n")
    res = cli("batch", repo, "-o", tmp_path / "out", "--jobs", "1", "--max-variants", "2")
    assert res.code == 0
    assert "train.sh: warning: variants capped at 2" in res.out
    report = json.loads((tmp_path / "out/batch_report.json").read_text())
    assert report["scripts"][0]["capped"] is True and len(report["scripts"][0]["variants"]) == 2


def test_parity_failure_exits_3_and_writes_only_the_good_variants(fake, cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    (repo / "bad/train_bad.sh").parent.mkdir()
    (repo / "bad/train_bad.sh").write_text("#!/bin/bash\n# parity-breaks\ntorchrun pretrain_gpt.py\n")
    res = cli("batch", repo, "-o", tmp_path / "out", "--jobs", "1", "--exclude", "broken/*")
    assert res.code == 3
    assert "bad/train_bad.sh [default]: rejected [parity-failed]: static parity failed" in res.out
    assert not (tmp_path / "out/exp/bad").exists()
    assert (tmp_path / "out/exp/llama/train_llama3/MODEL_SIZE=8.yaml").is_file()


def test_unknown_target_is_refused_before_anything_runs(cli, tmp_path):
    repo = write_fake_repo(tmp_path / "repo")
    res = cli("batch", repo, "-o", tmp_path / "out", "--target", "primus-9", "--jobs", "1")
    assert res.code == 2 and "unknown target" in res.err
    assert not (tmp_path / "out").exists()


def test_all_choices_option_varies_toggle_free_choices(fake, cli, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.sh").write_text("#!/bin/bash\n# knob MODEL_SIZE 8 8 70\n# knob PR bf16 fp8\ntorchrun pretrain_gpt.py\n")
    labels = lambda res: [v["label"] for v in json.loads(res.out)["scripts"][0]["variants"]]  # noqa: E731
    assert labels(cli("batch", repo, "-o", tmp_path / "a", "--jobs", "1", "--json")) == ["MODEL_SIZE=8",
                                                                                         "MODEL_SIZE=70"]
    assert len(labels(cli("batch", repo, "-o", tmp_path / "b", "--jobs", "1", "--json", "--all-choices"))) == 4
