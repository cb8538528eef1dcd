"""`primus-migrate train`: experiment YAML or derived namespace in, Megatron log and metrics out."""

from __future__ import annotations

import json

import pytest

from helpers_runtime import llama_namespace
from tests.conftest import FIXTURES

EXPERIMENT = FIXTURES / "primus" / "primus-26.5" / "llama3_8B-pretrain.yaml"


def write_ns(tmp_path, **overrides):
    path = tmp_path / "ns.json"
    path.write_text(json.dumps(llama_namespace(**overrides)))
    return path


def test_needs_exactly_one_input(cli, tmp_path):
    assert cli("train").code == 2
    both = cli("train", EXPERIMENT, "--namespace", write_ns(tmp_path))
    assert both.code == 2 and "either EXP.yaml or --namespace" in both.err


def test_unknown_namespace_key_is_refused_with_a_suggestion(cli, tmp_path):
    data = llama_namespace()
    data["micro_batch_sise"] = 2
    path = tmp_path / "ns.json"
    path.write_text(json.dumps(data))
    result = cli("train", "--namespace", path)
    assert result.code == 2
    assert "unknown key 'micro_batch_sise'" in result.err and "micro_batch_size" in result.err


def test_unknown_experiment_override_is_refused_with_its_line(cli, tmp_path):
    text = EXPERIMENT.read_text().replace("      mock_data: true", "      mock_data: true\n      lr_decay_stile: cosine")
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    result = cli("train", exp, "--proxy", "--iters", "1")
    assert result.code == 2
    assert "unknown key 'lr_decay_stile'" in result.err and "exp.yaml:" in result.err


def test_existing_log_is_not_overwritten_without_force(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.jsonl").write_text("{}\n")
    result = cli("train", "--namespace", write_ns(tmp_path), "--out", out)
    assert result.code == 2 and "--force" in result.err
    assert (out / "metrics.jsonl").read_text() == "{}\n"


def test_bad_layout_is_refused_before_training(cli, tmp_path):
    result = cli("train", "--namespace", write_ns(tmp_path, tensor_model_parallel_size=2), "--nproc", "3")
    assert result.code == 2 and "does not divide the world size 3" in result.err


@pytest.mark.slow
def test_train_namespace_writes_log_and_metrics(cli, tmp_path):
    out = tmp_path / "out"
    result = cli("train", "--namespace", write_ns(tmp_path, train_iters=3), "--out", out)
    assert result.code == 0, result.err
    assert "trained 3 iterations on cpu" in result.out
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [1, 2, 3]
    assert (out / "train.log").read_text().count("| lm loss: ") == 3


@pytest.mark.slow
def test_train_experiment_yaml_in_proxy_mode(cli):
    result = cli("train", EXPERIMENT, "--proxy", "--iters", "2")
    assert result.code == 0, result.err
    assert " > proxy: num_layers: 32 -> 2" in result.out
    assert "iteration        2/       2 |" in result.out


@pytest.mark.slow
def test_deepseek_v3_preset_trains_in_proxy_mode(cli, tmp_path):
    """MLA, 256 routed experts top-8 with group-limited routing, shared experts, dense first layers, EP=8."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.read_text().replace("model: llama3_8B.yaml", "model: deepseek_v3.yaml")
                   .replace("8192", "4096"))
    result = cli("train", exp, "--proxy", "--iters", "2")
    assert result.code == 0, result.err
    assert " > proxy: expert_model_parallel_size: 8 -> 1" in result.out
    assert " > proxy: kv_lora_rank: 512 -> 32" in result.out
    assert "trained 2 iterations on cpu" in result.out


@pytest.mark.parametrize("target, tokenizer", [("primus-26.5", "NullTokenizer"), ("primus-0.1", None)])
def test_an_experiment_trains_with_the_trainer_side_rewrites_of_its_release(target, tokenizer):
    """What `train EXP.yaml` trains is what that Primus release's trainer would: both llama3 fixtures
    use mock data; 26.5's trainer then forces the NullTokenizer, v0.1's keeps the configured one."""
    import argparse

    from migrate.cli.train_cmd import _from_experiment
    from migrate.primus import get_profile, resolve_experiment

    exp = FIXTURES / "primus" / target / "llama3_8B-pretrain.yaml"
    configured = resolve_experiment(exp, get_profile(target)).values
    assert configured["mock_data"] is True
    ns = _from_experiment(argparse.Namespace(experiment=str(exp), target=target, primus_path=None))
    assert ns["data_path"] is None
    assert ns["tokenizer_type"] == (tokenizer or configured["tokenizer_type"])
