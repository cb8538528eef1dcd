"""Recognise the training launch among a script's commands and split it.

`srun ... torchrun --nproc_per_node 8 pretrain_gpt.py --tp 2` becomes
wrappers [`srun ...`], launcher `torchrun --nproc_per_node 8`, entry
`pretrain_gpt.py` and the training argv.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from migrate.shell.plan import Launcher, Token

_ENTRY = re.compile(r"(pretrain_[^/]*|[^/]*train[^/]*)\.py")
_PYTHON = re.compile(r"python(\d+(\.\d+)*)?")
_DIRECT_LAUNCHERS = {"torchrun", "deepspeed"}
_MODULES = {"torch.distributed.run": "torch.distributed.run", "torch.distributed.launch": "torch.distributed.launch"}
# training programs started as modules (`torchrun ... -m torchtitan.train`): the entry is the module name
_ENTRY_MODULES = frozenset({"torchtitan.train"})


@dataclass
class Launch:
    """The launching command found: its launcher, the entry script and the training argv."""

    launcher: Launcher
    entry: str
    argv: list[Token]


def is_entry(word: str) -> bool:
    return _ENTRY.fullmatch(os.path.basename(word)) is not None


def _program(word: str) -> str | None:
    base = os.path.basename(word)
    if base in _DIRECT_LAUNCHERS:
        return base
    if _PYTHON.fullmatch(base):
        return "python"
    return None


def find_launch(tokens: list[Token]) -> Launch | None:
    """The launch if these command words start a training entry script."""
    words = [t.value for t in tokens]
    entry_at = next((i for i, w in enumerate(words) if w.endswith(".py") and is_entry(w)), None)
    module_at = next((i + 1 for i, w in enumerate(words[:-1]) if w in ("-m", "--module")
                      and words[i + 1] in _ENTRY_MODULES), None)
    if module_at is not None and (entry_at is None or module_at < entry_at):
        entry_at = module_at
    if entry_at is None:
        return None
    program_at = next((i for i in range(entry_at) if _program(words[i])), None)
    if program_at is None:
        return None
    kind = _program(words[program_at]) or "python"
    if kind == "python":
        module = next((words[i + 1] for i in range(program_at, entry_at - 1) if words[i] == "-m"), None)
        module = None if module in _ENTRY_MODULES else module
        if module in _MODULES:
            kind = _MODULES[module]
        elif module is not None:
            kind = module
    wrapper = tokens[:program_at]
    launcher = Launcher(kind=kind, argv=list(tokens[program_at:entry_at]), wrappers=[wrapper] if wrapper else [])
    return Launch(launcher=launcher, entry=words[entry_at], argv=list(tokens[entry_at + 1 :]))
