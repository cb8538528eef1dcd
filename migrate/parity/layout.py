"""Shrink a legacy parallel layout to what this machine can run.

A script written for TP=8 on eight GPUs is checked here on a few gloo
processes: tensor and pipeline parallelism are kept where they fit (capped
at 2 each, so the sharded code paths still run), data parallelism takes
the rest, and context/expert parallelism are switched off. Both sides of a
parity run get the same layout; a single-process TP=1 run is the reference
that the layout itself changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

MAX_TP = 2
MAX_PP = 2


@dataclass(frozen=True)
class Layout:
    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1

    @property
    def world(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    def __str__(self) -> str:
        text = f"TP={self.tp} PP={self.pp} DP={self.dp}"
        if self.cp > 1:
            text += f" CP={self.cp}"
        if self.ep > 1:
            text += f" EP={self.ep}"
        return text

    def to_json(self) -> dict:
        return {"tp": self.tp, "pp": self.pp, "dp": self.dp, "cp": self.cp, "ep": self.ep, "world": self.world}


def legacy_layout(cfg: Mapping[str, Any], world: int | None = None) -> Layout:
    """The layout the script ran with; `world` is its launcher's process count
    (torchrun --nproc_per_node x --nnodes), which the argument namespace does not hold."""
    tp = int(cfg.get("tensor_model_parallel_size") or 1)
    pp = int(cfg.get("pipeline_model_parallel_size") or 1)
    cp = int(cfg.get("context_parallel_size") or 1)
    ep = int(cfg.get("expert_model_parallel_size") or 1)
    world = world or int(cfg.get("world_size") or 0) or tp * pp * cp
    return Layout(tp, pp, max(1, world // (tp * pp * cp)), cp, ep)


def launcher_world(options: Mapping[str, str]) -> int | None:
    """Processes a torchrun-style launcher starts: nproc_per_node x nnodes (None if not literal)."""
    try:
        per_node = int(options.get("nproc_per_node") or options.get("nproc-per-node") or 0)
        nodes = int(options.get("nnodes") or 1)
    except ValueError:
        return None
    return per_node * nodes or None


def _largest_divisor_at_most(n: int, cap: int, ok=lambda d: True) -> int:
    for d in range(min(n, cap), 0, -1):
        if n % d == 0 and ok(d):
            return d
    return 1


def shrink(cfg: Mapping[str, Any], nproc: int, proxy_layers: int | None = None) -> tuple[Layout, list[str]]:
    """The layout to run on `nproc` processes, and what had to change."""
    legacy = legacy_layout(cfg)
    notes: list[str] = []
    heads = int(cfg.get("num_attention_heads") or 1)
    groups = int(cfg.get("num_query_groups") or heads) if cfg.get("group_query_attention") else heads
    layers = proxy_layers or int(cfg.get("num_layers") or 1)
    tp = _largest_divisor_at_most(nproc, min(legacy.tp, MAX_TP), lambda d: heads % d == 0 and groups % d == 0)
    pp = _largest_divisor_at_most(nproc // tp, min(legacy.pp, MAX_PP), lambda d: layers % d == 0)
    dp = nproc // (tp * pp)
    gbs = int(cfg.get("global_batch_size") or 0)
    mbs = int(cfg.get("micro_batch_size") or 1)
    while dp > 1 and gbs and gbs % (mbs * dp):
        dp -= 1
    run = Layout(tp, pp, dp)
    if (legacy.tp, legacy.pp) != (tp, pp):
        notes.append(f"legacy TP={legacy.tp} PP={legacy.pp} shrunk to TP={tp} PP={pp} to fit {nproc} process(es)")
    if legacy.cp > 1:
        notes.append(f"context parallelism CP={legacy.cp} not run (CP=1)")
    if legacy.ep > 1:
        notes.append(f"expert parallelism EP={legacy.ep} not run (EP=1)")
    if run.world < nproc:
        notes.append(f"only {run.world} of {nproc} processes used (global batch {gbs} / micro batch {mbs} "
                     "must split evenly across data-parallel ranks)")
    return run, notes


def apply(cfg: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
    """A copy of `cfg` that runs in `layout` (derived sizes updated, TP-only features dropped at TP=1)."""
    out = dict(cfg)
    out["tensor_model_parallel_size"] = layout.tp
    out["pipeline_model_parallel_size"] = layout.pp
    out["context_parallel_size"] = layout.cp
    out["expert_model_parallel_size"] = layout.ep
    if out.get("expert_tensor_parallel_size"):  # derived as TP when unset; never wider than the new TP
        out["expert_tensor_parallel_size"] = min(int(out["expert_tensor_parallel_size"]), layout.tp)
    out["data_parallel_size"] = layout.dp
    out["world_size"] = layout.world
    if layout.tp == 1 and out.get("sequence_parallel"):
        out["sequence_parallel"] = False  # Megatron turns it off at TP=1 as well
    if layout.pp == 1:
        for key in ("virtual_pipeline_model_parallel_size", "num_layers_per_virtual_pipeline_stage"):
            if out.get(key) is not None:
                out[key] = None
    gbs, mbs = out.get("global_batch_size"), out.get("micro_batch_size")
    if gbs and mbs and "num_micro_batches" in out:
        out["num_micro_batches"] = int(gbs) // (int(mbs) * layout.dp)
    return out


DROPOUT_KEYS = ("attention_dropout", "hidden_dropout")


def without_dropout(legacy: Mapping[str, Any], primus: Mapping[str, Any]) -> tuple[dict, dict, str | None]:
    """Dropout off on both sides for a multi-process run: Megatron draws dropout masks inside
    tensor-parallel regions from a per-TP-rank RNG stream, so a TP=2 run and the TP=1 reference
    can never share masks. Static parity still compares the dropout values themselves."""
    on = {k: legacy.get(k) for k in DROPOUT_KEYS if legacy.get(k) or primus.get(k)}
    if not on:
        return dict(legacy), dict(primus), None
    a, b = dict(legacy), dict(primus)
    for key in on:
        a[key] = b[key] = 0.0
    shown = ", ".join(f"{k}={v}" for k, v in on.items())
    return a, b, (f"dropout off in these runs ({shown} in the script): dropout masks depend on the tensor-parallel "
                  "rank's RNG stream; static parity compares the dropout values")


def padded_vocab(vocab: int, divisible_by: int, tp: int) -> int:
    """Megatron pads the vocabulary to a multiple of make_vocab_size_divisible_by x TP."""
    multiple = max(1, divisible_by) * max(1, tp)
    return vocab + (-vocab) % multiple


def pin_padded_vocab(legacy: Mapping[str, Any], primus: Mapping[str, Any], vocab: int | None,
                     run: Layout) -> tuple[dict, dict, str | None]:
    """One padded vocabulary for the shrunk layout and the TP=1 reference: the padding grows
    with TP, and a larger output layer is a different model (other init, other softmax)."""
    a, b = dict(legacy), dict(primus)
    if vocab is None or a.get("padded_vocab_size") or run.tp == 1:  # TP=1 pads like the reference
        return a, b, None
    size = padded_vocab(vocab, int(a.get("make_vocab_size_divisible_by") or 128), run.tp)
    a["padded_vocab_size"] = b["padded_vocab_size"] = size
    return a, b, (f"padded vocabulary pinned to {size} (vocabulary {vocab} padded for TP={run.tp}) in every run, "
                  "so the TP=1 reference trains the same output layer")
