"""The `inspect --args` view, on hand-built launch plans."""

from __future__ import annotations

import io
import json

from rich.console import Console

from migrate.diagnostics import Origin
from migrate.megatron.view import args_view, render_args_table, view_rows, world_size_of
from migrate.shell.plan import EnvVar, LaunchPlan, Launcher, Token


def plan(argv: str, launcher: str = "torchrun --nproc_per_node 8 --nnodes 2", env: dict | None = None) -> LaunchPlan:
    o = Origin("train.sh", 30)
    return LaunchPlan(
        script="train.sh",
        launcher=Launcher("torchrun", [Token(w, o) for w in launcher.split()]),
        entry="pretrain_gpt.py",
        argv=[Token(w, Origin("train.sh", 40 + i)) for i, w in enumerate(argv.split())],
        env={k: EnvVar(k, v, o) for k, v in (env or {}).items()},
    )


ARGV = ("--num-layers 4 --hidden-size 512 --num-attention-heads 8 --seq-length 256 --max-position-embeddings 256 "
        "--micro-batch-size 2 --tensor-model-parallel-size 2 --sequence-parallel --swiglu --bf16")


def test_view_layers():
    view = args_view(plan(ARGV), "rocm_dev")
    assert view["schema"] == "rocm_dev" and view["world_size"] == 16
    assert view["args"]["ffn_hidden_size"] is None  # as argparse leaves it
    assert view["derived"]["ffn_hidden_size"] == 1344  # int(4*512*2/3 / 64) * 64 = 21 * 64
    assert view["derived"]["data_parallel_size"] == 8 and view["derived"]["global_batch_size"] == 16
    assert view["explicit"]["swiglu"] == "train.sh:55"
    assert set(view["explicit"]) == {"num_layers", "hidden_size", "num_attention_heads", "seq_length",
                                     "max_position_embeddings", "micro_batch_size", "tensor_model_parallel_size",
                                     "sequence_parallel", "swiglu", "bf16"}
    json.dumps(view)  # --json must be able to print it


def test_world_size_sources():
    assert world_size_of(plan("", "torchrun --nproc_per_node=4")) == 4
    assert world_size_of(plan("", "torchrun --nnodes 1:3 --nproc-per-node 2")) == 6
    assert world_size_of(plan("", "python", env={"WORLD_SIZE": "3"})) == 3
    assert world_size_of(plan("", "python")) == 1


def test_rows_mark_explicit_derived_default():
    rows = {dest: source for dest, _, source in view_rows(args_view(plan(ARGV), "rocm_dev"))}
    assert rows["swiglu"] == "explicit train.sh:55"
    assert rows["ffn_hidden_size"].startswith("derived")
    assert rows["eval_iters"] == "default"


def test_render_table():
    buf = io.StringIO()
    render_args_table(args_view(plan(ARGV), "d3528a21"), Console(file=buf, width=200))
    text = buf.getvalue()
    assert "layernorm_epsilon" in text and "explicit train.sh:56" in text and "schema d3528a21" in text
