"""What one script's evaluation may spend: statements, loop turns, time, value sizes.

One `EvalBudget` per evaluation, built from `migrate.limits` (raised with
`PRIMUS_MIGRATE_LIMITS`) and the explicit `EvalOptions` overrides. The
evaluator consults it at every statement (steps and the deadline), at every
loop turn and function call, and `BoundedState` checks every value stored in a
variable, so a doubling string or an endlessly growing array stops at the limit
with a located error (exit 2) instead of exhausting memory.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from migrate import limits as _limits
from migrate.diagnostics import MigrateError, Origin
from migrate.shell.state import ShellState, Var

if TYPE_CHECKING:
    from migrate.shell.evaluate import EvalOptions


class EvalBudget:
    """Bounds for one evaluation; `exceeded` errors name the limit and how to raise it."""

    def __init__(self, options: EvalOptions | None = None, limits: _limits.Limits | None = None) -> None:
        lim = limits or _limits.current()

        def pick(override: int | None, name: str) -> int:
            return int(override) if override is not None else int(lim.values[name])

        self.loop_iterations = pick(options.max_loop_iterations if options else None, "loop_iterations")
        self.steps = pick(options.max_steps if options else None, "eval_steps")
        self.call_depth = pick(options.max_call_depth if options else None, "call_depth")
        self.string_chars = int(lim.string_chars)
        self.array_elements = int(lim.array_elements)
        self.expansion_work = int(lim.expansion_work)
        self.seconds = float(lim.eval_seconds)
        self.deadline = time.monotonic() + self.seconds
        self.used_steps = 0
        self.used_fields = 0
        self.node: object = None
        self.origin_of: Callable[[Any], Origin] | None = None

    # -- time and statements
    def step(self, node: object, origin_of: Callable[[Any], Origin]) -> None:
        """One statement: count it, and stop at the step or time limit. Errors found later
        without a place of their own (a modelled command's output) name this statement."""
        self.node, self.origin_of = node, origin_of
        self.used_steps += 1
        if self.used_steps > self.steps:
            raise self._over("eval_steps", f"evaluation ran {self.steps} statements", None)
        if not self.used_steps & 63:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise self._over("eval_seconds", f"evaluation took more than {self.seconds:g} s", None)

    def where(self, origin: Origin | None = None) -> Origin | None:
        """`origin`, else the statement being evaluated."""
        if origin is None and self.origin_of is not None:
            return self.origin_of(self.node)
        return origin

    # -- sizes
    def check_chars(self, count: int, what: str, origin: Origin | None) -> None:
        """A value of `count` characters is about to exist (checked before building it)."""
        if count > self.string_chars:
            raise _limits.exceeded("string_chars", f"{what} would have {count} characters", self.where(origin))

    def check_value(self, name: str, value: object, origin: Origin | None) -> None:
        """A variable is about to hold `value`: a scalar's characters, an array's elements.

        An array's elements are not summed here (that would cost as much as the assignment on
        every `A+=(x)`): each was built by an expansion, and `memory_cap` bounds the rest."""
        if isinstance(value, tuple):
            count = len(value[0].text) if len(value) == 1 else sum(len(seg.text) for seg in value)
            if count > self.string_chars:
                self.check_chars(count, f"`{name}`", origin)
        elif isinstance(value, (list, dict)) and len(value) > self.array_elements:
            raise _limits.exceeded("array_elements", f"array `{name}` would have {len(value)} elements",
                                   self.where(origin))

    def count_fields(self, count: int) -> None:
        """Words built by one expansion: `"${A[@]}"` of a growing array in a loop is work."""
        self.used_fields += count
        if self.used_fields > self.expansion_work:
            raise _limits.exceeded("expansion_work", f"expansions built {self.used_fields} words", self.where())

    def _over(self, name: str, what: str, origin: Origin | None) -> MigrateError:
        return _limits.exceeded(name, what, self.where(origin))


class BoundedState(ShellState):
    """The shell state with every stored value checked against the budget (subshells too)."""

    budget: EvalBudget

    @classmethod
    def wrap(cls, state: ShellState, budget: EvalBudget) -> BoundedState:
        state.__class__ = cls
        state.budget = budget  # type: ignore[attr-defined]
        return state  # type: ignore[return-value]

    def set(self, name: str, var: Var) -> None:
        self.budget.check_value(name, var.value, var.origin)
        super().set(name, var)

    def copy(self) -> ShellState:
        return BoundedState.wrap(super().copy(), self.budget)
