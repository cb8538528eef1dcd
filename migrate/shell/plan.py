"""The launch plan: what a legacy script would run, found without running it.

This is the hand-off from the shell front end to everything else: the
Megatron argument model reads `argv` (with each token's origin), the emitter
reads `env` and `knobs`, the report reads `diagnostics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from migrate.diagnostics import Diagnostics, Origin

KnobSource = Literal["default", "env", "arg"]


@dataclass(frozen=True)
class Token:
    """One word exactly as bash would pass it to the launched program."""

    value: str
    origin: Origin  # file:line of the source word that produced this token
    unknown: bool = False  # contains a value we could not know statically (see diagnostics)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value, "origin": str(self.origin)}
        if self.unknown:
            data["unknown"] = True
        return data


@dataclass
class Launcher:
    """The program that starts training and its own options (not the training argv)."""

    kind: str  # torchrun | torch.distributed.run | torch.distributed.launch | python | deepspeed | ...
    argv: list[Token]  # the launcher command words up to (not including) the entry script
    wrappers: list[list[Token]] = field(default_factory=list)  # outer commands such as `srun ...`

    def options(self) -> dict[str, str]:
        """`--nproc_per_node 8` / `--nnodes=2` style options as a dict (last wins)."""
        out: dict[str, str] = {}
        words = [t.value for t in self.argv]
        i = 0
        while i < len(words):
            word = words[i]
            if word.startswith("--"):
                if "=" in word:
                    key, val = word[2:].split("=", 1)
                    out[key] = val
                elif i + 1 < len(words) and not words[i + 1].startswith("-"):
                    out[word[2:]] = words[i + 1]
                    i += 1
                else:
                    out[word[2:]] = ""
            i += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "argv": [t.value for t in self.argv],
            "options": self.options(),
            "wrappers": [[t.value for t in w] for w in self.wrappers],
        }


@dataclass
class EnvVar:
    """A variable exported at the launch, with the line that set it."""

    name: str
    value: str
    origin: Origin
    unknown: bool = False


@dataclass
class RuntimeValue:
    """A value that exists only when the script runs (`$(date ...)`, `$(hostname)`, `$HOSTNAME`,
    `$(whoami)`): evaluated with `assumed`; `used_in` says where it ended up ("argv", "env:NAME")."""

    command: str  # the shell text that computes it, e.g. `date +%Y%m%d`
    assumed: str
    origin: Origin
    used_in: list[str] = field(default_factory=list)
    argv_tokens: list[int] = field(default_factory=list)  # indices into LaunchPlan.argv

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "assumed": self.assumed, "origin": str(self.origin),
                "used_in": list(self.used_in), "argv_tokens": list(self.argv_tokens)}


@dataclass
class Knob:
    """A variable the user can set from outside: environment or KEY=VALUE script argument."""

    name: str
    default: str | None  # the value the script falls back to (None: no default, empty if unset)
    value: str | None  # the value in this evaluation
    source: KnobSource  # where `value` came from
    compared_with: list[str] = field(default_factory=list)  # literals it is tested against (MODEL_SIZE: 8, 70)
    defined_at: Origin | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default": self.default,
            "value": self.value,
            "source": self.source,
            "compared_with": list(self.compared_with),
            "defined_at": str(self.defined_at) if self.defined_at else None,
        }


@dataclass
class LaunchPlan:
    """What the script launches: the evaluator's result, read by everything downstream."""

    script: str
    launcher: Launcher
    entry: str  # the training program, e.g. pretrain_gpt.py
    argv: list[Token]  # training arguments after the entry script, exactly as bash passes them
    env: dict[str, EnvVar] = field(default_factory=dict)  # exported at the launch
    knobs: list[Knob] = field(default_factory=list)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    # run-time values that reached the launch (argv or exported environment)
    runtime: list[RuntimeValue] = field(default_factory=list)
    cwd: str | None = None  # the launch's working directory: relative paths in its argv start there

    def argv_values(self) -> list[str]:
        return [t.value for t in self.argv]

    def knob(self, name: str) -> Knob | None:
        return next((k for k in self.knobs if k.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "script": self.script,
            "launcher": self.launcher.to_json(),
            "entry": self.entry,
            "argv": self.argv_values(),
            "provenance": [str(t.origin) for t in self.argv],
            "unknown_argv": [i for i, t in enumerate(self.argv) if t.unknown],  # indices of statically unknown tokens
            "env": {k: v.value for k, v in self.env.items()},
            "env_provenance": {k: str(v.origin) for k, v in self.env.items()},
            "knobs": {k.name: k.to_json() for k in self.knobs},
            "diagnostics": self.diagnostics.to_json(),
            "runtime": [r.to_json() for r in self.runtime],
        }
