"""The launch plan: what a legacy script would run, found without running it.

This is the hand-off from the shell front end to everything else: the
Megatron argument model reads `argv` (with each token's origin), the emitter
reads `env` and `knobs`, the report reads `diagnostics`.
"""

from __future__ import annotations

from migrate.diagnostics import Diagnostics, Origin
from migrate.record import Frozen, Record

TYPE_CHECKING = False  # `typing` is not imported at run time: the CLI's start-up path avoids it

if TYPE_CHECKING:
    from typing import Any, Literal

    KnobSource = Literal["default", "env", "arg"]
else:
    KnobSource = str


class Token(Frozen):
    """One word exactly as bash would pass it to the launched program."""

    __slots__ = _fields = ("value", "origin", "unknown")
    value: str
    origin: Origin  # file:line of the source word that produced this token
    unknown: bool  # contains a value we could not know statically (see diagnostics)

    def __init__(self, value: str, origin: Origin, unknown: bool = False) -> None:
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "unknown", unknown)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value, "origin": str(self.origin)}
        if self.unknown:
            data["unknown"] = True
        return data


class Launcher(Record):
    """The program that starts training and its own options (not the training argv)."""

    _fields = ("kind", "argv", "wrappers")

    def __init__(self, kind: str, argv: list[Token], wrappers: list[list[Token]] | None = None) -> None:
        self.kind = kind  # torchrun | torch.distributed.run | torch.distributed.launch | python | deepspeed | ...
        self.argv = argv  # the launcher command words up to (not including) the entry script
        self.wrappers: list[list[Token]] = [] if wrappers is None else wrappers  # outer commands: `srun ...`

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


class EnvVar(Record):
    _fields = ("name", "value", "origin", "unknown")

    def __init__(self, name: str, value: str, origin: Origin, unknown: bool = False) -> None:
        self.name = name
        self.value = value
        self.origin = origin
        self.unknown = unknown


class RuntimeValue(Record):
    """A value that exists only when the script runs (`$(date ...)`, `$(hostname)`, `$HOSTNAME`,
    `$(whoami)`): evaluated with `assumed`; `used_in` says where it ended up ("argv", "env:NAME")."""

    _fields = ("command", "assumed", "origin", "used_in", "argv_tokens")

    def __init__(self, command: str, assumed: str, origin: Origin, used_in: list[str] | None = None,
                 argv_tokens: list[int] | None = None) -> None:
        self.command = command  # the shell text that computes it, e.g. `date +%Y%m%d`
        self.assumed = assumed
        self.origin = origin
        self.used_in: list[str] = [] if used_in is None else used_in
        self.argv_tokens: list[int] = [] if argv_tokens is None else argv_tokens  # indices into LaunchPlan.argv

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "assumed": self.assumed, "origin": str(self.origin),
                "used_in": list(self.used_in), "argv_tokens": list(self.argv_tokens)}


class Knob(Record):
    """A variable the user can set from outside: environment or KEY=VALUE script argument."""

    _fields = ("name", "default", "value", "source", "compared_with", "defined_at")

    def __init__(self, name: str, default: str | None, value: str | None, source: KnobSource,
                 compared_with: list[str] | None = None, defined_at: Origin | None = None) -> None:
        self.name = name
        self.default = default  # the value the script falls back to (None: no default, empty if unset)
        self.value = value  # the value in this evaluation
        self.source = source  # where `value` came from
        # literals it is tested against (MODEL_SIZE: 8, 70)
        self.compared_with: list[str] = [] if compared_with is None else compared_with
        self.defined_at = defined_at

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default": self.default,
            "value": self.value,
            "source": self.source,
            "compared_with": list(self.compared_with),
            "defined_at": str(self.defined_at) if self.defined_at else None,
        }


class LaunchPlan(Record):
    _fields = ("script", "launcher", "entry", "argv", "env", "knobs", "diagnostics", "runtime")

    def __init__(self, script: str, launcher: Launcher, entry: str, argv: list[Token],
                 env: dict[str, EnvVar] | None = None, knobs: list[Knob] | None = None,
                 diagnostics: Diagnostics | None = None, runtime: list[RuntimeValue] | None = None) -> None:
        self.script = script
        self.launcher = launcher
        self.entry = entry  # the training program, e.g. pretrain_gpt.py
        self.argv = argv  # training arguments after the entry script, exactly as bash passes them
        self.env: dict[str, EnvVar] = {} if env is None else env  # exported at the launch
        self.knobs: list[Knob] = [] if knobs is None else knobs
        self.diagnostics = Diagnostics() if diagnostics is None else diagnostics
        # run-time values that reached the launch (argv or exported environment)
        self.runtime: list[RuntimeValue] = [] if runtime is None else runtime

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
