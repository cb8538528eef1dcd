"""The shell's memory while we evaluate: variables, scopes, functions, options.

Values are `Text` (characters with origins). Arrays are lists of `Text`.
`Var` objects are immutable so a subshell copy is a cheap shallow copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from migrate.diagnostics import Origin
from migrate.shell.text import EMPTY, Text

Value = Text | list[Text | None] | dict[str, Text]  # indexed arrays may have holes (None)


@dataclass(frozen=True)
class Var:
    """A shell variable's value (text with origins, or an array) and its attributes; replaced, never changed."""

    value: Value
    exported: bool = False
    integer: bool = False
    origin: Origin | None = None  # where it was last assigned
    external: bool = False  # value came from outside the script (environment or KEY=VALUE argument)
    source: str = "default"  # "env" | "arg" | "default": how an external value arrived
    script_export: bool = False  # exported by the script itself (export / declare -x), not just inherited

    @property
    def is_array(self) -> bool:
        return isinstance(self.value, (list, dict))

    def scalar(self) -> Text:
        """`$name` of an array is its element 0, as in bash."""
        if isinstance(self.value, list):
            return (self.value[0] or EMPTY) if self.value else EMPTY
        if isinstance(self.value, dict):
            return self.value.get("0", EMPTY)
        return self.value

    def elements(self) -> list[Text]:
        if isinstance(self.value, list):
            return [v for v in self.value if v is not None]
        if isinstance(self.value, dict):
            return list(self.value.values())
        return [self.value]


@dataclass
class ShellState:
    """Variables (global and per function call), functions, options and the working directory of one evaluation."""

    globals: dict[str, Var] = field(default_factory=dict)
    scopes: list[dict[str, Var | None]] = field(default_factory=list)  # function locals; None = declared unset
    functions: dict[str, Any] = field(default_factory=dict)
    positional: list[Text] = field(default_factory=list)
    arg0: Text = EMPTY
    options: set[str] = field(default_factory=set)  # errexit, xtrace, nounset, pipefail
    cwd: str = "."
    status: int = 0
    call_depth: int = 0

    def lookup(self, name: str) -> Var | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return self.globals.get(name)

    def _home(self, name: str) -> dict[str, Var | None]:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope
        return self.globals  # type: ignore[return-value]

    def set(self, name: str, var: Var) -> None:
        self._home(name)[name] = var

    def assign(self, name: str, value: Value, origin: Origin | None, **attrs: Any) -> Var:
        """Assign keeping the existing attributes (export, integer) unless overridden."""
        old = self.lookup(name)
        if old is not None:
            var = replace(old, value=value, origin=origin, external=False, source="default", **attrs)
        else:
            var = Var(value=value, origin=origin, **attrs)
        self.set(name, var)
        return var

    def declare_local(self, name: str) -> None:
        if self.scopes:
            self.scopes[-1].setdefault(name, None)

    def unset(self, name: str) -> None:
        home = self._home(name)
        if home is self.globals:
            self.globals.pop(name, None)
        else:
            home[name] = None

    def copy(self) -> ShellState:
        """A subshell: same values, independent changes."""
        return ShellState(
            globals=dict(self.globals),
            scopes=[dict(s) for s in self.scopes],
            functions=dict(self.functions),
            positional=list(self.positional),
            arg0=self.arg0,
            options=set(self.options),
            cwd=self.cwd,
            status=self.status,
            call_depth=self.call_depth,
        )

    def exported(self) -> dict[str, Var]:
        names: dict[str, Var] = {}
        for name, var in self.globals.items():
            if var is not None and var.exported:
                names[name] = var
        for scope in self.scopes:
            for name, local in scope.items():
                if local is None:
                    names.pop(name, None)
                elif local.exported:
                    names[name] = local
        return names
