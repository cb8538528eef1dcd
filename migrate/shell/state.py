"""The shell's memory while we evaluate: variables, scopes, functions, options.

Values are `Text` (characters with origins). Arrays are lists of `Text`.
`Var` objects are immutable so a subshell copy is a cheap shallow copy.
"""

from __future__ import annotations

from migrate.diagnostics import Origin
from migrate.record import Frozen, Record
from migrate.shell.text import EMPTY, Text

TYPE_CHECKING = False  # `typing` is not imported at run time: the CLI's start-up path avoids it

if TYPE_CHECKING:
    from typing import Any

Value = Text | list[Text | None] | dict[str, Text]  # indexed arrays may have holes (None)


class Var(Frozen):
    __slots__ = _fields = ("value", "exported", "integer", "origin", "external", "source", "script_export")
    value: Value
    exported: bool
    integer: bool
    origin: Origin | None  # where it was last assigned
    external: bool  # value came from outside the script (environment or KEY=VALUE argument)
    source: str  # "env" | "arg" | "default": how an external value arrived
    script_export: bool  # exported by the script itself (export / declare -x), not just inherited

    def __init__(self, value: Value, exported: bool = False, integer: bool = False, origin: Origin | None = None,
                 external: bool = False, source: str = "default", script_export: bool = False) -> None:
        for name, field in zip(self._fields, (value, exported, integer, origin, external, source, script_export)):
            object.__setattr__(self, name, field)

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


class ShellState(Record):
    _fields = ("globals", "scopes", "functions", "positional", "arg0", "options", "cwd", "status", "call_depth")

    def __init__(self, globals: dict[str, Var] | None = None, scopes: list[dict[str, Var | None]] | None = None,
                 functions: dict[str, Any] | None = None, positional: list[Text] | None = None,
                 arg0: Text = EMPTY, options: set[str] | None = None, cwd: str = ".", status: int = 0,
                 call_depth: int = 0) -> None:
        self.globals: dict[str, Var] = {} if globals is None else globals
        # function locals; None = declared unset
        self.scopes: list[dict[str, Var | None]] = [] if scopes is None else scopes
        self.functions: dict[str, Any] = {} if functions is None else functions
        self.positional: list[Text] = [] if positional is None else positional
        self.arg0 = arg0
        self.options: set[str] = set() if options is None else options  # errexit, xtrace, nounset, pipefail
        self.cwd = cwd
        self.status = status
        self.call_depth = call_depth

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
            var = old.replace(value=value, origin=origin, external=False, source="default", **attrs)
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

    def copy(self) -> "ShellState":
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
            for name, var in scope.items():
                if var is None:
                    names.pop(name, None)
                elif var.exported:
                    names[name] = var
        return names
