"""`primus-migrate SCRIPT ... -o OUT`: what a user sees, exit codes, and what lands on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers_convert import SCRIPTS


LLAMA3 = SCRIPTS / "rocm" / "train_llama3.sh"

SMALL = """#!/bin/bash
TP="${TP:-1}"
MBS="${MBS:-2}"
ARGS="--num-layers 4 --hidden-size 256 --num-attention-heads 8 --seq-length 128 \\
  --max-position-embeddings 128 --micro-batch-size $MBS --global-batch-size 16 \\
  --lr 3e-4 --min-lr 1e-5 --train-iters 20 --tensor-model-parallel-size $TP \\
  --tokenizer-type NullTokenizer --vocab-size 1000 --mock-data --bf16"
EXTRA="${EXTRA:-}"
torchrun --nproc_per_node 8 pretrain_gpt.py $ARGS $EXTRA
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "train_small.sh"
    path.write_text(SMALL)
    return path


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_small_script_converts_cleanly(cli, small, tmp_path, target):
    out = tmp_path / "out"
    result = cli("convert", small, "-o", out, "--target", target)
    assert result.code == 0, result.err
    files = _files(out)
    assert {"train_small-pretrain.yaml", "run.sh", "report.md", "report.json"} <= set(files)
    assert "static parity ok" in result.out
    exp = yaml.safe_load(files["train_small-pretrain.yaml"])
    assert exp["modules"]["pre_trainer"]["framework"] == "megatron"
    report = json.loads(files["report.json"])
    assert report["target"] == target and report["parity"]["ok"] is True
    # every flag the script passed is accounted for
    flags = {f["flag"] for f in report["flags"]}
    assert {"--num-layers", "--micro-batch-size", "--lr", "--tensor-model-parallel-size", "--mock-data"} <= flags
    assert all(f["destination"] for f in report["flags"])
    assert "EXP=" in files["run.sh"] and "examples/run_pretrain.sh" in files["run.sh"]


def test_default_command_is_convert(cli, small, tmp_path):
    result = cli(small, "TP=2", "-o", tmp_path / "out", "--name", "mine")
    assert result.code == 0, result.err
    text = (tmp_path / "out" / "mine-pretrain.yaml").read_text()
    assert "exp_name: ${PRIMUS_EXP_NAME:mine}" in text


def test_knob_settings_reach_the_yaml(cli, small, tmp_path):
    assert cli(small, "TP=2", "MBS=4", "-o", tmp_path / "out").code == 0
    exp = yaml.safe_load((tmp_path / "out" / "train_small-TP2-MBS4-pretrain.yaml").read_text())
    overrides = exp["modules"]["pre_trainer"]["overrides"]
    assert overrides["tensor_model_parallel_size"] == 2 and overrides["micro_batch_size"] == 4


def test_refuses_to_overwrite_without_force(cli, small, tmp_path):
    out = tmp_path / "out"
    assert cli(small, "-o", out).code == 0
    target = out / "train_small-pretrain.yaml"
    target.write_text("# edited by hand\n")
    before = _files(out)
    result = cli(small, "TP=2", "-o", out, "--name", "train_small")
    assert result.code == 2
    assert "would be overwritten" in result.err and "--force" in result.err
    assert _files(out) == before  # nothing half-written
    assert cli(small, "TP=2", "-o", out, "--name", "train_small", "--force").code == 0
    assert "tensor_model_parallel_size: 2" in target.read_text()


def test_flag_without_equivalent_is_reported_with_exit_4(cli, small, tmp_path):
    out = tmp_path / "out"
    result = cli(small, "EXTRA=--standalone-embedding-stage", "-o", out, "--target", "primus-26.5")
    assert result.code == 4, result.err
    assert "--standalone-embedding-stage" in result.err
    report = json.loads((out / "report.json").read_text())
    assert [u["flag"] for u in report["unmapped"]] == ["--standalone-embedding-stage"]
    assert "no Primus equivalent" in report["unmapped"][0]["why"]
    assert "--standalone-embedding-stage" in (out / "report.md").read_text()


def test_strict_makes_an_unmapped_flag_an_error_and_writes_nothing(cli, small, tmp_path):
    out = tmp_path / "out"
    result = cli(small, "EXTRA=--standalone-embedding-stage", "-o", out, "--strict")
    assert result.code == 2
    assert "--standalone-embedding-stage" in result.err
    assert not out.exists()


def test_parity_failure_exits_3_prints_the_diff_and_writes_nothing(cli, small, tmp_path, monkeypatch):
    from migrate.conversion import static_parity as static

    real = static.check_static_parity

    def broken(expected, resolved, profile, derive=None, accept=None):
        result = real(expected, resolved, profile, derive, accept)
        return static.StaticParity(False, [("lr", 3e-4, 1e-3)], result.ignored)

    monkeypatch.setattr(static, "check_static_parity", broken)
    out = tmp_path / "out"
    result = cli(small, "-o", out)
    assert result.code == 3
    assert "lr: 0.0003 -> 0.001" in result.err and "nothing written" in result.err
    assert not out.exists()


def test_missing_script_is_an_error_not_a_traceback(cli, tmp_path):
    result = cli(tmp_path / "nope.sh", "-o", tmp_path / "out")
    assert result.code == 2
    assert "error" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_json_report_on_stdout(cli, small, tmp_path):
    result = cli(small, "-o", tmp_path / "out", "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["experiment"] == "train_small-pretrain.yaml" and report["parity"]["ok"]


def test_llama3_fixture(cli, tmp_path):
    out = tmp_path / "out"
    result = cli(LLAMA3, "MODEL_SIZE=8", "-o", out, "--target", "primus-0.1")
    assert result.code in (0, 4), result.err
    files = _files(out)
    report = json.loads(files["report.json"])
    assert report["preset"] in ("llama3_8B", "llama3.1_8B") and report["model_file"] is None
    # env exported by the script: cluster/tuning variables to run.sh, the rest to env.sh
    assert "NCCL_IB_HCA='rdma0" in files["run.sh"] or "NCCL_IB_HCA=rdma0" in files["run.sh"]
    assert "export NCCL_PROTO=Simple" in files["env.sh"]
    assert "TE_HIPBLASLT_TUNING_RUN_COUNT=10" in files["env.sh"]
    assert any("PRIMUS_HIPBLASLT_TUNING_STAGE" in g for g in report["guidance"])
    placements = {e["name"]: e for e in report["environment"]}
    assert placements["GPUS_PER_NODE"]["destination"] == "run variable"
    # every explicit flag is in the report, with a destination
    assert len(report["flags"]) >= 30 and all(f["destination"] for f in report["flags"])


def test_inert_removed_flag_is_reported_but_not_unmapped(cli, small, tmp_path):
    # translate() knows the legacy run did not use it: a note in the report, exit 0
    out = tmp_path / "out"
    result = cli(small, "EXTRA=--log-batch-size-to-tensorboard", "-o", out, "--target", "primus-26.5")
    assert result.code == 0, result.err
    report = json.loads((out / "report.json").read_text())
    assert report["unmapped"] == []
    entry = next(f for f in report["flags"] if f["flag"] == "--log-batch-size-to-tensorboard")
    assert entry["destination"].startswith("not needed at primus-26.5")


def test_settings_after_options_and_script_arguments_after_double_dash(cli, tmp_path):
    script = tmp_path / "train_pos.sh"
    script.write_text(SMALL.replace('TP="${TP:-1}"', 'TP="${1:-1}"').replace('MBS="${MBS:-2}"', 'MBS="${MBS:-2}"'))
    out = tmp_path / "out"
    result = cli(script, "-o", out, "MBS=4", "--name", "p", "--", "2")
    assert result.code == 0, result.err
    overrides = yaml.safe_load((out / "p-pretrain.yaml").read_text())["modules"]["pre_trainer"]["overrides"]
    assert overrides["tensor_model_parallel_size"] == 2 and overrides["micro_batch_size"] == 4


@pytest.mark.parametrize("target,key", [("primus-0.1", "norm_epsilon"), ("primus-26.5", "layernorm_epsilon")])
def test_norm_epsilon_is_written_under_the_key_the_release_reads(cli, small, tmp_path, target, key):
    # Megatron-LM d3528a21 (primus-26.5) stores --norm-epsilon in `layernorm_epsilon`; the presets'
    # `norm_epsilon` is inert there.
    out = tmp_path / "out"
    assert cli(small, "EXTRA=--norm-epsilon 1e-6", "-o", out, "--target", target).code == 0
    report = json.loads((out / "report.json").read_text())
    written = {**report["model_keys"], **{o["key"]: o["value"] for o in report["overrides"]}}
    assert written[key] == 1e-6
    other = "layernorm_epsilon" if key == "norm_epsilon" else "norm_epsilon"
    assert other not in written
    text = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert f"{key}: 1.0e-06" in text
