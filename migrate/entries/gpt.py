"""Decoder-only language models: the entries Primus's Megatron pre-trainer builds.

Facts (read at NVIDIA Megatron-LM 5a676b36 and d3528a21, ROCm Megatron-LM rocm_dev f712ab84,
Primus v0.1.0-rc1 and v26.5.1):
- `pretrain_gpt.py`'s model_provider builds megatron-core's GPTModel from the parsed arguments
  (layer spec from gpt_layer_specs, MLA when --multi-latent-attention). Primus v0.1.0-rc1's
  trainer imports that same model_provider (`from pretrain_gpt import model_provider` in
  primus/modules/trainer/megatron/trainer.py); v26.5.1's megatron_pretrain_trainer uses
  pretrain_gpt's components unless the model's `model_type` says otherwise.
- `pretrain_mamba.py` builds megatron-core's MambaModel. Primus v26.5.1's trainer imports
  pretrain_mamba's components when `model_type: mamba`; v0.1.0-rc1 imports pretrain_gpt's
  model_provider only, so it cannot build a Mamba model.
"""

from __future__ import annotations

from migrate.entries.kind import EntryKind

GPT = EntryKind(
    key="gpt",
    paths=("pretrain_gpt.py",),
    builds="a GPT decoder-only language model (megatron-core GPTModel)",
    family="gpt",
    read_from="pretrain_gpt.py model_provider; Primus trainer model providers",
)

MAMBA = EntryKind(
    key="mamba",
    paths=("pretrain_mamba.py",),
    builds="a Mamba / hybrid Mamba language model (megatron-core MambaModel)",
    family="mamba",
    read_from="pretrain_mamba.py; Primus v26.5.1 megatron_pretrain_trainer (model_type mamba)",
)

KINDS = (GPT, MAMBA)
