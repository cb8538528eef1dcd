"""Training batches from megatron-core datasets: mock tokens or Megatron indexed files.

Built as Megatron's `train_valid_test_datasets_provider` builds them
(`BlendedMegatronDatasetBuilder` + `GPTDatasetConfig`), with megatron-core's
`NullTokenizer` so that nothing is downloaded: the vocabulary size comes from the
namespace. Each data-parallel rank reads its own slice of every global batch, in
the order of Megatron's pretraining sampler.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import torch

from primus_runtime.namespace import blend_of


def build_train_dataset(ns: Mapping[str, Any], vocab_size: int, num_samples: int, cache_dir: str | None) -> Any:
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig, MockGPTDataset
    from megatron.core.tokenizers.text.libraries.null_tokenizer import NullTokenizer

    tokenizer = NullTokenizer(vocab_size - 1)  # NullTokenizer adds the end-of-document id
    blend = None if ns["mock_data"] else blend_of(ns["data_path"])
    config = GPTDatasetConfig(
        random_seed=int(ns["seed"]),
        sequence_length=int(ns["seq_length"]),
        blend=blend,
        split=ns["split"] or "969,30,1",
        path_to_cache=cache_dir,
        mmap_bin_files=bool(ns.get("mmap_bin_files", True)),
        tokenizer=tokenizer,
        reset_position_ids=bool(ns.get("reset_position_ids", False)),
        reset_attention_mask=bool(ns.get("reset_attention_mask", False)),
        eod_mask_loss=bool(ns.get("eod_mask_loss", False)),
        create_attention_mask=False,
        mid_level_dataset_surplus=float(ns.get("mid_level_dataset_surplus", 0.005) or 0.005),
    )
    dataset_type = MockGPTDataset if ns["mock_data"] else GPTDataset
    train, _, _ = BlendedMegatronDatasetBuilder(dataset_type, [num_samples, 0, 0], lambda: True, config).build()
    return train


def microbatches(dataset: Any, micro_batch_size: int, dp_rank: int, dp_size: int, device: torch.device,
                 start_sample: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Megatron's pretraining sampler: consecutive global samples, each DP rank its own micro slice."""
    consumed = start_sample
    step = micro_batch_size * dp_size
    while True:
        first = consumed + dp_rank * micro_batch_size
        items = [dataset[i] for i in range(first, first + micro_batch_size)]
        batch = {
            k: torch.stack([torch.as_tensor(item[k]) for item in items]).to(device)
            for k in ("tokens", "labels", "loss_mask", "position_ids")
        }
        yield batch
        consumed += step
