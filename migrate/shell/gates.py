"""Why a training script stops before its launch with the defaults, and what lets it through.

Real launch scripts often refuse to run unless the job sets something: `exit 1` unless the GPU
architecture is one they know, `set -u` and a `$MASTER_NODE` only the cluster provides, a default
`MODEL_SIZE` none of whose branches exists, a sourced settings file that is not in the repository.
Such a script is still a training script. The gate is found by trying the literals the script
compares each knob against (one evaluation per literal, like `batch` variants): the values with
which the evaluation launches, or at least gets past that `exit`, are the ones the script needs.
A `set -u` stop names the unset variable and a missing sourced file names the file; both are read
from the evaluator's own diagnostics, so nothing is guessed. So are `${1:?usage}` and
`${VAR:?message}` stops (the argument or variable, with the script's own message), and an `exit`
right after a file test (`[ -f $CKPT ] || exit 1`): file tests never look at the machine (only the
scripts exist, migrate/shell/inputs.py), so the path is tried as existing (`--assume-exists`), and
the script's own message (an `echo` just above the `exit`) is kept.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from migrate.diagnostics import MigrateError, Origin

if TYPE_CHECKING:
    from migrate.shell.evaluate import EvalOptions
    from migrate.shell.plan import Knob

PLACEHOLDER = "primus-migrate-probe"  # the value tried for a variable the script only needs set
MAX_PROBES = 24  # evaluations spent on one failure at most (each is one run of the script's text)
_UNBOUND = re.compile(r"(\w+): unbound variable \(set -u\)")
_PARAM_ERROR = re.compile(r"the script would stop here: (\w+): (.*)$")  # `${NAME:?message}` (params.py)
_PRINTED = re.compile(r" after printing: (.*)$")  # the `exit` note's message (builtins.exit_)
_ABSENT = re.compile(r"assumed `([^`]+)` does not exist \(test (-\w)\)")  # conditions.file_test
MAX_ARGUMENTS = 9  # positional arguments tried for a `${N:?usage}` stop
TEST_GUARD_LINES = 3  # a file test this many lines above an `exit` (or on its line) is what it guards
PASS_ARGUMENTS = "pass them after `--` (primus-migrate SCRIPT -o OUT -- ARG1 ARG2 ...)"  # batch says it its way
_MISSING_SOURCE = re.compile(r"source: `([^`]+)` not found")

_probing = False  # set while gate probes run: a probe's own failure is not explored again
_following = 0  # how many gates deep the current explanation is (see _follow)
MAX_FOLLOW = 2


@dataclass(frozen=True)
class Requirement:
    """One thing the script needs from outside: a value, a set variable, or a file."""

    # "choice" | "set" (any value) | "unset" (set -u) | "file" (sourced) | "arguments" ($1..$N) | "exists" (tested)
    kind: str
    name: str                       # the variable, the file as the script names it, or N of $1..$N
    values: tuple[str, ...] = ()    # choice: the values that get past the exit, in the script's order
    launches: tuple[str, ...] = ()  # choice: the values with which the script launches
    origin: Origin | None = None    # where it is read, or where the file is sourced or tested
    message: str = ""               # what the script itself says when it stops (`${1:?usage: ...}`, an echo)

    def needs(self) -> str:
        """`ARCH (one of gfx942, gfx950)`, `MASTER_NODE (unset under set -u at x.sh:6)`, `file x`,
        `arguments $1 $2 (... "usage: x.sh A B")`, `` `/data` to exist (...) ``."""
        if self.kind == "choice":
            return f"{self.name} (one of {', '.join(self.values)})"
        said = f': "{self.message}"' if self.message else ""
        if self.kind == "set":
            return f"{self.name} (any value; unset{f', read at {self.origin}' if self.origin else ''}{said})"
        if self.kind == "unset":
            return f"{self.name} (unset under set -u{f' at {self.origin}' if self.origin else ''})"
        if self.kind == "arguments":
            n = int(self.name)
            return (f"argument{'s' if n > 1 else ''} {' '.join(f'${i}' for i in range(1, n + 1))} "
                    f"(the script stops at {self.origin} without them{said})")
        if self.kind == "exists":
            return f"`{self.name}` to exist (tested at {self.origin}; the script exits without it{said})"
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


class Probe(Protocol):
    """probe(env, follow): True on a launch, else where it exited (None: no exit, False: another error);
    with follow=True, the Gate of the next stop instead of its Origin (None when there is none).
    `positional`: evaluate with that many arguments (placeholders after those given); `exists`: paths
    the file tests find."""

    def __call__(self, env: dict[str, str], follow: bool, *, positional: int = 0,
                 exists: tuple[str, ...] = ()) -> "Origin | Gate | None | bool": ...


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
        requirements += _stop_requirements(exits[-1].message, exit_at, env, probe)
    for d in diagnostics:
        missing = _MISSING_SOURCE.search(d.message) if d.code == "shell-error" else None
        if missing and all(r.name != missing.group(1) for r in requirements):
            requirements.append(Requirement("file", missing.group(1), origin=d.origin))
    if exit_at is not None and not requirements:
        requirements += _tested_paths(diagnostics, exits[-1].message, exit_at, env, probe)
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


def _stop_requirements(message: str, exit_at: Origin | None, env: dict[str, str],
                       probe: Probe) -> list[Requirement]:
    """A stop the evaluator names itself: `set -u`, `${NAME:?message}` (NAME a variable or $N)."""
    unbound = _UNBOUND.search(message)
    param = _PARAM_ERROR.search(message)
    if unbound and not unbound.group(1).isdigit():
        return [Requirement("unset", unbound.group(1), origin=exit_at)]
    if param is None:
        return []
    name, said = param.group(1), param.group(2).strip()
    # bash's own words when the script gave none
    said = "" if said in ("parameter null or not set", "unbound variable (set -u)") else said
    if not name.isdigit():
        return [Requirement("set", name, origin=exit_at, message=said)]
    needed = int(name)
    for count in range(needed, MAX_ARGUMENTS + 1):  # how many arguments take the script to its launch
        outcome = _probe_once(probe, env, positional=count)
        if outcome is True:
            needed = count
            break
        if outcome is False:
            break
    return [Requirement("arguments", str(needed), origin=exit_at, message=said)]


def _tested_paths(diagnostics: Sequence, exit_message: str, exit_at: Origin, env: dict[str, str],
                  probe: Probe) -> list[Requirement]:
    """`[ -f $CKPT ] || exit 1`: the paths file tests just above the exit found absent, when the script
    launches (or gets past that exit) with them present."""
    tested = [m.group(1) for d in diagnostics if d.origin is not None and d.origin.file == exit_at.file
              and 0 <= exit_at.line - d.origin.line <= TEST_GUARD_LINES
              and (m := _ABSENT.search(d.message))]
    tested = list(dict.fromkeys(tested))
    if not tested:
        return []
    outcome = _probe_once(probe, env, exists=tuple(tested))
    if outcome is False or outcome == exit_at or outcome is None:
        return []
    printed = _PRINTED.search(exit_message)
    said = printed.group(1) if printed else ""
    return [Requirement("exists", path, origin=exit_at, message=said) for path in tested]


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


def _probe_once(probe: Probe, env: dict[str, str], positional: int = 0,
                exists: tuple[str, ...] = ()) -> "Origin | Gate | None | bool":
    """One probe evaluation, marked as such so that its own failure is not explored again."""
    global _probing
    _probing = True
    try:
        return probe(env, False, positional=positional, exists=exists)
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
            parts.append(f"unless {r.name} is set" + (f' ("{r.message}")' if r.message else ""))
            hints.append(f"pass {r.name}=VALUE (the value your job sets)")
        elif r.kind == "unset":
            at = f"at {r.origin} " if r.origin and r.origin != gate.exit_at else ""
            parts.append(f"{at}because {r.name} is unset under `set -u`")
            hints.append(f"pass {r.name}=VALUE (the value your job sets)")
        elif r.kind == "arguments":
            parts.append(f"without {r.needs().split(' (', 1)[0]}" + (f' ("{r.message}")' if r.message else ""))
            hints.append(PASS_ARGUMENTS)
        elif r.kind == "exists":
            parts.append(f"unless `{r.name}` exists" + (f' ("{r.message}")' if r.message else "")
                         + "; primus-migrate never looks at the file system, only at the scripts")
            hints.append(f"pass --assume-exists {r.name} (it exists where the script runs)")
        else:
            parts.append(f"because it sources {r.name}{f' at {r.origin}' if r.origin else ''}, which does not exist")
            hints.append(f"create {r.name} (relative to the script's working directory), "
                         "or convert from where it exists")
    return f"{where} {', then '.join(parts)}", "; ".join(hints)


def probe_with(evaluate: Callable[..., object], path: object, args: Sequence[str], options: EvalOptions) -> Probe:
    """A probe that runs `evaluate(path, env, args, options)` (see `Probe`)."""
    def probe(env: dict[str, str], follow: bool, *, positional: int = 0,
              exists: tuple[str, ...] = ()) -> Origin | Gate | None | bool:
        given = list(args) + [PLACEHOLDER] * (positional - len(args))
        try:
            evaluate(path, env, given, dataclasses.replace(options, assume_exists=(*options.assume_exists, *exists))
                     if exists else options)
        except GatedScript as exc:
            if follow:
                return exc.gate
            return exc.gate.exit_at if exc.gate is not None else None
        except MigrateError:
            return False
        return True
    return probe
