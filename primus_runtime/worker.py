"""`python -m primus_runtime.worker RUN.json RANK`: one rank of a multi-process run.

The parent (`primus_runtime.launch`) writes RUN.json (the runs: namespace and output
folder of each; device, world size, rendezvous port) and starts one worker per rank. A worker that
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
    errors_dir = Path(spec["errors_dir"])
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    from primus_runtime import loop

    try:
        loop.setup_distributed(rank, spec["world"], spec["port"], spec["device"], spec["timeout_s"])
        if os.environ.get("PRIMUS_RUNTIME_FAULT_RANK") == str(rank):
            raise RuntimeError("fault injected by PRIMUS_RUNTIME_FAULT_RANK")
        for run in spec["runs"]:  # one process group, model-parallel state rebuilt per run
            loop.run_rank(run["ns"], spec["device"], Path(run["out_dir"]), spec["echo"], spec.get("header", ()))
            loop.teardown_model_parallel()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which ends the run
        from primus_runtime.launch import describe

        (errors_dir / f"rank{rank}.error").write_text(f"rank {rank}: {describe(exc)}\n")
        print(f"rank {rank}: {describe(exc)}", file=sys.stderr, flush=True)
        os._exit(1)  # no teardown: the other ranks may be blocked in a collective with us
    loop.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
