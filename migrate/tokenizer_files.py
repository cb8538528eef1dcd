"""How many tokens a tokenizer on disk reports, read from its files (no sentencepiece, no transformers).

Megatron asks the tokenizer it builds for its size; a conversion that has to reproduce that size
(the NullTokenizer at primus-26.5, the runtime's embedding) reads the same files instead:

- `Llama2Tokenizer` and `GPTSentencePieceTokenizer` load a SentencePiece model and report one id per
  piece (Megatron's `_SentencePieceTokenizer.vocab_size` is the size of its piece -> id map; these two
  types add no special tokens of their own). The model file is a protobuf `ModelProto` whose field 1
  repeats one `SentencePiece` message per piece, the piece text being that message's field 1.
- `HuggingFaceTokenizer` reports `len(AutoTokenizer.from_pretrained(folder))`: the distinct token
  strings of `tokenizer.json`'s model vocabulary and its added tokens, plus the tokens
  `tokenizer_config.json` and `special_tokens_map.json` declare (added-token table, named special
  tokens) that are not among them, since loading adds those.

Anything else, or a file that does not read as expected, is "unknown" (None), never a guess.
"""

from __future__ import annotations

import json
import os

MAX_TOKENIZER_FILE_BYTES = 256 * 1024 * 1024  # real tokenizer files are a few MB; a larger one is not read

_SENTENCEPIECE_TYPES = ("Llama2Tokenizer", "GPTSentencePieceTokenizer")
_SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def vocab_size_from_files(tokenizer_type: object, tokenizer_model: object,
                          base_dir: str | None = None) -> tuple[int, str] | None:
    """(size, where it was read) when the tokenizer's files exist and read cleanly, else None."""
    if not isinstance(tokenizer_model, str) or not tokenizer_model:
        return None
    path = os.path.join(base_dir or os.getcwd(), os.path.expanduser(tokenizer_model))
    if tokenizer_type in _SENTENCEPIECE_TYPES and os.path.isfile(path):
        size = _read_limited(path, sentencepiece_piece_count)
    elif tokenizer_type == "HuggingFaceTokenizer" and os.path.isdir(path):
        size = huggingface_folder_size(path)
    else:
        return None
    return (size, f"read from {os.path.abspath(path)}") if size else None


def unread_tokenizer_files(tokenizer_type: object, tokenizer_model: object, base_dir: str | None = None) -> str:
    """Why no files were read, for messages ('' when the type reads none): '(no file X here) '."""
    if not isinstance(tokenizer_model, str) or not tokenizer_model:
        return ""
    path = os.path.abspath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(tokenizer_model)))
    if tokenizer_type in _SENTENCEPIECE_TYPES:
        return (f"(no SentencePiece model file {path} here to read it from) " if not os.path.isfile(path)
                else f"({path} does not read as a SentencePiece model) ")
    if tokenizer_type == "HuggingFaceTokenizer" and os.path.isdir(path):
        return f"({path} has no readable tokenizer.json) "
    return ""


def _read_limited(path: str, parse) -> int | None:
    try:
        if os.path.getsize(path) > MAX_TOKENIZER_FILE_BYTES:
            return None
        with open(path, "rb") as handle:
            return parse(handle.read())
    except OSError:
        return None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes):
    """(field number, payload) for each length-delimited field of a protobuf message; skips the rest."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            yield number, data[pos:pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos != len(data):
        raise ValueError("truncated message")


def sentencepiece_piece_count(data: bytes) -> int | None:
    """Number of pieces of a serialized SentencePiece model; None if it is not one (or repeats a piece)."""
    try:
        pieces = [_piece_text(body) for number, body in _fields(data) if number == 1]
    except ValueError:
        return None
    if not pieces or None in pieces or len(set(pieces)) != len(pieces):
        return None
    return len(pieces)


def _piece_text(message: bytes) -> bytes | None:
    return next((body for number, body in _fields(message) if number == 1), None)


def huggingface_folder_size(folder: str) -> int | None:
    """`len(tokenizer)` of a local Hugging Face tokenizer folder with a `tokenizer.json`."""
    main = _read_limited(os.path.join(folder, "tokenizer.json"), _json_or_none)
    if not isinstance(main, dict) or not isinstance(main.get("model"), dict):
        return None
    tokens = _model_vocab(main["model"])
    if tokens is None:
        return None
    for added in main.get("added_tokens") or []:
        if not isinstance(added, dict) or not isinstance(added.get("content"), str):
            return None
        tokens.add(added["content"])
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            config = _read_limited(path, _json_or_none)
            declared = _declared_tokens(config) if isinstance(config, dict) else None
            if declared is None:
                return None
            tokens |= declared
    return len(tokens) or None


def _json_or_none(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return None


def _model_vocab(model: dict) -> set[str] | None:
    vocab = model.get("vocab")
    if isinstance(vocab, dict):  # BPE, WordPiece, WordLevel: token -> id
        return set(vocab)
    if isinstance(vocab, list):  # Unigram: [token, score] pairs
        if all(isinstance(entry, list) and entry and isinstance(entry[0], str) for entry in vocab):
            return {entry[0] for entry in vocab}
    return None


def _declared_tokens(config: dict) -> set[str] | None:
    found: set[str] = set()
    for entry in (config.get("added_tokens_decoder") or {}).values():
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
            return None
        found.add(entry["content"])
    named = [config.get(key) for key in _SPECIAL_TOKEN_KEYS] + list(config.get("additional_special_tokens") or [])
    for token in named:
        text = token.get("content") if isinstance(token, dict) else token
        if isinstance(text, str):
            found.add(text)
    return found
