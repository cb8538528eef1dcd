"""Tokenizer sizes: read from files (checked against sentencepiece and transformers themselves) or a table of facts.

Oracles: `sentencepiece.SentencePieceProcessor.vocab_size()` is what Megatron's Llama2Tokenizer
and GPTSentencePieceTokenizer report (their size is one id per piece); `len()` of
`transformers.AutoTokenizer.from_pretrained(folder)` is what its HuggingFaceTokenizer reports.
The table's values are facts of the published tokenizers, each with its reasoning beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sentencepiece
import yaml
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

from migrate.tokenizer_files import huggingface_folder_size, sentencepiece_piece_count
from migrate.tokenizer_vocab import known_vocab_size

CORPUS = [f"the quick brown fox {i} jumps over the lazy dog number {i * 7} again and again" for i in range(300)]


def train_sentencepiece(folder: Path, vocab_size: int, model_type: str = "unigram") -> Path:
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    prefix = folder / f"sp_{model_type}_{vocab_size}"
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=vocab_size, model_type=model_type,
        minloglevel=2, hard_vocab_limit=False)
    return prefix.with_suffix(".model")


@pytest.mark.parametrize("vocab_size,model_type", [(60, "unigram"), (120, "bpe"), (90, "char"), (100, "word")])
def test_sentencepiece_piece_count_matches_sentencepiece(tmp_path, vocab_size, model_type):
    model = train_sentencepiece(tmp_path, vocab_size, model_type)
    expected = sentencepiece.SentencePieceProcessor(model_file=str(model)).vocab_size()
    assert sentencepiece_piece_count(model.read_bytes()) == expected
    found = known_vocab_size("Llama2Tokenizer", str(model))
    assert found is not None and found[0] == expected and str(model) in found[1]


def test_a_truncated_or_foreign_file_is_unknown(tmp_path):
    data = train_sentencepiece(tmp_path, 60).read_bytes()
    assert sentencepiece_piece_count(data[: len(data) // 2]) is None
    assert sentencepiece_piece_count(b"\x00" * 64) is None
    assert sentencepiece_piece_count(json.dumps({"model": {}}).encode()) is None


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data):
    count = sentencepiece_piece_count(data)
    assert count is None or count > 0


def write_hf_folder(folder: Path, added: list[str], config: dict | None, special_map: dict | None = None) -> Path:
    folder.mkdir()
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=80, special_tokens=["[UNK]"], show_progress=False))
    tok.add_special_tokens([AddedToken(text, special=True) for text in added])
    tok.save(str(folder / "tokenizer.json"))
    if config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", **config}))
    if special_map is not None:
        (folder / "special_tokens_map.json").write_text(json.dumps(special_map))
    return folder


HF_CASES = {
    "tokenizer.json alone": (["<s>", "</s>"], None, None),
    "a pad token the vocabulary lacks": (["<s>", "</s>"], {"pad_token": "<pad>"}, None),
    "named and additional special tokens": (
        ["<s>"], {"bos_token": "<s>", "eos_token": {"content": "</s>", "__type": "AddedToken"},
                  "additional_special_tokens": ["<x>", "<s>"]}, None),
    "an added-token table": (["hello"], {"added_tokens_decoder": {"90": {"content": "<y>", "special": True}}}, None),
    "special_tokens_map.json": (["<s>"], {}, {"pad_token": "<pad>", "eos_token": "<s>"}),
}


@pytest.mark.parametrize("case", sorted(HF_CASES))
def test_huggingface_folder_size_matches_transformers(tmp_path, case):
    import transformers  # a test dependency (pyproject [test]); the converter never imports it
    added, config, special_map = HF_CASES[case]
    folder = write_hf_folder(tmp_path / "tok", added, config, special_map)
    expected = len(transformers.AutoTokenizer.from_pretrained(str(folder)))
    assert huggingface_folder_size(str(folder)) == expected
    assert known_vocab_size("HuggingFaceTokenizer", str(folder))[0] == expected


def test_relative_paths_resolve_where_bash_would(tmp_path, monkeypatch):
    folder = write_hf_folder(tmp_path / "tokenizer_llama3", ["<s>"], None)  # its name says Llama 3; its files win
    monkeypatch.chdir(tmp_path)
    size = known_vocab_size("HuggingFaceTokenizer", "tokenizer_llama3")[0]
    assert size == huggingface_folder_size(str(folder)) != 128256
    assert known_vocab_size("HuggingFaceTokenizer", "tokenizer_llama3", base_dir=str(tmp_path / "elsewhere"))[0] == 128256


# name -> expected size, with the fact each comes from
TABLE_FACTS = {
    "meta-llama/Meta-Llama-3-8B": 128256,  # 128000 BPE + 256 reserved special tokens
    "meta-llama/Llama-3.1-70B": 128256,  # 3.1 keeps the Llama 3 tokenizer
    "/data/tokenizer_llama3": 128256,
    "meta-llama/Llama-2-7b-hf": 32000,  # SentencePiece with 32000 pieces
    "mistralai/Mistral-7B-v0.1": 32000,
    "mistralai/Mistral-7B-Instruct-v0.2": 32000,
    "mistralai/Mistral-7B-v0.3": 32768,  # v0.3 extended the vocabulary to 32768
    "mistralai/Mixtral-8x7B-v0.1": 32000,
    "Qwen/Qwen1.5-7B": 151646,  # 151643 BPE + 3 control tokens
    "Qwen/Qwen2-57B-A14B": 151646,  # Qwen2, not Qwen2.5 although '2' is followed by '-5'
    "Qwen/Qwen2.5-7B": 151665,  # 151643 BPE + 22 control tokens
    "openai-community/gpt2": 50257,
    "EleutherAI/gpt-neox-20b": 50277,  # 50254 BPE + 23 added tokens (config's 50432 is the padded embedding)
    "deepseek-ai/DeepSeek-V2": 100015,  # DeepSeek LLM's tokenizer: vocab_size 100000, added ids up to 100014
    "deepseek-ai/DeepSeek-V2-Lite": 100015,  # the same tokenizer
    "/models/deepseek_v2_tokenizer": 100015,
    "deepseek-ai/DeepSeek-V3": 128815,  # 128000 BPE ids, added tokens up to id 128814
    "deepseek-ai/DeepSeek-V3-Base": 128815,
    "deepseek-ai/DeepSeek-R1": 128815,  # V3's ids (two placeholders renamed <think>, </think>)
    # unknown: never guessed
    "huggyllama/llama-30b": None,  # LLaMA 1 30B, not Llama 3
    "meta-llama/Llama-3.2-11B-Vision": None,  # the vision model adds an image token
    "Qwen/Qwen2-VL-7B-Instruct": None,
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": None,  # a Qwen2.5 tokenizer with DeepSeek's tokens: not listed
    "deepseek-ai/DeepSeek-V2.5": None,  # not V2 (its chat tokens differ): unlisted
    "deepseek-ai/DeepSeek-V3.1": None,  # added tokens of its own: unlisted
    "deepseek-ai/deepseek-coder-v2-base": None,  # Coder-V2 is not listed
    "mistralai/Mixtral-8x22B-v0.1": None,  # base and instruct releases differ (32000 / 32768): not guessed
}


@pytest.mark.parametrize("name", sorted(TABLE_FACTS))
def test_table_of_published_tokenizers(name, tmp_path):
    found = known_vocab_size("HuggingFaceTokenizer", name, base_dir=str(tmp_path))  # nothing on disk there
    assert (found[0] if found else None) == TABLE_FACTS[name]


MOCK_LLAMA2 = """#!/bin/bash
TOKENIZER_MODEL="${TOKENIZER_MODEL:-./tokenizer.model}"
ARGS="--num-layers 4 --hidden-size 256 --num-attention-heads 8 --seq-length 128 \\
  --max-position-embeddings 128 --micro-batch-size 2 --global-batch-size 16 \\
  --lr 3e-4 --min-lr 1e-5 --train-iters 20 --tensor-model-parallel-size 1 \\
  --tokenizer-type Llama2Tokenizer --tokenizer-model $TOKENIZER_MODEL --mock-data --bf16"
torchrun --nproc_per_node 8 pretrain_gpt.py $ARGS
"""


def test_mock_data_with_a_local_sentencepiece_model_converts_at_26_5(cli, tmp_path):
    model = train_sentencepiece(tmp_path, 60)
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(model)).vocab_size()
    script = tmp_path / "train_mock_llama2.sh"
    script.write_text(MOCK_LLAMA2)
    out = tmp_path / "out"
    result = cli("convert", script, f"TOKENIZER_MODEL={model}", "-o", out, "--accept-null-tokenizer")
    assert result.code == 0, result.err
    exp = yaml.safe_load(next(out.glob("*-pretrain.yaml")).read_text())
    assert exp["modules"]["pre_trainer"]["overrides"]["vocab_size"] + 1 == pieces  # NullTokenizer adds one id

    missing = cli("convert", script, f"TOKENIZER_MODEL={tmp_path / 'absent.model'}", "-o", tmp_path / "o2",
                  "--accept-null-tokenizer")
    assert missing.code == 2 and "unknown" in missing.err and "absent.model" in missing.err
