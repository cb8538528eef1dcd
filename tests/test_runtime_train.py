"""Single-process training on CPU: loss goes down, schedule is Megatron's, logs and data are right."""

from __future__ import annotations

import json
import math
import re

import numpy
import pytest

from helpers_runtime import llama_namespace, mixtral_namespace
from primus_runtime import RunOptions, train
from primus_runtime.metrics import METRIC_KEYS

pytestmark = pytest.mark.slow

ITERS = 20


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    out = tmp_path_factory.mktemp("llama")
    return train(llama_namespace(train_iters=ITERS), RunOptions(out_dir=out, quiet=True))


@pytest.fixture(scope="module")
def mixtral():
    return train(mixtral_namespace(train_iters=ITERS), RunOptions(quiet=True))


def losses(result):
    return [m["lm_loss"] for m in result.metrics]


def assert_decreasing(values):
    assert len(values) == ITERS and all(math.isfinite(v) for v in values)
    assert sum(values[-5:]) / 5 < sum(values[:5]) / 5 - 0.5
    assert values[-1] < values[0] - 1.0


def test_proxy_llama_loss_decreases(llama):
    assert_decreasing(losses(llama))
    assert llama.layout == {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "dp": 1, "world_size": 1, "device": "cpu"}


def test_proxy_mixtral_loss_decreases(mixtral):
    assert_decreasing(losses(mixtral))


def expected_lr(iteration: int, ns: dict) -> float:
    """Megatron's documented schedule (linear warmup from lr_warmup_init, then cosine to min_lr),
    evaluated after `iteration` steps of `global_batch_size` samples (what Megatron logs)."""
    gbs = ns["global_batch_size"]
    step = iteration * gbs
    warmup = ns["lr_warmup_iters"] * gbs
    decay = (ns["lr_decay_iters"] or ns["train_iters"]) * gbs
    if warmup > 0 and step <= warmup:
        return ns["lr_warmup_init"] + (ns["lr"] - ns["lr_warmup_init"]) * step / warmup
    if step > decay:
        return ns["min_lr"]
    ratio = (step - warmup) / (decay - warmup)
    return ns["min_lr"] + (ns["lr"] - ns["min_lr"]) * 0.5 * (math.cos(math.pi * ratio) + 1.0)


def test_lr_follows_megatron_cosine_schedule_every_step(llama):
    ns = llama_namespace(train_iters=ITERS)
    for m in llama.metrics:
        assert m["lr"] == pytest.approx(expected_lr(m["iteration"], ns), rel=1e-12)
    assert llama.metrics[-1]["lr"] == pytest.approx(ns["min_lr"])


def test_metrics_records_and_jsonl(llama):
    assert [m["iteration"] for m in llama.metrics] == list(range(1, ITERS + 1))
    for m in llama.metrics:
        assert set(METRIC_KEYS) <= set(m)
        assert m["grad_norm"] > 0 and m["step_time"] > 0 and m["tokens_per_s"] > 0
        assert m["consumed_samples"] == m["iteration"] * 8
    lines = llama.metrics_path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == llama.metrics


LOG_LINE = re.compile(
    r" \[[\d\- :.]+\] iteration +(\d+)/ +(\d+) \| consumed samples: +(\d+) \| "
    r"elapsed time per iteration \(ms\): [\d.]+ \| learning rate: (\S+) \| global batch size: +(\d+) \| "
    r"lm loss: (\S+) \| loss scale: 1\.0 \| grad norm: ([\d.]+) \| "
    r"number of skipped iterations: +0 \| number of nan iterations: +0 \|$"
)


def test_log_is_in_megatron_format(llama):
    lines = [line for line in llama.log_path.read_text().splitlines() if "iteration" in line and "|" in line]
    assert len(lines) == ITERS
    for line, m in zip(lines, llama.metrics):
        match = LOG_LINE.match(line)
        assert match, line
        it, total, consumed, lr, gbs, loss, norm = match.groups()
        assert (int(it), int(total), int(consumed), int(gbs)) == (m["iteration"], ITERS, m["consumed_samples"], 8)
        assert float(loss) == pytest.approx(m["lm_loss"], rel=1e-6)
        assert float(lr) == pytest.approx(m["lr"], rel=1e-6)
        assert float(norm) == pytest.approx(m["grad_norm"], abs=1e-3)


def test_same_config_and_seed_give_bitwise_identical_losses(llama):
    """--iters without --proxy keeps the 20-iteration schedule, so the first steps are the same run."""
    again = train(llama_namespace(train_iters=ITERS), RunOptions(iters=4, quiet=True))
    assert losses(again) == losses(llama)[:4]
    assert [m["grad_norm"] for m in again.metrics] == [m["grad_norm"] for m in llama.metrics[:4]]


def test_other_seed_changes_the_run(llama):
    other = train(llama_namespace(train_iters=ITERS), RunOptions(iters=2, seed=4321, quiet=True))
    assert losses(other) != losses(llama)[:2]


def test_indexed_dataset_round_trips_and_trains(tmp_path):
    from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder

    rng = numpy.random.default_rng(0)
    documents = [rng.integers(0, 500, size=int(n), dtype=numpy.int32) for n in rng.integers(20, 200, size=60)]
    prefix = str(tmp_path / "corpus_text_document")
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=numpy.int32)
    for doc in documents:
        builder.add_document(doc, [len(doc)])
    builder.finalize(prefix + ".idx")

    read = IndexedDataset(prefix)
    assert len(read) == len(documents)
    for i, doc in enumerate(documents):
        assert numpy.array_equal(read[i], doc)

    ns = llama_namespace(mock_data=False, data_path=[prefix], split="100,0,0", train_iters=3, data_cache_path=str(tmp_path / "cache"))
    result = train(ns, RunOptions(quiet=True))
    assert len(result.metrics) == 3 and all(math.isfinite(v) for v in losses(result))
    assert losses(result)[0] == pytest.approx(math.log(512), rel=0.1)  # near-uniform start over the vocabulary


def test_proxy_trains_a_70b_shape_in_seconds():
    ns = llama_namespace(num_layers=80, hidden_size=8192, ffn_hidden_size=28672, num_attention_heads=64,
                         num_query_groups=8, kv_channels=128, seq_length=8192, max_position_embeddings=8192,
                         micro_batch_size=1, global_batch_size=128, train_iters=1000, lr_warmup_iters=100,
                         vocab_size=None, tokenizer_model="meta-llama/Llama-3.1-70B")
    result = train(ns, RunOptions(proxy=True, iters=3, quiet=True))
    assert len(result.metrics) == 3 and all(math.isfinite(v) for v in losses(result))
    assert "num_layers: 80 -> 2" in result.shrinks
    assert any(s.startswith("vocabulary: ") for s in result.shrinks)


def test_bf16_trains_close_to_fp32(llama):
    result = train(llama_namespace(train_iters=ITERS, bf16=True), RunOptions(iters=3, quiet=True))
    assert losses(result) == pytest.approx(losses(llama)[:3], rel=2e-2)


def test_lr_schedule_matches_formula_for_wsd_and_linear():
    """The scheduler the runtime builds, stepped as the training loop steps it, for other styles."""
    from primus_runtime.optim import lr_scheduler

    class Groups:
        param_groups = [{"params": [], "default_config": True, "max_lr": 1e-3, "min_lr": 1e-5, "wd_mult": 1.0}]

    gbs, iters = 4, 50
    ns = llama_namespace(global_batch_size=gbs, train_iters=iters, lr=1e-3, min_lr=1e-5, lr_decay_style="linear",
                         lr_warmup_iters=0, lr_warmup_fraction=0.1, lr_decay_iters=40)
    sched = lr_scheduler(Groups, ns)  # type: ignore[arg-type]
    for it in range(1, iters + 1):
        sched.step(increment=gbs)
        step, warm, decay = it * gbs, 0.1 * 40 * gbs, 40 * gbs
        want = 1e-3 * step / warm if step <= warm else (1e-5 if step > decay else 1e-5 + (1e-3 - 1e-5) * (1 - (step - warm) / (decay - warm)))
        assert Groups.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12), it

    ns = llama_namespace(global_batch_size=gbs, train_iters=iters, lr=1e-3, min_lr=0.0, lr_decay_style="WSD",
                         lr_warmup_iters=5, lr_wsd_decay_iters=10, lr_wsd_decay_style="linear")
    sched = lr_scheduler(Groups, ns)  # type: ignore[arg-type]
    for it in range(1, iters + 1):
        sched.step(increment=gbs)
        step = it * gbs
        if step <= 5 * gbs:
            want = 1e-3 * step / (5 * gbs)
        elif step <= (iters - 10) * gbs:
            want = 1e-3
        else:
            want = 1e-5 + (1e-3 - 1e-5) * (1 - (step - (iters - 10) * gbs) / (10 * gbs))  # the group's min_lr
        assert Groups.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=1e-18), it


def test_sgd_option_trains():
    result = train(llama_namespace(train_iters=ITERS, optimizer="sgd", lr=0.5, min_lr=0.05), RunOptions(iters=4, quiet=True))
    assert losses(result)[-1] < losses(result)[0]


def test_param_groups_follow_megatron_no_decay_rule():
    """Biases and 1-D weights (norms) get wd_mult 0, matrices 1 (Megatron's standard overrides)."""
    from primus_runtime import cpu_compat, loop, model as model_lib
    from primus_runtime.launch import _free_port
    from primus_runtime.optim import Optimizer

    ns = llama_namespace(add_bias_linear=True)
    loop.setup_distributed(0, 1, _free_port(), "cpu", 60)
    try:
        cpu_compat.install()
        loop.setup_model_parallel(ns)
        loop.set_seeds(1234, "cpu")
        config = model_lib.transformer_config(ns, on_cpu=True)
        gpt = model_lib.build_gpt(ns, config, 512, use_te=False)
        opt = Optimizer([gpt], ns)
        mult = {id(p): g["wd_mult"] for g in opt.param_groups for p in g["params"]}
        for name, p in gpt.named_parameters():
            want = 0.0 if name.endswith(".bias") or p.dim() == 1 else 1.0
            assert mult[id(p)] == want, name
        assert any(v == 0.0 for v in mult.values()) and any(v == 1.0 for v in mult.values())
    finally:
        loop.teardown()
