"""`--accept-null-tokenizer`: mock-data scripts at primus-26.5, whose trainer forces the NullTokenizer.

Facts the expectations come from (not from the code under test):
- primus v26.5.1 patches/args/mock_data_patches.py: mock_data -> tokenizer_type NullTokenizer,
  vocab_size 131072 only when unset;
- Megatron-LM d3528a21 null_tokenizer.py: the NullTokenizer reports vocab_size + 1 tokens;
  build_tokenizer.py pads that to a multiple of make_vocab_size_divisible_by * TP;
- the Llama 3 tokenizer has 128256 tokens (128000 BPE + 256 reserved special tokens).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml



MOCK = """#!/bin/bash
TP="${TP:-4}"
TOKENIZER="${TOKENIZER:-meta-llama/Meta-Llama-3-8B}"
ARGS="--num-layers 4 --hidden-size 256 --num-attention-heads 8 --seq-length 128 \\
  --max-position-embeddings 128 --micro-batch-size 2 --global-batch-size 16 \\
  --lr 3e-4 --min-lr 1e-5 --train-iters 20 --tensor-model-parallel-size $TP \\
  --tokenizer-type HuggingFaceTokenizer --tokenizer-model $TOKENIZER --mock-data --bf16"
torchrun --nproc_per_node 8 pretrain_gpt.py $ARGS
"""

LLAMA3_TOKENS = 128256


@pytest.fixture
def mock_script(tmp_path):
    path = tmp_path / "train_mock.sh"
    path.write_text(MOCK)
    return path


def test_refused_by_default_with_the_reason_and_what_to_do(cli, mock_script, tmp_path):
    out = tmp_path / "out"
    result = cli("convert", mock_script, "-o", out)
    assert result.code == 3
    assert not out.exists()
    assert "tokenizer_type: 'HuggingFaceTokenizer' -> 'NullTokenizer'" in result.err
    assert "--accept-null-tokenizer" in result.err and "--target primus-0.1" in result.err
    assert "NullTokenizer" in result.err.split("hint: primus-26.5")[1]


def test_primus_0_1_needs_no_flag(cli, mock_script, tmp_path):
    result = cli("convert", mock_script, "-o", tmp_path / "out", "--target", "primus-0.1")
    assert result.code == 0, result.err


def test_accepted_keeps_the_padded_vocabulary(cli, mock_script, tmp_path):
    out = tmp_path / "out"
    result = cli("convert", mock_script, "-o", out, "--accept-null-tokenizer")
    assert result.code == 0, result.err
    exp = yaml.safe_load((out / "train_mock-pretrain.yaml").read_text())
    vocab_size = exp["modules"]["pre_trainer"]["overrides"]["vocab_size"]
    # NullTokenizer reports vocab_size + 1: that must be the Llama 3 tokenizer's size
    assert vocab_size + 1 == LLAMA3_TOKENS
    multiple = 128 * 4  # Megatron's make_vocab_size_divisible_by default * TP
    assert math.ceil((vocab_size + 1) / multiple) * multiple == math.ceil(LLAMA3_TOKENS / multiple) * multiple
    report = json.loads((out / "report.json").read_text())
    assert report["parity"]["ok"] is True and report["parity"]["differences"] == []
    accepted = {e["dest"]: e for e in report["accepted_differences"]}
    assert set(accepted) == {"tokenizer_type", "vocab_size"}
    assert (accepted["tokenizer_type"]["legacy"], accepted["tokenizer_type"]["primus"]) == (
        "HuggingFaceTokenizer", "NullTokenizer")
    assert "128512" in accepted["vocab_size"]["why"]  # 128256 padded to a multiple of 512
    assert "Accepted differences" in (out / "report.md").read_text()
    assert "--accept-null-tokenizer" in (out / "train_mock-pretrain.yaml").read_text().split("work_group")[0]


def test_unknown_tokenizer_is_refused_even_with_the_flag(cli, mock_script, tmp_path):
    out = tmp_path / "out"
    result = cli("convert", mock_script, "TOKENIZER=deepseek-ai/DeepSeek-V3.1", "-o", out, "--accept-null-tokenizer")
    assert result.code not in (0, 3, 4)
    assert "deepseek-ai/DeepSeek-V3.1" in result.err and "unknown" in result.err
    assert "train_mock.sh:7: error:" in result.err  # the line that passes --tokenizer-model
    assert not out.exists()


def test_static_parity_still_compares_the_padded_vocabulary():
    """The exception covers tokenizer_type, and vocab_size only when the padded vocabularies agree."""
    from migrate.megatron import derive, load_schema
    from migrate.conversion.static_parity import NullTokenizerAcceptance, check_static_parity
    from migrate.primus import get_profile
    from migrate.primus.resolved import ResolvedConfig

    profile = get_profile("primus-26.5")
    schema = load_schema(profile.megatron_schema)
    legacy = {**schema.defaults(), "mock_data": True, "tokenizer_type": "HuggingFaceTokenizer",
              "tokenizer_model": "meta-llama/Meta-Llama-3-8B", "tensor_model_parallel_size": 1}
    expected = derive(legacy, schema)
    accept = NullTokenizerAcceptance("HuggingFaceTokenizer", LLAMA3_TOKENS, "test")

    def parity(vocab_size):
        values = {**legacy, "tokenizer_type": "NullTokenizer", "vocab_size": vocab_size}
        return check_static_parity(expected, ResolvedConfig(values, {}, {}, profile.name), profile, accept=accept)

    assert parity(LLAMA3_TOKENS - 1).ok
    # 131072 (the patch's default) gives 131073 -> 131200 rows, not 128256
    bad = parity(131072)
    assert not bad.ok and [d for d, _, _ in bad.differences] == ["vocab_size"]
    assert [e["dest"] for e in bad.exceptions] == ["tokenizer_type"]
    # without the acceptance the tokenizer is a difference too
    plain = check_static_parity(expected, ResolvedConfig({**legacy, "tokenizer_type": "NullTokenizer",
                                                          "vocab_size": LLAMA3_TOKENS - 1}, {}, {}, profile.name),
                                profile)
    assert {d for d, _, _ in plain.differences} == {"tokenizer_type", "vocab_size"}


def test_one_vocabulary_table_for_converter_and_runtime():
    import primus_runtime.launch as launch
    from migrate.tokenizer_vocab import known_vocab_size

    assert not hasattr(launch, "KNOWN_VOCABS")
    assert known_vocab_size("HuggingFaceTokenizer", "meta-llama/Meta-Llama-3-8B")[0] == LLAMA3_TOKENS
    assert known_vocab_size("HuggingFaceTokenizer", "/data/tokenizer_llama3")[0] == LLAMA3_TOKENS
    assert known_vocab_size("HuggingFaceTokenizer", "meta-llama/Llama-2-7b-hf")[0] == 32000
    assert known_vocab_size("GPT2BPETokenizer", None)[0] == 50257
    assert known_vocab_size("HuggingFaceTokenizer", "deepseek-ai/DeepSeek-V3.1") is None


def test_parity_static_passes_the_flag_and_lists_the_exception(cli, mock_script):
    refused = cli("parity", mock_script, "--static")
    assert refused.code == 3 and "--accept-null-tokenizer" in refused.out + refused.err
    result = cli("parity", mock_script, "--static", "--accept-null-tokenizer", "--json")
    assert result.code == 0, result.err
    static = json.loads(result.out)["static"]
    assert static["ok"] is True
    assert {e["dest"] for e in static["exceptions"]} == {"tokenizer_type", "vocab_size"}


@pytest.mark.slow
def test_batch_passes_the_flag(cli, tmp_path):
    source = tmp_path / "scripts"
    source.mkdir()
    (source / "train_mock.sh").write_text(MOCK)
    refused = cli("batch", source, "-o", tmp_path / "a", "--jobs", "1", "--json")
    report = json.loads(refused.out)
    assert report["summary"]["variants"]["rejected"] == 1
    assert "--accept-null-tokenizer" in report["scripts"][0]["variants"][0]["reason"]
    result = cli("batch", source, "-o", tmp_path / "b", "--jobs", "1", "--json",
                 "--accept-null-tokenizer")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["summary"]["parity"] == {"ok": 1, "failed": 0}
