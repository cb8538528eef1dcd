"""Bundled runtime: trains a derived Megatron argument namespace on megatron-core.

CPU by default (gloo), CUDA/NCCL when a GPU is there. The converter (package
`migrate`) imports this package only inside the `train` and `parity` commands;
importing it is cheap, torch and megatron load when `train` runs.
"""

import os

# Reproducible CPU runs: left dynamic, MKL (torch's BLAS on x86) may use fewer threads while the
# machine is busy, which reorders floating-point sums; parity compares the two sides' losses
# exactly, so both must run with the same threads. Set before torch loads MKL.
os.environ.setdefault("MKL_DYNAMIC", "FALSE")

from primus_runtime.options import RunOptions, RunResult  # noqa: E402


def train(config, options=None):  # type: ignore[no-untyped-def]
    """Train `config` (a DERIVED Megatron namespace: dest -> value); see `primus_runtime.launch`."""
    from primus_runtime.launch import train as _train

    return _train(config, options or RunOptions())


def train_many(configs, options=None):  # type: ignore[no-untyped-def]
    """Several runs with the same options, sharing the worker processes (see `primus_runtime.launch`)."""
    from primus_runtime.launch import train_many as _train_many

    return _train_many(configs, options or RunOptions())


__all__ = ["train", "train_many", "RunOptions", "RunResult"]
