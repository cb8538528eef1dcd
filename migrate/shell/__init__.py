"""Script → launch plan: static evaluation of bash launch scripts.

The names are loaded on first use so `migrate.shell.syntax` can start shfmt on a
script while the evaluator's modules are still being imported.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`'s: `migrate.shell.early` runs before anything else is imported

if TYPE_CHECKING:
    from migrate.shell.evaluate import EvalOptions, evaluate_script
    from migrate.shell.plan import EnvVar, Knob, LaunchPlan, Launcher, Token

__all__ = ["EvalOptions", "evaluate_script", "LaunchPlan", "Launcher", "Token", "Knob", "EnvVar"]


def __getattr__(name: str) -> object:
    if name in ("EvalOptions", "evaluate_script"):
        from migrate.shell import evaluate

        return getattr(evaluate, name)
    if name in ("LaunchPlan", "Launcher", "Token", "Knob", "EnvVar"):
        from migrate.shell import plan

        return getattr(plan, name)
    raise AttributeError(f"module 'migrate.shell' has no attribute {name!r}")
