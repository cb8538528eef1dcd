"""How the interpreter unwinds: the exceptions for `exit`, `return`, `break`/`continue` and an
expansion error. They sit below every other module of the evaluator, so that the builtins that
raise them and the statement walker that catches them (`evaluate.py`) need not import each other.
"""

from __future__ import annotations


class ExitScript(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class ReturnFn(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class LoopControl(Exception):
    def __init__(self, kind: str, levels: int) -> None:
        self.kind, self.levels = kind, levels


class AbortCommand(Exception):
    """Bash's reaction to an expansion error (`$((4*))`, `${s:1:-9}`): it prints the error and
    abandons the rest of the complete command it is running (the whole line's list at the top of a
    script, `eval` string or sourced file; the whole of a subshell), then goes on with status 1."""
