"""Where things came from, and everything we have to say about them.

Every stage of the pipeline (shell evaluation, argument parsing, config loading,
emission) reports through the types in this module, so that warnings are
collected in one place (as libcst codemods do) and every error can name the
file and line a user has to look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, order=True, slots=True)
class Origin:
    """A place in a user's file: `train_llama3.sh:74` or `exp.yaml:12:3`. Ordered by (file, line, col)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        text = self.file
        if self.line:
            text += f":{self.line}"
            if self.col:
                text += f":{self.col}"
        return text

    def to_json(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable `code` for tests and reports, prose for people."""

    severity: Severity
    code: str
    message: str
    origin: Origin | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "origin": str(self.origin) if self.origin else None,
            "hint": self.hint,
        }


@dataclass
class Diagnostics:
    """Collector shared by one conversion; order of arrival is kept."""

    items: list[Diagnostic] = field(default_factory=list)

    def warn(self, code: str, message: str, origin: Origin | None = None, hint: str | None = None) -> None:
        self.add(Diagnostic("warning", code, message, origin, hint))

    def note(self, code: str, message: str, origin: Origin | None = None, hint: str | None = None) -> None:
        self.add(Diagnostic("note", code, message, origin, hint))

    def add(self, diagnostic: Diagnostic) -> None:
        if diagnostic not in self.items:  # the same loop body may warn twice
            self.items.append(diagnostic)

    def extend(self, other: "Diagnostics") -> None:
        for item in other.items:
            self.add(item)

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_json(self) -> list[dict]:
        return [d.to_json() for d in self.items]


class MigrateError(Exception):
    """A problem with the user's input. The CLI prints it, never a traceback.

    `exit_code` lets callers distinguish classes of failure (2: bad input,
    3: parity failed, 4: converted with unmapped flags under --strict, ...);
    see `migrate.cli.EXIT_CODES`. `category` is the batch report's code for it
    (`migrate.batch.categories`), set where the cause is certain; None: read from the text.
    """

    def __init__(
        self,
        message: str,
        origin: Origin | None = None,
        hint: str | None = None,
        exit_code: int = 2,
        category: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.origin = origin
        self.hint = hint
        self.exit_code = exit_code
        self.category = category

    def __str__(self) -> str:
        return str(Diagnostic("error", "error", self.message, self.origin, self.hint))
