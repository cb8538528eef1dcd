"""Run-time values in emitted configs: keep them varying at run time, never an assumed value silently.

The shell evaluator fixes `$(date ...)`, `$(hostname)`, `$HOSTNAME`, `$(whoami)` to assumed values
and hands them over as `LaunchPlan.runtime`. A config value containing one is written with a
`${PRIMUS_RUN_<KIND>:<assumed>}` reference: both releases substitute `${VAR:default}` inside any
string value of a YAML file they load (primus/core/utils/yaml_utils.py@v0.1.0-rc1, `parse_yaml`;
primus/core/config/yaml_loader.py@v26.5.1), and run.sh exports the variable computed by the
script's own command. With the variable unset the default is the assumed value, so static parity
(and `resolve`) see exactly what the evaluation saw. Where the reference cannot give back the same
value (the release would coerce the substituted text to a number, or the assumed text holds `}`),
the value is written as evaluated and marked as a run-time value in its comment and the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from migrate.primus.interpolate import Interpolation, substitute

_KINDS = (("date", "DATE"), ("hostname", "HOST"), ("$HOSTNAME", "HOST"), ("whoami", "USER"), ("id", "USER"),
          ("$RANDOM", "RANDOM"), ("$SRANDOM", "RANDOM"), ("$$", "PID"), ("$BASHPID", "PID"))


@dataclass
class RuntimeRef:
    """One run-time value of the script and the variable that carries it."""

    command: str  # shell text that computes it (shell-quoted words), e.g. `date +%Y%m%d`, or `$HOSTNAME`
    assumed: str
    origin: str
    name: str  # PRIMUS_RUN_DATE, ...
    used_in: list[str] = field(default_factory=list)
    dests: set[str] = field(default_factory=set)  # the target's dests whose flag value holds it
    written: list[str] = field(default_factory=list)  # config keys written with the reference
    marked: list[str] = field(default_factory=list)  # config keys written as evaluated, marked

    def shell(self) -> str:
        """The command's text as run.sh runs it (`$HOSTNAME` stays a variable)."""
        if self.command.startswith("$"):
            return self.command
        return "$(" + self.command + ")"


def flag_dests(argv: list[Any], indices: list[int], by_option: dict[str, Any]) -> set[str]:
    """The legacy dests whose values are the argv tokens at `indices`: the option the token belongs
    to (`--flag=value`, or the nearest option before it, as Megatron's parser reads it)."""
    out = set()
    for i in indices:
        word = argv[i].value
        if word.startswith("-") and "=" in word and word.split("=", 1)[0] in by_option:
            out.add(by_option[word.split("=", 1)[0]].dest)
            continue
        for k in range(i - 1, -1, -1):
            spec = by_option.get(argv[k].value)
            if spec is not None:
                out.add(spec.dest)
                break
    return out


def runtime_refs(runtime: list[Any], origin_text: Any = str, dests_of: Any = None) -> list[RuntimeRef]:
    """A variable name per distinct command: PRIMUS_RUN_DATE, PRIMUS_RUN_DATE_2, ...
    `dests_of(rv)`: the target dests whose value holds the run-time value `rv`."""
    refs: list[RuntimeRef] = []
    by_command: dict[tuple[str, str], RuntimeRef] = {}
    for rv in runtime:
        key = (rv.command, rv.assumed)
        dests = set(dests_of(rv)) if dests_of is not None else set()
        if key in by_command:
            by_command[key].used_in += [u for u in rv.used_in if u not in by_command[key].used_in]
            by_command[key].dests |= dests
            continue
        first = rv.command.split(" ")[0].strip("'").rsplit("/", 1)[-1]
        kind = next((k for word, k in _KINDS if word == first), re.sub(r"[^A-Z0-9]", "_", first.upper()))
        base = f"PRIMUS_RUN_{kind}"
        taken = {r.name for r in refs}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        ref = RuntimeRef(rv.command, rv.assumed, origin_text(rv.origin), name, list(rv.used_in), dests)
        refs.append(ref)
        by_command[key] = ref
    return refs


def runtime_text(key: str, value: Any, refs: list[RuntimeRef], interpolation: Interpolation
                 ) -> tuple[str, str, list[RuntimeRef], bool] | None:
    """(text to write, comment, run-time values inside, written as references?) for the config value
    of `key`; None when the script's flag for `key` held no run-time value."""
    mine = [r for r in refs if key in r.dests and r.assumed]
    if not mine or isinstance(value, bool):
        return None
    if isinstance(value, int):  # `--seed $RANDOM`: the value is the run-time value itself
        inside = [r for r in mine if r.assumed == str(value)]
        source = str(value)
    elif isinstance(value, str):
        inside = [r for r in mine if r.assumed in value]
        source = value
    else:
        return None
    if not inside:
        return None
    # one pass, longest assumed text first: a reference's default is never replaced again
    by_text: dict[str, RuntimeRef] = {}
    for ref in sorted(inside, key=lambda r: -len(r.assumed)):
        by_text.setdefault(ref.assumed, ref)
    inside = list(by_text.values())
    pattern = re.compile("|".join(re.escape(t) for t in by_text))
    text = pattern.sub(lambda m: "${" + by_text[m.group(0)].name + ":" + m.group(0) + "}", source)
    what = ", ".join(f"`{r.command}`" for r in inside)
    coerce = interpolation.typed
    usable = all("}" not in r.assumed for r in inside) and "${" not in source
    if usable:
        back = substitute(text, {}, None)
        usable = back == source and type(coerce(back)) is type(value) and coerce(back) == value
    if usable:
        return text, f"run-time value {what} (run.sh exports {', '.join(r.name for r in inside)})", inside, True
    return source, (f"run-time value {what}: evaluated as {', '.join(repr(r.assumed) for r in inside)}, "
                    "written as evaluated"), inside, False


def record_uses(refs: list[RuntimeRef], overrides: list[Any]) -> None:
    """Fill each ref's `written` / `marked` from the final overrides (key, value, raw text)."""
    for o in overrides:
        for ref in refs:
            if o.key not in ref.dests:
                continue
            if o.raw is not None and "${" + ref.name + ":" in o.raw:
                ref.written.append(o.key)
            elif ref.assumed in str(o.value):
                ref.marked.append(o.key)


def runtime_exports(refs: list[RuntimeRef]) -> list[str]:
    """run.sh lines computing each variable the config refers to, as the script computed it."""
    return [f'export {r.name}="${{{r.name}:-{r.shell()}}}"' for r in refs if r.written]


def runtime_report(refs: list[RuntimeRef]) -> list[dict[str, Any]]:
    out = []
    for r in refs:
        where = []
        if r.written:
            where.append(f"written as ${{{r.name}:{r.assumed}}} in {', '.join(r.written)} (run.sh exports "
                         f"{r.name} computed by `{r.command}`)")
        if r.marked:
            where.append(f"written as evaluated in {', '.join(r.marked)} (marked in the YAML comment)")
        envs = [u[4:] for u in r.used_in if u.startswith("env:")]
        if envs:
            where.append(f"exported as {', '.join(envs)} (env.sh holds the assumed value)")
        if not where:
            where.append("not in the Primus config (the launch did not depend on it)")
        out.append({"command": r.command, "origin": r.origin, "assumed": r.assumed, "variable": r.name,
                    "written_as": "; ".join(where)})
    return out
