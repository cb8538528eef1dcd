"""What to tell the user when the script's Megatron argv cannot be parsed: which argument or
variable the script expected and did not get (the usual cause of a flag with no value)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.diagnostics import MigrateError

if TYPE_CHECKING:
    from migrate.shell.plan import LaunchPlan


def missing_arguments_hint(plan: LaunchPlan) -> str | None:
    """When the script read positional arguments it was not given, say which (the usual cause
    of a flag with no value: `--lr ${LR}` with LR=$5 and no fifth argument)."""
    from migrate.shell.params import MISSING_ARGUMENT

    seen: dict[str, str] = {}
    for item in plan.diagnostics:
        if item.code == MISSING_ARGUMENT:
            name = item.message.split(" ", 1)[0]
            seen.setdefault(name, f"{name} (line {item.origin.line})" if item.origin and item.origin.line else name)
    if not seen:
        return None
    usage = usage_line(plan.script)
    return (f"the script reads arguments it was not given: {', '.join(seen.values())}"
            + (f" (its usage line: {usage})" if usage else "") + f"; {PASS_ARGUMENTS}")


from migrate.shell.gates import PASS_ARGUMENTS  # noqa: E402 - one wording, used where a gate needs arguments too
_USAGE = re.compile(r"^\s*(?:echo|printf)\b.*\busage\b", re.IGNORECASE)


def usage_line(script: str | Path | None) -> str | None:
    """The first `echo "Usage: ..."` line of the script, as written (it names the arguments it wants)."""
    try:
        lines = Path(script).read_text(encoding="utf-8", errors="replace").splitlines() if script else []
    except OSError:
        return None
    found = next((line.strip() for line in lines[:2000] if _USAGE.match(line)), None)
    return found[:200] if found else None


def empty_value_hint(plan: LaunchPlan, exc: MigrateError) -> str | None:
    """`option --tensorboard-dir expects a value`: name the variable that expanded to nothing.

    The flag's origin line is read again; the variable written right after the flag there
    (`--tensorboard-dir $TB_DIR`, `--save="${CKPT}"`) is the one that came out empty. A knob
    the script never gave a value is said to be unset, with how to set it."""
    match = re.match(r"option (--?[\w-]+) expects", exc.message)
    origin = exc.origin
    if match is None or origin is None or not origin.line:
        return None
    try:
        with open(origin.file, encoding="utf-8", errors="replace") as handle:
            text = handle.read().splitlines()[origin.line - 1]
    except (OSError, IndexError):
        return None
    used = re.search(re.escape(match.group(1)) + r"""(?:\s+|=)["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)""", text)
    if used is None:
        return None
    name = used.group(1)
    knob = plan.knob(name)
    if knob is not None and knob.value is None:
        return (f"${name} is unset, so {match.group(1)} got no value; set it: primus-migrate SCRIPT {name}=... "
                f"(as `{name}=... bash SCRIPT` would)")
    return f"${name} expands to nothing here, so {match.group(1)} got no value"


def add_parse_hints(exc: MigrateError, plan: LaunchPlan) -> None:
    """Append to `exc.hint` the variable right after the flag (when there) and the arguments or
    variables the script read without a value."""
    from migrate.megatron.required import unset_variables_hint

    specific = empty_value_hint(plan, exc)
    general = missing_arguments_hint(plan) or unset_variables_hint(plan)
    for extra in (specific, general):
        if extra:
            exc.hint = f"{exc.hint}; {extra}" if exc.hint else extra
