"""Which tokens a parity run trains on.

A legacy script usually points at a dataset on its cluster. Parity compares
configurations, so both sides only need the same tokens: the script's
dataset when its files are on this machine, otherwise the runtime's
synthetic (mock) tokens for both sides, said in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from migrate.primus.handoff import DATA_PATH_KEYS as DATA_KEYS  # Megatron's data path dests


def dataset_prefixes(value: Any) -> list[str]:
    """Megatron's `[weight] prefix ...` list -> the prefixes (weights dropped)."""
    if value is None:
        return []
    items = value.split() if isinstance(value, str) else [str(v) for v in value]
    prefixes = []
    for item in items:
        try:
            float(item)
        except ValueError:
            prefixes.append(item)
    return prefixes


def missing_data(cfg: Mapping[str, Any]) -> list[str]:
    """Dataset files the config names that this machine does not have."""
    missing = []
    for key in DATA_KEYS:
        for prefix in dataset_prefixes(cfg.get(key)):
            for suffix in (".bin", ".idx"):
                if not Path(prefix + suffix).is_file():
                    missing.append(prefix + suffix)
    return missing


def with_synthetic_data(cfg: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(cfg)
    out["mock_data"] = True
    for key in DATA_KEYS:
        if key in out:
            out[key] = None
    return out


def choose_data(legacy: Mapping[str, Any], primus: Mapping[str, Any]) -> tuple[dict, dict, str]:
    """Both configs, trained on the same tokens, and one sentence saying which."""
    if legacy.get("mock_data") and primus.get("mock_data"):
        return dict(legacy), dict(primus), "synthetic tokens (the script uses --mock-data)"
    has_paths = any(dataset_prefixes(legacy.get(k)) for k in DATA_KEYS)
    missing = missing_data(legacy) + missing_data(primus)
    if has_paths and not missing:
        return dict(legacy), dict(primus), "the script's dataset (its files are on this machine)"
    reason = f"{missing[0]} is not on this machine" if missing else "the script names no dataset"
    return (with_synthetic_data(legacy), with_synthetic_data(primus),
            f"synthetic tokens for both sides ({reason}); same seed, same tokens")
