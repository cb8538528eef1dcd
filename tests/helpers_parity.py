"""Small stand-ins for the converter, Primus loader and runtime, for parity orchestration tests.

The fake trainer is a one-parameter model trained with AdamW-style decoupled
weight decay and Megatron's update order (the update of iteration k uses the
learning rate of scheduler step k-1; the loss logged at k is computed before
that update), so a config difference shows up at the iteration it should.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Mapping

import yaml

from migrate.conversion.static_parity import StaticParity
from migrate.diagnostics import Origin
from migrate.parity.dynamic import Backends
from migrate.shell.plan import EnvVar, LaunchPlan, Launcher

LEGACY = {
    "seed": 1234,
    "lr": 0.1,
    "min_lr": 0.0,
    "lr_warmup_iters": 0,
    "weight_decay": 0.1,
    "train_iters": 100,
    "hidden_size": 64,
    "num_layers": 2,
    "num_attention_heads": 4,
    "ffn_hidden_size": 128,
    "vocab_size": 1000,
    "tensor_model_parallel_size": 8,
    "pipeline_model_parallel_size": 1,
    "world_size": 8,
    "global_batch_size": 16,
    "micro_batch_size": 1,
    "bf16": True,
    "sequence_parallel": True,
}
# What the fake Primus preset gives a key the experiment YAML does not override.
PRESET_DEFAULTS = {"weight_decay": 0.01}


@dataclass
class FakeRunOptions:
    iters: int | None = None
    proxy: bool = False
    nproc: int = 1
    out_dir: Any = None
    device: str = "auto"
    seed: int | None = None


@dataclass
class FakeRunResult:
    metrics: list[dict]
    shrinks: list[str] = field(default_factory=list)
    layout: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def lr_at(cfg: Mapping[str, Any], step: int) -> float:
    warm = int(cfg.get("lr_warmup_iters") or 0)
    if warm and step <= warm:
        return cfg["lr"] * step / warm
    return cfg["lr"]


def fake_train(cfg: Mapping[str, Any], options: FakeRunOptions, calls: list | None = None) -> FakeRunResult:
    if calls is not None:
        calls.append((dict(cfg), options))
    seed = options.seed if options.seed is not None else cfg["seed"]
    w = 1.0 + (seed % 7) / 10
    target = 0.25
    rows = []
    for it in range(1, (options.iters or cfg["train_iters"]) + 1):
        loss = (w - target) ** 2
        grad = 2 * (w - target)
        lr_used = lr_at(cfg, it - 1)
        w = w - lr_used * grad - lr_used * cfg["weight_decay"] * w
        rows.append({"iteration": it, "lm_loss": loss, "grad_norm": abs(grad), "lr": lr_at(cfg, it),
                     "tokens_per_s": 1000.0, "step_time": 0.01})
    layout = {"tp": cfg["tensor_model_parallel_size"], "pp": cfg["pipeline_model_parallel_size"],
              "dp": cfg["data_parallel_size"], "ep": 1}
    return FakeRunResult(rows, ["num_layers 32 -> 2"] if options.proxy else [], layout)


def experiment_yaml(overrides: Mapping[str, Any]) -> str:
    return yaml.safe_dump({"modules": {"pre_trainer": {"framework": "megatron", "overrides": dict(overrides)}}})


def fake_conversion(legacy: Mapping[str, Any] = LEGACY, drop: tuple[str, ...] = (), static_ok: bool = True,
                    env: Mapping[str, str] | None = None):
    overrides = {k: v for k, v in legacy.items() if k not in drop}
    return SimpleNamespace(
        plan=LaunchPlan("train.sh", Launcher("python", []), "pretrain_gpt.py", [],
                        env={k: EnvVar(k, v, Origin("train.sh", 1)) for k, v in (env or {}).items()}),
        expected=dict(legacy),
        files={"exp.yaml": experiment_yaml(overrides)},
        experiment_path="exp.yaml",
        parity=StaticParity(static_ok, [] if static_ok else [("weight_decay", 0.1, 0.01)], []),
    )


def fake_primus_config(conversion, options, env, workdir) -> dict:
    """Load the emitted experiment like a loader would: preset defaults, then overrides."""
    data = yaml.safe_load(conversion.files[conversion.experiment_path])
    return {**PRESET_DEFAULTS, **data["modules"]["pre_trainer"]["overrides"]}


def fake_backends(conversion=None, memory: int | None = 1 << 40, calls: list | None = None,
                  train=None, device: str = "cpu") -> Backends:
    conv = conversion or fake_conversion()
    return Backends(
        convert=lambda script, env, args, options: conv,
        primus_config=fake_primus_config,
        train=train or (lambda cfg, ro: fake_train(cfg, ro, calls)),
        run_options=FakeRunOptions,
        device=lambda requested: device,
        available_memory=lambda device, nproc: memory,
    )


def first_loss_affected_by_weight_decay(cfg: Mapping[str, Any]) -> int:
    """Independent of the code under test: the loss at k+1 is the first to see an update made
    with a non-zero learning rate at iteration k (which uses scheduler step k-1)."""
    k = 1
    while lr_at(cfg, k - 1) == 0:
        k += 1
    return k + 1


def isfinite_rows(rows) -> bool:
    return all(math.isfinite(r["lm_loss"]) for r in rows)
