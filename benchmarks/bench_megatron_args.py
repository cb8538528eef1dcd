"""Speed of the Megatron argument model: load a bundled schema, resolve a 120-flag argv.

    python benchmarks/bench_megatron_args.py

Target: under 20 ms for a cold schema load plus parse_argv (+ derive shown separately).
"""

from __future__ import annotations

import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migrate.megatron import derive, load_schema, parse_argv  # noqa: E402
from migrate.megatron.schema import _load_path  # noqa: E402

ARGV = shlex.split("""
--tensor-model-parallel-size 8 --pipeline-model-parallel-size 1 --context-parallel-size 1 --sequence-parallel
--num-layers 32 --hidden-size 4096 --ffn-hidden-size 14336 --num-attention-heads 32 --seq-length 8192
--max-position-embeddings 131072 --group-query-attention --num-query-groups 8 --untie-embeddings-and-output-weights
--position-embedding-type rope --rotary-base 500000 --normalization RMSNorm --norm-epsilon 1e-05 --swiglu
--disable-bias-linear --no-masked-softmax-fusion --attention-dropout 0.0 --hidden-dropout 0.0 --init-method-std 0.02
--micro-batch-size 2 --global-batch-size 128 --train-iters 20 --lr 3.0e-4 --min-lr 3.0e-5 --lr-decay-style cosine
--lr-warmup-iters 2 --weight-decay 0.1 --clip-grad 1.0 --adam-beta1 0.9 --adam-beta2 0.95 --bf16 --use-flash-attn
--use-distributed-optimizer --overlap-grad-reduce --overlap-param-gather --tokenizer-type HuggingFaceTokenizer
--tokenizer-model meta-llama/Llama-3.1-8B --mock-data --split 99990,8,2 --log-interval 1 --eval-iters -1
--eval-interval 1000 --save-interval 5000 --no-gradient-accumulation-fusion --distributed-backend nccl
--transformer-impl transformer_engine --fp8-margin 0 --fp8-format hybrid --fp8-amax-history-len 1024
--fp8-amax-compute-algo max --recompute-granularity full --recompute-method uniform --recompute-num-layers 1
--num-workers 2 --seed 1234 --make-vocab-size-divisible-by 128 --adam-eps 1e-8 --lr-decay-iters 20
--log-throughput --no-load-optim --no-load-rng --ckpt-format torch_dist --dataloader-type cyclic --rotary-percent 1.0
--attention-softmax-in-fp32 --no-bias-swiglu-fusion --no-rope-fusion --exit-interval 100 --timing-log-level 0
--tensorboard-log-interval 1 --eval-iters 10 --lr 2e-4 --use-mcore-models --num-layers 32 --micro-batch-size 1
--global-batch-size 256 --train-iters 40 --hidden-size 4096 --num-attention-heads 32 --seq-length 8192
--kv-channels 128 --rotary-base 500000 --lr-warmup-init 0.0 --start-weight-decay 0.1 --end-weight-decay 0.1
--weight-decay-incr-style constant --adam-beta1 0.9 --adam-beta2 0.95 --loss-scale-window 1000 --hysteresis 2
--initial-loss-scale 4294967296 --min-loss-scale 1.0 --log-interval 10 --log-params-norm --log-num-zeros-in-grad
--log-validation-ppl-to-tensorboard --log-timers-to-tensorboard --log-memory-to-tensorboard --save-interval 1000
--eval-interval 500 --eval-iters 5 --no-masked-softmax-fusion --disable-bias-linear --tokenizer-type Llama2Tokenizer
--tokenizer-model /models/tok.model --data-path 0.5 /data/a 0.5 /data/b --split 98,2,0 --num-workers 4
--distributed-timeout-minutes 60 --seed 42 --init-method-std 0.008 --clip-grad 0.5 --lr 1e-4 --min-lr 1e-5
--lr-decay-style cosine --lr-decay-iters 40 --lr-warmup-iters 4 --micro-batch-size 2 --tensor-model-parallel-size 4
""")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def main() -> None:
    flags = sum(1 for w in ARGV if w.startswith("--"))
    cold, cold_cpu = [], []
    for _ in range(20):
        _load_path.cache_clear()
        start, start_cpu = time.perf_counter(), time.process_time()
        schema = load_schema("rocm_dev")
        parse_argv(schema, ARGV)
        cold.append(time.perf_counter() - start)
        cold_cpu.append(time.process_time() - start_cpu)
    warm, derived = [], []
    for _ in range(200):
        start = time.perf_counter()
        parsed = parse_argv(schema, ARGV)
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        derive(parsed.args, schema, world_size=64)
        derived.append(time.perf_counter() - start)
    print(f"argv: {flags} flags, {len(ARGV)} words; schema rocm_dev: {len(schema.options)} options")
    print(f"load schema + parse_argv (cold): median {_ms(statistics.median(cold))} ms wall, "
          f"{_ms(statistics.median(cold_cpu))} ms CPU; min {_ms(min(cold))} ms wall")
    print(f"parse_argv (schema cached):      median {_ms(statistics.median(warm))} ms")
    print(f"derive:                          median {_ms(statistics.median(derived))} ms")
    _load_path.cache_clear()
    start = time.perf_counter()
    load_schema("d3528a21")
    print(f"load d3528a21 schema (cold):     {_ms(time.perf_counter() - start)} ms")


if __name__ == "__main__":
    main()
