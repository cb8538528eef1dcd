"""`python -m primus_runtime.worker RUN.json RANK`: one rank of a multi-process run.

The parent (`primus_runtime.launch`) writes RUN.json (namespace, device, output
folder, world size, rendezvous port) and starts one worker per rank. A worker that
fails writes `rank<N>.error` with its message and exits non-zero.

`PRIMUS_RUNTIME_FAULT_RANK=N` makes rank N fail right after the process groups are
up, while the other ranks wait in a collective: the failure path's test hook.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    rank = int(argv[1])
    out_dir = Path(spec["out_dir"])
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    from primus_runtime import loop

    try:
        loop.setup_distributed(rank, spec["world"], spec["port"], spec["device"], spec["timeout_s"])
        if os.environ.get("PRIMUS_RUNTIME_FAULT_RANK") == str(rank):
            raise RuntimeError("fault injected by PRIMUS_RUNTIME_FAULT_RANK")
        loop.run_rank(spec["ns"], spec["device"], out_dir, spec["echo"])
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which ends the run
        (out_dir / f"rank{rank}.error").write_text(f"rank {rank}: {type(exc).__name__}: {exc}\n")
        print(f"rank {rank}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        try:
            loop.teardown()
        except Exception:  # noqa: BLE001
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
