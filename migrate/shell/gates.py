"""Why a training script stops before its launch with the defaults, and what lets it through.

Real launch scripts often refuse to run unless the job sets something: `exit 1` unless the GPU
architecture is one they know, `set -u` and a `$MASTER_NODE` only the cluster provides, a default
`MODEL_SIZE` none of whose branches exists, a sourced settings file that is not in the repository.
Such a script is still a training script. The gate is found by trying the literals the script
compares each knob against (one evaluation per literal, like `batch` variants): the values with
which the evaluation launches, or at least gets past that `exit`, are the ones the script needs.
A `set -u` stop names the unset variable and a missing sourced file names the file; both are read
from the evaluator's own diagnostics, so nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from migrate.diagnostics import MigrateError, Origin

if TYPE_CHECKING:
    from migrate.shell.plan import Knob

PLACEHOLDER = "primus-migrate-probe"  # the value tried for a variable the script only needs set
MAX_PROBES = 24  # evaluations spent on one failure at most (each is one run of the script's text)
_UNBOUND = re.compile(r"(\w+): unbound variable \(set -u\)")
_MISSING_SOURCE = re.compile(r"source: `([^`]+)` not found")

_probing = False  # set while gate probes run: a probe's own failure is not explored again
_following = 0  # how many gates deep the current explanation is (see _follow)
MAX_FOLLOW = 2


@dataclass(frozen=True)
class Requirement:
    """One thing the script needs from outside: a value, a set variable, or a file."""

    kind: str                       # "choice" | "set" (any value) | "unset" (set -u) | "file"
    name: str                       # the variable, or the file as the script names it
    values: tuple[str, ...] = ()    # choice: the values that get past the exit, in the script's order
    launches: tuple[str, ...] = ()  # choice: the values with which the script launches
    origin: Origin | None = None    # where it is read, or where the file is sourced

    def needs(self) -> str:
        """`ARCH (one of gfx942, gfx950)`, `MASTER_NODE (unset under set -u at x.sh:6)`, `file x`."""
        if self.kind == "choice":
            return f"{self.name} (one of {', '.join(self.values)})"
        if self.kind == "set":
            return f"{self.name} (any value; unset{f', read at {self.origin}' if self.origin else ''})"
        if self.kind == "unset":
            return f"{self.name} (unset under set -u{f' at {self.origin}' if self.origin else ''})"
        return f"file {self.name} (sourced{f' at {self.origin}' if self.origin else ''}, not found)"


@dataclass(frozen=True)
class Gate:
    exit_at: Origin | None
    requirements: tuple[Requirement, ...] = ()
    # assignments under which the script launches: one per launching value, in the script's order
    launching: tuple[tuple[tuple[str, str], ...], ...] = field(default=())

    def reason(self) -> str:
        """The batch's row reason: `needs ARCH (one of gfx942, gfx950)`."""
        return "needs " + "; ".join(r.needs() for r in self.requirements)


class GatedScript(MigrateError):
    """No launch with these values, but the script launches (or gets further) with others."""

    def __init__(self, message: str, origin: Origin | None = None, hint: str | None = None,
                 gate: Gate | None = None) -> None:
        super().__init__(message, origin=origin, hint=hint)
        self.gate = gate


# probe(env, follow): True on a launch, else where it exited (None: no exit, False: another error);
# with follow=True, the Gate of the next stop instead of its Origin (None when there is none)
Probe = Callable[[dict[str, str], bool], "Origin | Gate | None | bool"]


def explain(knobs: Sequence[Knob], diagnostics: Sequence, display: str, env: dict[str, str],
            probe: Probe) -> GatedScript | None:
    """The error for a script that stopped before its launch, or None when no gate is found.

    `probe(env)` evaluates the script again: True when it launches, else the Origin of the exit
    it reached (None: no exit). Inside a probe only the exit is reported (no nested probing).
    """
    exits = [d for d in diagnostics if d.code == "shell-exit" and d.origin is not None and d.origin.line]
    exit_at = exits[-1].origin if exits else None
    if _probing:
        return GatedScript("probe", origin=Origin(display), gate=Gate(exit_at))
    requirements: list[Requirement] = []
    launching: list[tuple[tuple[str, str], ...]] = []
    if exits:
        unbound = _UNBOUND.search(exits[-1].message)
        if unbound:
            requirements.append(Requirement("unset", unbound.group(1), origin=exit_at))
    for d in diagnostics:
        missing = _MISSING_SOURCE.search(d.message) if d.code == "shell-error" else None
        if missing and all(r.name != missing.group(1) for r in requirements):
            requirements.append(Requirement("file", missing.group(1), origin=d.origin))
    if exit_at is not None and not requirements:
        choice = _probe_choices(knobs, env, exit_at, probe)
        if choice is not None:
            requirements.append(choice)
            launching = [((choice.name, v),) for v in choice.launches]
            if choice.kind == "choice" and not choice.launches:
                requirements, launching = _follow(choice, requirements, env, probe)
    if not requirements:
        return None
    gate = Gate(exit_at, tuple(requirements), tuple(launching))
    message, hint = describe(gate)
    return GatedScript(message, origin=Origin(display), hint=hint, gate=gate)


def _follow(choice: Requirement, requirements: list[Requirement], env: dict[str, str], probe: Probe,
            ) -> tuple[list[Requirement], list[tuple[tuple[str, str], ...]]]:
    """Past one gate the script stops at the next (`ARCH` set, then `MASTER_NODE` under `set -u`):
    explain that stop too, with the first value that got past this one (at most MAX_FOLLOW deep)."""
    global _following
    if _following >= MAX_FOLLOW:
        return requirements, []
    first = (choice.name, choice.values[0])
    _following += 1
    try:
        outcome = probe({**env, first[0]: first[1]}, True)
    finally:
        _following -= 1
    if not isinstance(outcome, Gate):
        return requirements, []
    launching = [(first, *assignment) for assignment in outcome.launching]
    return requirements + list(outcome.requirements), launching


def _probe_choices(knobs: Sequence[Knob], env: dict[str, str], exit_at: Origin,
                   probe: Probe) -> Requirement | None:
    """The first knob (in the script's order) some compared literal of which gets past `exit_at`."""
    budget = MAX_PROBES
    for knob in knobs:
        literals = [v for v in dict.fromkeys(knob.compared_with) if v != ""]
        if knob.name in env or not literals or (knob.value or "") in literals:
            continue
        passing: list[str] = []
        launches: list[str] = []
        for value in literals:
            if budget <= 0:
                return None
            budget -= 1
            outcome = _probe_once(probe, {**env, knob.name: value})
            if outcome is True:
                launches.append(value)
            if outcome is True or (outcome is not False and outcome != exit_at):
                passing.append(value)
        if passing:
            return Requirement("choice", knob.name, tuple(passing), tuple(launches), knob.defined_at)
    return _probe_unset(knobs, env, exit_at, probe, budget)


def _probe_once(probe: Probe, env: dict[str, str]) -> "Origin | Gate | None | bool":
    """One probe evaluation, marked as such so that its own failure is not explored again."""
    global _probing
    _probing = True
    try:
        return probe(env, False)
    finally:
        _probing = False


def _probe_unset(knobs: Sequence[Knob], env: dict[str, str], exit_at: Origin, probe: Probe,
                 budget: int) -> Requirement | None:
    """`[ -z "$MASTER_ADDR" ] && exit 1`: a knob with no default, unset, that any value gets past.

    The value tried is a placeholder, so nothing is converted with it: the requirement only names
    the variable (`needs MASTER_ADDR (any value)`).
    """
    for knob in knobs:
        if budget <= 0:
            return None
        if knob.name in env or knob.default is not None or knob.value or any(v for v in knob.compared_with):
            continue
        budget -= 1
        outcome = _probe_once(probe, {**env, knob.name: PLACEHOLDER})
        if outcome is True or (outcome is not False and outcome != exit_at):
            return Requirement("set", knob.name, origin=knob.defined_at)
    return None


def describe(gate: Gate) -> tuple[str, str]:
    """(message, hint) for `convert`: where the script exits, unless what, and what to pass."""
    where = f"the script exits at {gate.exit_at}" if gate.exit_at else "the script stops before its launch"
    parts: list[str] = []
    hints: list[str] = []
    for r in gate.requirements:
        if r.kind == "choice":
            parts.append(f"unless {r.name} is one of {', '.join(r.values)}")
            hints.append(f"pass {r.name}={(r.launches or r.values)[0]}")
        elif r.kind == "set":
            parts.append(f"unless {r.name} is set")
            hints.append(f"pass {r.name}=VALUE (the value your job sets)")
        elif r.kind == "unset":
            at = f"at {r.origin} " if r.origin and r.origin != gate.exit_at else ""
            parts.append(f"{at}because {r.name} is unset under `set -u`")
            hints.append(f"pass {r.name}=VALUE (the value your job sets)")
        else:
            parts.append(f"because it sources {r.name}{f' at {r.origin}' if r.origin else ''}, which does not exist")
            hints.append(f"create {r.name} (relative to the script's working directory), "
                         "or convert from where it exists")
    return f"{where} {', then '.join(parts)}", "; ".join(hints)


def probe_with(evaluate: Callable[..., object], path: object, args: Sequence[str], options: object) -> Probe:
    """A probe that runs `evaluate(path, env, args, options)` (see `Probe`)."""
    def probe(env: dict[str, str], follow: bool) -> Origin | Gate | None | bool:
        try:
            evaluate(path, env, args, options)
        except GatedScript as exc:
            if follow:
                return exc.gate
            return exc.gate.exit_at if exc.gate is not None else None
        except MigrateError:
            return False
        return True
    return probe
