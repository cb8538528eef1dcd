"""Which repo-relative entry path a launched program names (one rule for the registry and schemas)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable


def longest_tail_match(program: str | None, paths: Iterable[str]) -> str | None:
    """The path sharing the longest tail of components with `program`; None when none or tied.

    `program` is as the launch names it (any depth, or a bare name): `/opt/Megatron-LM/pretrain_gpt.py`
    matches `pretrain_gpt.py`; a bare `train.py` matches nothing when two paths end so. The match
    must exhaust one side: `x/deepseek_v3/pretrain_deepseek.py` is not
    `examples/deepseek_v2/pretrain_deepseek.py` (`..` components are not a conflicting folder).
    """
    if not program:
        return None
    parts = [p for p in posixpath.normpath(program.replace("\\", "/")).split("/") if p not in ("", ".")]
    best: str | None = None
    best_len, ties = 0, 0
    for path in dict.fromkeys(paths):
        rparts = path.split("/")
        n = 0
        while n < min(len(parts), len(rparts)) and parts[-1 - n] == rparts[-1 - n]:
            n += 1
        if n < len(parts) and n < len(rparts) and parts[-1 - n] != "..":
            continue  # the folders differ: another program of that name (deepseek_v3/ vs deepseek_v2/)
        if n > best_len:
            best, best_len, ties = path, n, 1
        elif n == best_len and n > 0:
            ties += 1
    return best if best_len and ties == 1 else None
