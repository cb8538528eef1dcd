"""Runtime overhead: `primus_runtime.train` step time vs a bare megatron-core loop.

Both train the same 2-layer proxy Llama (Llama-3-8B's shape through --proxy) on the same
mock data in this process, on CPU: the bare loop is the least a megatron-core training
step can do (forward/backward over the micro-batches, clip, AdamW step), without
pipeline schedules, gradient reduction, LR schedule or logging. Target: runtime <= 1.05x.

    python benchmarks/bench_runtime.py [--iters N]
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


def runtime_steps(ns: dict, iters: int) -> tuple[list[float], dict]:
    from primus_runtime import RunOptions
    from primus_runtime.launch import prepare, train

    result = train(ns, RunOptions(proxy=True, iters=iters, quiet=True))
    shrunk, _, _ = prepare(ns, RunOptions(proxy=True, iters=iters))
    return [m["step_time"] for m in result.metrics], shrunk


def bare_steps(ns: dict, iters: int) -> list[float]:
    """The same model, init and data through plain megatron-core calls and torch.optim.AdamW."""
    import torch

    from primus_runtime import cpu_compat, data, loop, model as model_lib
    from primus_runtime.launch import _free_port

    loop.setup_distributed(0, 1, _free_port(), "cpu", 300)
    try:
        cpu_compat.install()
        loop.setup_model_parallel(ns)
        loop.set_seeds(int(ns["seed"]), "cpu")
        config = model_lib.transformer_config(ns, on_cpu=True)
        gpt = model_lib.build_gpt(ns, config, int(ns["padded_vocab_size"]), use_te=False)
        model_lib.init_layout_invariant(gpt, config, int(ns["seed"]))
        mbs, gbs = int(ns["micro_batch_size"]), int(ns["global_batch_size"])
        micro = gbs // mbs
        dataset = data.build_train_dataset(ns, int(ns["padded_vocab_size"]), iters * gbs, None)
        batches = data.microbatches(dataset, mbs, 0, 1, torch.device("cpu"))
        opt = torch.optim.AdamW(gpt.parameters(), lr=float(ns["lr"]), weight_decay=float(ns["weight_decay"]),
                                betas=(ns["adam_beta1"], ns["adam_beta2"]), eps=ns["adam_eps"])
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            for _ in range(micro):
                b = next(batches)
                losses = gpt(b["tokens"], b["position_ids"], None, labels=b["labels"], loss_mask=b["loss_mask"])
                mask = b["loss_mask"].float()
                loss = (losses.float() * mask).sum() / mask.sum() / micro
                loss.backward()
            torch.nn.utils.clip_grad_norm_(gpt.parameters(), float(ns["clip_grad"]))
            opt.step()
            times.append(time.perf_counter() - start)
        return times
    finally:
        loop.teardown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3, help="alternate runtime and bare runs this many times")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # one core each: steadier numbers on a shared machine
    ns = namespace()
    runtime_all: list[float] = []
    bare_all: list[float] = []
    for _ in range(args.rounds):
        steps, shrunk = runtime_steps(ns, args.iters)
        runtime_all += steps[5:]  # the first steps include lazy initialisation
        bare_all += bare_steps(shrunk, args.iters)[5:]
    runtime_ms = statistics.median(runtime_all) * 1000
    bare_ms = statistics.median(bare_all) * 1000
    print(f"model: {shrunk['num_layers']} layers, hidden {shrunk['hidden_size']}, heads {shrunk['num_attention_heads']}"
          f"/{shrunk['num_query_groups']}, ffn {shrunk['ffn_hidden_size']}, vocab {shrunk['padded_vocab_size']}, "
          f"seq {shrunk['seq_length']}, global batch {shrunk['global_batch_size']} (micro {shrunk['micro_batch_size']})")
    print(f"runtime step (median of {len(runtime_all)}): {runtime_ms:.2f} ms")
    print(f"bare megatron-core step (median of {len(bare_all)}): {bare_ms:.2f} ms")
    ratio = runtime_ms / bare_ms
    print(f"ratio: {ratio:.3f}x (target <= 1.05x) {'OK' if ratio <= 1.05 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
