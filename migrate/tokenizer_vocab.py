"""Vocabulary sizes of well-known tokenizers, known without loading them (no torch, no download).

Megatron pads the vocabulary its tokenizer reports (`len(tokenizer)` for Hugging Face
tokenizers) to a multiple of make_vocab_size_divisible_by * TP. Converting a mock-data
script to primus-26.5 replaces the script's tokenizer by the NullTokenizer, which needs
that size to keep the same embedding; the bundled runtime needs it to size the embedding
without a tokenizer. One table serves both.

Names are matched against the tokenizer model (a Hugging Face id or a local folder name, such as
`meta-llama/Meta-Llama-3-8B` or `tokenizer_llama3`), case ignored, by patterns that stop at the
version: `llama-3` matches Llama 3 but not LLaMA-1 `llama-30b`, `qwen2` not `qwen2.5`. Only sizes that
are facts of the published tokenizers are listed; an unlisted tokenizer is "unknown", never guessed.
When the model names files that exist (a SentencePiece model, a Hugging Face tokenizer folder), their
size wins over the name (migrate.tokenizer_files).
"""

from __future__ import annotations

import math
import re
from typing import Any

from migrate.tokenizer_files import vocab_size_from_files

# (label, pattern over the lower-cased model name, tokens the tokenizer reports: its `len()`).
# A version number must not run on into another digit or a minor version it does not name.
KNOWN_VOCABS: list[tuple[str, re.Pattern[str], int]] = [
    # 128000 BPE tokens + 256 reserved special tokens, the same for 3, 3.1, 3.2 and 3.3
    ("llama3", re.compile(r"llama[-_ ]?3(?!\d)"), 128256),
    ("llama2", re.compile(r"llama[-_ ]?2(?!\d)"), 32000),  # SentencePiece, 32000 pieces
    ("mixtral-8x7b", re.compile(r"mixtral[-_ ]?8x7b"), 32000),  # Llama-2-style SentencePiece
    ("mistral-7b-v0.1/v0.2", re.compile(r"mistral[-_ ]?7b(?:[-_ ]?instruct)?[-_ ]?v0\.?[12](?!\d)"), 32000),
    ("mistral-7b-v0.3", re.compile(r"mistral[-_ ]?7b(?:[-_ ]?instruct)?[-_ ]?v0\.?3(?!\d)"), 32768),  # v0.3 extended it
    # Qwen: 151643 byte-level BPE tokens + control tokens (3 up to Qwen2, 22 in Qwen2.5)
    ("qwen1.5", re.compile(r"qwen[-_ ]?1\.5(?!\d)"), 151646),
    ("qwen2.5", re.compile(r"qwen[-_ ]?2\.5(?!\d)"), 151665),
    ("qwen2", re.compile(r"qwen[-_ ]?2(?![.\d])"), 151646),
    ("gpt2", re.compile(r"(?<![a-z0-9])gpt[-_ ]?2(?![.\d])"), 50257),  # the GPT-2 BPE vocabulary
    # GPT-NeoX-20B's tokenizer.json: 50254 BPE tokens + 23 added (whitespace runs, <|padding|>):
    # len(AutoTokenizer) 50277 (the model's config vocab_size 50432 is the padded embedding)
    ("gpt-neox", re.compile(r"gpt[-_ ]?neox"), 50277),
    # DeepSeek LLM's byte-level BPE, which DeepSeek-V2 (and V2-Lite) reuse: tokenizer.vocab_size 100000,
    # tokenizer_config.json adds ids 100000-100014, so len() is 100015 (config vocab_size 102400 is padded)
    ("deepseek-v2", re.compile(r"deepseek[-_ ]?v2(?![.\d])"), 100015),
    # DeepSeek-V3 (and R1, same ids): 128000 BPE ids + added tokens up to id 128814 (placeholders
    # 128000-128799, FIM, chat and tool tokens) in tokenizer_config.json: 128815 (config vocab_size
    # 129280 is padded). R1's distilled models use Qwen/Llama tokenizers: never matched here.
    ("deepseek-v3", re.compile(r"deepseek[-_ ]?v3(?![.\d])"), 128815),
    ("deepseek-r1", re.compile(r"deepseek[-_ ]?r1(?![-_ ]?distill)(?![.\d])"), 128815),
]
# Multimodal variants (Llama 3.2 Vision, Qwen2-VL, ...) add tokens of their own: never matched by name.
_MULTIMODAL = re.compile(r"(?<![a-z])(vl|vision|omni|audio)(?![a-z])")
# Tokenizer types whose vocabulary is fixed by Megatron itself.
KNOWN_TYPE_VOCABS: dict[str, int] = {
    "GPT2BPETokenizer": 50257,  # the GPT-2 BPE vocabulary
}


def known_tokenizer_names() -> list[str]:
    """What the table knows, for messages."""
    return [label for label, _, _ in KNOWN_VOCABS] + list(KNOWN_TYPE_VOCABS)


def known_vocab_size(tokenizer_type: Any, tokenizer_model: Any, base_dir: str | None = None) -> tuple[int, str] | None:
    """(size, where it came from) for a tokenizer whose size is a fact, None when it is unknown.

    Files the model names are read first (relative paths against `base_dir`, default the current
    directory, where bash would resolve them); then Megatron's fixed types; then the name table.
    """
    from_files = vocab_size_from_files(tokenizer_type, tokenizer_model, base_dir)
    if from_files is not None:
        return from_files
    if isinstance(tokenizer_type, str) and tokenizer_type in KNOWN_TYPE_VOCABS:
        return KNOWN_TYPE_VOCABS[tokenizer_type], f"tokenizer_type {tokenizer_type}"
    named = _named(tokenizer_model)
    if named is not None:
        return named[1], f"'{named[0]}' in tokenizer_model {tokenizer_model}"
    return None


def _named(tokenizer_model: Any) -> tuple[str, int] | None:
    """(label, size) of the table row whose pattern the model name matches."""
    if isinstance(tokenizer_model, str) and tokenizer_model:
        name = tokenizer_model.lower()
        if _MULTIMODAL.search(name):
            return None
        for label, pattern, size in KNOWN_VOCABS:
            if pattern.search(name):
                return label, size
    return None


def known_tokenizer_label(tokenizer_type: Any, tokenizer_model: Any) -> str | None:
    """The table's label for a tokenizer named by its model (`llama3`, `qwen2.5`, `gpt2`, ...), None
    when the name is not one the table knows (or a multimodal variant); by name and type only, no files."""
    named = _named(tokenizer_model)
    if named is not None:
        return named[0]
    if tokenizer_type == "GPT2BPETokenizer":
        return "gpt2"
    return None


def padded_vocab_size(vocab: int, divisible_by: Any, tensor_parallel: Any) -> int:
    """The embedding rows Megatron allocates: `vocab` rounded up to divisible_by * TP."""
    multiple = int(divisible_by or 1) * max(int(tensor_parallel or 1), 1)
    return int(math.ceil(vocab / multiple) * multiple)


def null_tokenizer_vocab_size(legacy_vocab: int) -> int:
    """The `vocab_size` that makes Megatron's NullTokenizer report `legacy_vocab` tokens.

    The NullTokenizer adds one end-of-document id to `vocab_size`, so it reports vocab_size + 1.
    """
    return legacy_vocab - 1
