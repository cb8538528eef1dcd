"""Development-time check: `derive` at each bundled NVIDIA pin leaves the values Megatron-LM's own
validate_args leaves, for the rules that differ between pins (the eras of migrate/megatron/derive.py).

Megatron-LM's parse_args and validate_args run at the pinned commit in a subprocess
(tests/megatron_validate_probe.py, heavy packages stubbed, inside a throwaway folder); the namespace
they leave is compared with ours on the dests those rules write. Skipped unless MEGATRON_NVIDIA_GIT
and MEGATRON_ROCM_GIT name Megatron-LM git dirs (as the other upstream checks).
"""

from __future__ import annotations

import os

import pytest

from migrate.megatron import load_schema, parse_argv
from migrate.megatron.derive import derive
from tests.test_megatron_required_upstream import ARGS_DEFAULTS, _pinned_tree, _upstream

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("MEGATRON_NVIDIA_GIT"),
                       reason="needs MEGATRON_NVIDIA_GIT (a Megatron-LM git dir holding the NVIDIA pins)"),
]

BASE = ["--num-layers", "8", "--hidden-size", "64", "--num-attention-heads", "4", "--seq-length", "128",
        "--max-position-embeddings", "128", "--micro-batch-size", "1", "--lr", "1e-4", "--train-iters", "10"]

# each case: argv on top of BASE, world size, and the dests its rule writes
CASES = [
    (["--pipeline-model-parallel-size", "4", "--num-layers-per-virtual-pipeline-stage", "2"], 4,
     ["virtual_pipeline_model_parallel_size", "overlap_p2p_comm", "align_param_gather"]),
    (["--pipeline-model-parallel-size", "2", "--num-layers-per-virtual-pipeline-stage", "2"], 2,
     ["virtual_pipeline_model_parallel_size", "overlap_p2p_comm"]),
    (["--use-distributed-optimizer", "--data-parallel-sharding-strategy", "optim_grads"], 1,
     ["overlap_grad_reduce", "overlap_param_gather"]),
    (["--num-experts", "2", "--moe-router-load-balancing-type", "aux_loss", "--moe-aux-loss-coeff", "0.01"], 1,
     ["moe_router_load_balancing_type", "moe_aux_loss_coeff", "moe_ffn_hidden_size"]),
    (["--skip-train"], 1, ["no_load_optim"]),
    (["--enable-cuda-graph"], 1, ["te_rng_tracker", "cuda_graph_impl"]),
    (["--bf16"], 1, ["accumulate_allreduce_grads_in_fp32", "params_dtype"]),
    (["--sequence-parallel"], 2, ["sequence_parallel", "data_parallel_size"]),
    (["--cuda-graph-scope", "full"], 1, ["cuda_graph_scope"]),
]


@pytest.mark.parametrize("pin", ["5a676b36", "84778176", "3bec9aa9", "d3528a21"])
def test_derive_agrees_with_validate_args(pin, tmp_path):
    root = _pinned_tree(pin, "MEGATRON_NVIDIA_GIT", tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    argvs = [BASE + extra for extra, _, _ in CASES]
    theirs = _upstream(root, work, argvs, [size for _, size, _ in CASES], nvidia=True, namespace=True)
    compared = 0
    for (extra, size, dests), their in zip(CASES, theirs):
        if isinstance(their, str):  # Megatron refused the case at this pin: nothing to compare
            assert their.startswith("reject"), their
            continue
        ours = derive(parse_argv(load_schema(pin), BASE + extra).args, pin, world_size=size,
                      args_defaults=ARGS_DEFAULTS)
        for dest in dests:
            if dest not in their:
                assert dest not in load_schema(pin).by_dest, (extra, dest)
                continue
            mine = ours.get(dest)
            theirs_value = their[dest]
            if dest == "params_dtype":  # a torch.dtype there, its name here
                theirs_value = str(theirs_value).replace("torch.", "")
            assert mine == theirs_value, (pin, extra, dest, mine, theirs_value)
            compared += 1
    assert compared >= 12
