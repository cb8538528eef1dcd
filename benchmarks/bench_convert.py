"""How long one conversion takes, cold (first in a process: presets resolved) and warm.

    python benchmarks/bench_convert.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from migrate.pipeline import ConvertOptions, convert_script  # noqa: E402

SCRIPT = REPO / "fixtures" / "scripts" / "rocm" / "train_llama3.sh"


def main() -> None:
    for target in ("primus-0.1", "primus-26.5"):
        for label, env in (("cold", {"MODEL_SIZE": "8"}), ("warm", {"MODEL_SIZE": "70"}),
                           ("warm", {"MODEL_SIZE": "8", "TP": "2"})):
            start = time.perf_counter()
            conversion = convert_script(SCRIPT, env, [], ConvertOptions(target=target))
            took = time.perf_counter() - start
            print(f"{target:12} {label:5} {env!s:32} {took:6.2f} s  parity={'ok' if conversion.parity.ok else 'FAIL'}"
                  f"  overrides={len(conversion.report['overrides'])}")
        start = time.perf_counter()
        convert_script(SCRIPT, {"MODEL_SIZE": "8"}, [], ConvertOptions(target=target, keep_knobs=True))
        print(f"{target:12} warm  --keep-knobs                     {time.perf_counter() - start:6.2f} s")


if __name__ == "__main__":
    main()
