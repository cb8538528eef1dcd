"""What makes a run reproducible, and what in a legacy script makes it not.

The parity report writes these down so a reader knows which differences to
expect when the same config later runs on GPUs: GEMM autotuning picks
kernels by timing, some attention backward kernels accumulate with atomics,
and without Megatron's deterministic mode none of that is pinned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# Environment variables that matter for bitwise reproducibility, shown when the script sets them.
REPRO_ENV = (
    "CUBLAS_WORKSPACE_CONFIG",
    "NVTE_ALLOW_NONDETERMINISTIC_ALGO",
    "PYTORCH_TUNABLEOP_ENABLED",
    "PRIMUS_HIPBLASLT_TUNING_STAGE",
    "NCCL_ALGO",
    "HIP_FORCE_DEV_KERNARG",
)
REPRO_ENV_PREFIXES = ("TE_HIPBLASLT_TUNING", "PYTORCH_TUNABLEOP")
# Config keys that pin randomness and kernels.
REPRO_KEYS = ("seed", "data_parallel_random_init", "deterministic_mode", "use_flash_attn",
              "attention_backend", "attention_dropout", "hidden_dropout", "mock_data", "data_path",
              "tokenizer_type")


@dataclass
class Reproducibility:
    settings: dict[str, Any]  # config keys that pin randomness, as the legacy run has them
    env: dict[str, str]  # reproducibility-relevant env the script exports
    run: dict[str, Any]  # what the parity runs used (device, seed, iterations, ...)
    nondeterminism: list[str] = field(default_factory=list)  # why the legacy GPU run may not repeat bitwise

    def to_json(self) -> dict:
        return {"settings": self.settings, "env": self.env, "run": self.run, "nondeterminism": self.nondeterminism}


def _on(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def nondeterminism_notes(config: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """One sentence per setting of the legacy run that defeats bitwise reproducibility."""
    notes = []
    tuning = sorted(k for k in env if k.startswith("TE_HIPBLASLT_TUNING") and _on(env[k]))
    if tuning:
        notes.append(
            f"GEMM tuning is on ({', '.join(f'{k}={env[k]}' for k in tuning)}): hipBLASLt kernels are "
            "chosen by timing, so two GPU runs can use different kernels and round differently"
        )
    if _on(env.get("PYTORCH_TUNABLEOP_ENABLED")):
        notes.append("PYTORCH_TUNABLEOP_ENABLED=1: PyTorch TunableOp picks GEMM kernels by timing at run time")
    if _on(env.get("PRIMUS_HIPBLASLT_TUNING_STAGE")):
        notes.append(f"PRIMUS_HIPBLASLT_TUNING_STAGE={env['PRIMUS_HIPBLASLT_TUNING_STAGE']}: GEMM tuning stage enabled")
    deterministic = bool(config.get("deterministic_mode"))
    nondet_algo = env.get("NVTE_ALLOW_NONDETERMINISTIC_ALGO")
    if _on(nondet_algo):
        notes.append(f"NVTE_ALLOW_NONDETERMINISTIC_ALGO={nondet_algo}: Transformer Engine may pick "
                     "non-deterministic fused-attention backward kernels")
    if config.get("use_flash_attn") and not deterministic:
        notes.append("flash attention without --deterministic-mode: its backward pass accumulates with "
                     "atomics, so gradients can differ in the last bits between runs")
    if not deterministic:
        notes.append("--deterministic-mode is not set: GPU kernels are not pinned, so even two legacy runs "
                     "agree only within a tolerance (use --rtol when comparing GPU logs)")
    for key in ("attention_dropout", "hidden_dropout"):
        if config.get(key):
            notes.append(f"{key}={config[key]}: dropout draws from the RNG; parity holds only with the same seed "
                         "and the same parallel layout")
    return notes


def reproducibility(config: Mapping[str, Any], env: Mapping[str, str], run: Mapping[str, Any]) -> Reproducibility:
    settings = {k: config[k] for k in REPRO_KEYS if k in config}
    shown = {k: v for k, v in sorted(env.items()) if k in REPRO_ENV or k.startswith(REPRO_ENV_PREFIXES)}
    return Reproducibility(settings, shown, dict(run), nondeterminism_notes(config, env))
