"""Runtime overhead: a `primus_runtime` training step vs a bare megatron-core step, interleaved.

Both train the same 2-layer Llama-shaped model (Llama-3-8B's structure shrunk as --proxy does,
at hidden 128, 256 and 512) on the same mock data, in one process, one thread, on CPU, and take
turns step by step (alternating which goes first), so a busy machine slows both alike. The bare
loop is the least a megatron-core step can do (forward/backward over the micro-batches, clip,
AdamW step), without pipeline schedule, gradient reduction, LR schedule or logging.
Target: runtime <= 1.05x at every size (median of the per-step ratios).

    python benchmarks/bench_runtime.py [--iters N] [--sizes 128,256,512]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore")


def namespace() -> dict:
    from migrate.megatron import derive, load_schema

    schema = load_schema("d3528a21")
    values = {k: (None if isinstance(v, dict) else v) for k, v in schema.defaults().items()}
    values.update(  # Llama-3-8B's published shape; --proxy shrinks it to 2 layers
        num_layers=32, hidden_size=4096, ffn_hidden_size=14336, num_attention_heads=32,
        group_query_attention=True, num_query_groups=8, kv_channels=128, seq_length=8192,
        max_position_embeddings=8192, position_embedding_type="rope", rotary_base=500000,
        normalization="RMSNorm", swiglu=True, untie_embeddings_and_output_weights=True,
        add_bias_linear=False, hidden_dropout=0.0, attention_dropout=0.0, micro_batch_size=2,
        global_batch_size=8, train_iters=1000, lr=3e-4, min_lr=3e-5, lr_decay_style="cosine",
        lr_warmup_iters=10, mock_data=True, split="99,1,0", tokenizer_type="NullTokenizer", vocab_size=32000,
    )
    return derive(values, schema)


def sized(ns: dict, hidden: int, iters: int) -> dict:
    """The proxy-shrunk namespace at `hidden` (heads, groups and the FFN ratio kept)."""
    from primus_runtime import RunOptions
    from primus_runtime.launch import prepare

    shrunk, _, _ = prepare(ns, RunOptions(proxy=True, iters=iters))
    heads = int(shrunk["num_attention_heads"])
    ffn = int(shrunk["ffn_hidden_size"]) * hidden // int(shrunk["hidden_size"])
    shrunk.update(hidden_size=hidden, ffn_hidden_size=ffn, kv_channels=hidden // heads)
    return shrunk


class BareRun:
    """The same model, init and data through plain megatron-core calls and torch.optim.AdamW."""

    def __init__(self, ns: dict) -> None:
        import torch

        from primus_runtime import data, loop, model as model_lib

        loop.set_seeds(int(ns["seed"]), "cpu")
        config = model_lib.transformer_config(ns, on_cpu=True)
        self.gpt = model_lib.build_gpt(ns, config, int(ns["padded_vocab_size"]), use_te=False)
        model_lib.init_layout_invariant(self.gpt, config, int(ns["seed"]))
        mbs, gbs = int(ns["micro_batch_size"]), int(ns["global_batch_size"])
        self.micro = gbs // mbs
        dataset = data.build_train_dataset(ns, int(ns["padded_vocab_size"]), int(ns["train_iters"]) * gbs, None)
        self.batches = data.microbatches(dataset, mbs, 0, 1, torch.device("cpu"))
        self.opt = torch.optim.AdamW(self.gpt.parameters(), lr=float(ns["lr"]), weight_decay=float(ns["weight_decay"]),
                                     betas=(ns["adam_beta1"], ns["adam_beta2"]), eps=ns["adam_eps"])
        self.clip = float(ns["clip_grad"])

    def step(self) -> float:
        import torch

        start = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        for _ in range(self.micro):
            b = next(self.batches)
            losses = self.gpt(b["tokens"], b["position_ids"], None, labels=b["labels"], loss_mask=b["loss_mask"])
            mask = b["loss_mask"].float()
            loss = (losses.float() * mask).sum() / mask.sum() / self.micro
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.gpt.parameters(), self.clip)
        self.opt.step()
        return time.perf_counter() - start


def interleaved(ns: dict, iters: int) -> tuple[list[float], list[float]]:
    """(runtime step times, bare step times), taken in turns, the first 3 of each left out."""
    from primus_runtime import loop

    run = loop.RankRun(ns, "cpu", None, False)
    bare = BareRun(ns)
    runtime, plain = [], []
    try:
        for i in range(1, iters + 1):
            if i % 2:
                runtime.append(run.step(i))
                plain.append(bare.step())
            else:
                plain.append(bare.step())
                runtime.append(run.step(i))
    finally:
        run.writer.close()
        loop.teardown_model_parallel()
    return runtime[3:], plain[3:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--sizes", default="128,256,512", help="hidden sizes to measure")
    args = parser.parse_args()
    import torch

    from primus_runtime import loop
    from primus_runtime.launch import _free_port

    torch.set_num_threads(1)  # one core each: steadier numbers on a shared machine
    base = namespace()
    worst = 0.0
    loop.setup_distributed(0, 1, _free_port(), "cpu", 300)
    try:
        for hidden in (int(h) for h in args.sizes.split(",")):
            ns = sized(base, hidden, args.iters)
            runtime, plain = interleaved(ns, args.iters)
            ratios = sorted(r / p for r, p in zip(runtime, plain))
            ratio = statistics.median(ratios)
            worst = max(worst, ratio)
            print(f"hidden {hidden:4} ({ns['num_layers']} layers, heads {ns['num_attention_heads']}/{ns['num_query_groups']}, "
                  f"ffn {ns['ffn_hidden_size']}, seq {ns['seq_length']}, batch {ns['global_batch_size']}): "
                  f"runtime {statistics.median(runtime) * 1000:7.1f} ms, bare {statistics.median(plain) * 1000:7.1f} ms, "
                  f"per-step ratio median {ratio:.3f}x (quartiles {ratios[len(ratios) // 4]:.3f}-"
                  f"{ratios[3 * len(ratios) // 4]:.3f}), {len(ratios)} steps")
    finally:
        loop.teardown()
    print(f"worst size: {worst:.3f}x (target <= 1.05x) {'OK' if worst <= 1.05 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
