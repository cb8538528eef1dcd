"""How long resolving a Primus experiment takes (cold: first read of the presets; warm: cached).

    python benchmarks/bench_resolve_primus.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate.primus import get_profile, resolve_experiment  # noqa: E402
from migrate.primus import yamlio  # noqa: E402


def main(repeat: int = 20) -> None:
    for target in ("primus-0.1", "primus-26.5"):
        profile = get_profile(target)
        profile.schema()  # schema loading is the megatron package's cost, not ours
        experiment = ROOT / "fixtures" / "primus" / target / "llama3_8B-pretrain.yaml"
        yamlio._CACHE.clear()
        start = time.perf_counter()
        resolve_experiment(experiment, profile, env={})
        cold = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(repeat):
            resolve_experiment(experiment, profile, env={})
        warm = (time.perf_counter() - start) / repeat
        print(f"{target}: resolve llama3_8B-pretrain.yaml  cold {cold * 1000:.0f} ms  warm {warm * 1000:.0f} ms")


if __name__ == "__main__":
    main()
