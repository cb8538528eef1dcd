"""Entry scripts whose model Primus's Megatron pre-trainer cannot build.

Primus v0.1.0-rc1 builds GPT models only (pretrain_gpt's model_provider) and v26.5.1 builds GPT,
Mamba and its own model types (megatron_pretrain_trainer); neither builds an encoder, an
encoder-decoder, a retrieval-augmented, a vision or a multimodal model. Facts per entry were read
at NVIDIA Megatron-LM 5a676b36 / d3528a21 and ROCm rocm_dev f712ab84 (which of those have the
file is noted).
"""

from __future__ import annotations

from migrate.entries.kind import ALL_TARGETS, EntryKind

_NOT_DECODER = "Primus's Megatron pre-trainer trains decoder-only language models (GPT, and Mamba at 26.5)"


def _refused(key: str, paths: tuple[str, ...], builds: str, why: str, read_from: str) -> EntryKind:
    return EntryKind(key=key, paths=paths, builds=builds, family=None,
                     refused={ALL_TARGETS: f"{why}; {_NOT_DECODER}"}, read_from=read_from)


KINDS = (
    _refused("bert", ("pretrain_bert.py",), "BERT (megatron-core BertModel)",
             "a bidirectional encoder trained with masked-LM and sentence-order losses",
             "pretrain_bert.py (all three pins)"),
    _refused("t5", ("pretrain_t5.py",), "T5 (megatron-core T5Model)",
             "an encoder-decoder model with span-corruption data", "pretrain_t5.py (all three pins)"),
    _refused("ict", ("pretrain_ict.py",), "an ICT biencoder retriever (two BERT towers)",
             "a retriever trained with the inverse cloze task", "pretrain_ict.py (rocm_dev, 5a676b36)"),
    _refused("retro", ("pretrain_retro.py",), "RETRO (megatron-core RetroModel)",
             "a retrieval-augmented model with chunked cross-attention to a neighbour database",
             "pretrain_retro.py (rocm_dev, 5a676b36)"),
    _refused("vision_classify", ("pretrain_vision_classify.py",), "a ViT image classifier",
             "a vision model trained on images", "pretrain_vision_classify.py (rocm_dev, 5a676b36)"),
    _refused("vision_dino", ("pretrain_vision_dino.py",), "a DINO self-supervised ViT",
             "a vision model trained on images", "pretrain_vision_dino.py (rocm_dev, 5a676b36)"),
    _refused("vision_inpaint", ("pretrain_vision_inpaint.py",), "a ViT inpainting model",
             "a vision model trained on images", "pretrain_vision_inpaint.py (rocm_dev, 5a676b36)"),
    _refused("vlm", ("pretrain_vlm.py",), "a LLaVA vision-language model (megatron-core LLaVAModel)",
             "a vision encoder and projector in front of a language model", "pretrain_vlm.py (all three pins)"),
    _refused("multimodal", ("examples/multimodal/train.py",), "a LLaVA-style multimodal model",
             "a vision encoder and projector in front of a language model",
             "examples/multimodal/train.py (all three pins)"),
    _refused("mimo", ("examples/mimo/train.py",), "a MIMO multimodal model",
             "modality encoders around a language model", "examples/mimo/train.py (d3528a21)"),
    _refused("rl", ("train_rl.py",), "a reinforcement-learning (GRPO) run of a GPT policy",
             "post-training with rollouts, not pre-training", "train_rl.py (d3528a21)"),
    _refused("gpt_modelopt", ("examples/export/knowledge_distillation/pretrain_gpt_modelopt.py",),
             "a ModelOpt knowledge-distillation run (student GPT with a teacher)",
             "distillation from a teacher model, not plain pre-training",
             "examples/export/knowledge_distillation/pretrain_gpt_modelopt.py (rocm_dev)"),
)
