"""Vocabulary sizes of well-known tokenizers, known without loading them (no torch, no download).

Megatron pads the vocabulary its tokenizer reports (`len(tokenizer)` for Hugging Face
tokenizers) to a multiple of make_vocab_size_divisible_by * TP. Converting a mock-data
script to primus-26.5 replaces the script's tokenizer by the NullTokenizer, which needs
that size to keep the same embedding; the bundled runtime needs it to size the embedding
without a tokenizer. One table serves both.

Keys are matched against the tokenizer model (a Hugging Face id or a local folder name,
such as `tokenizer_llama3`) with case and `-_.` ignored, so `meta-llama/Meta-Llama-3-8B`
and `tokenizer_llama3` both match `llama3`. Only sizes that are facts of the published
tokenizers are listed; an unlisted tokenizer is "unknown", never guessed.
"""

from __future__ import annotations

import math
import re
from typing import Any

# marker -> number of tokens the tokenizer reports (its `len()`), most specific first.
KNOWN_VOCABS: dict[str, int] = {
    "llama3": 128256,  # Llama 3, 3.1, 3.2, 3.3: 128000 BPE tokens + 256 reserved special tokens
    "llama2": 32000,  # Llama 2 SentencePiece model
    "mixtral8x7b": 32000,  # Mixtral-8x7B v0.1 (Llama-2-style SentencePiece)
    "mistral7bv01": 32000,  # Mistral-7B v0.1
}
# Tokenizer types whose vocabulary is fixed by Megatron itself.
KNOWN_TYPE_VOCABS: dict[str, int] = {
    "GPT2BPETokenizer": 50257,  # the GPT-2 BPE vocabulary
}

_IGNORED = re.compile(r"[-_.\s]+")


def _normalise(text: str) -> str:
    return _IGNORED.sub("", text.lower())


def known_vocab_size(tokenizer_type: Any, tokenizer_model: Any) -> tuple[int, str] | None:
    """(size, what matched) for a tokenizer of the table, None when its size is unknown."""
    if isinstance(tokenizer_type, str) and tokenizer_type in KNOWN_TYPE_VOCABS:
        return KNOWN_TYPE_VOCABS[tokenizer_type], f"tokenizer_type {tokenizer_type}"
    if isinstance(tokenizer_model, str) and tokenizer_model:
        name = _normalise(tokenizer_model)
        for marker, size in KNOWN_VOCABS.items():
            if marker in name:
                return size, f"'{marker}' in tokenizer_model {tokenizer_model}"
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
