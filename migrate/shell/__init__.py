"""Script → launch plan: static evaluation of bash launch scripts."""

from __future__ import annotations

from migrate.shell.evaluate import EvalOptions, evaluate_script
from migrate.shell.plan import EnvVar, Knob, LaunchPlan, Launcher, Token

__all__ = ["EvalOptions", "evaluate_script", "LaunchPlan", "Launcher", "Token", "Knob", "EnvVar"]
