"""Why a script stopped before its launch, when the user picked a value the script does not offer.

`MODEL_SIZE=9 bash train_llama3.sh` reaches the script's own `echo "not supported"; exit 1`
branch. A knob set from outside that the script compares against two or more literals
(`[[ $MODEL_SIZE -eq 8 ]] ... elif [[ $MODEL_SIZE -eq 70 ]]`) and whose value is none of them
is that reason; a knob compared against one literal is a switch (`TP == 1`), not a list of choices.
"""

from __future__ import annotations

from typing import Sequence

from migrate.shell.plan import Knob


def unsupported_choices(knobs: Sequence[Knob]) -> list[Knob]:
    """The knobs set by the user (environment or KEY=VALUE) to a value outside the script's choices."""
    return [k for k in knobs
            if k.source in ("env", "arg") and len(set(k.compared_with)) >= 2 and k.value not in k.compared_with]


def describe(knobs: Sequence[Knob]) -> tuple[str, str]:
    """(message, hint) for the error: `MODEL_SIZE=9: supported values: 8, 70`."""
    parts = [f"{k.name}={k.value} (supported values: {', '.join(k.compared_with)})" for k in knobs]
    first = knobs[0]
    return ("the script does not support " + "; ".join(parts),
            f"set {first.name} to one of {', '.join(first.compared_with)}"
            + (f" (it is read at {first.defined_at})" if first.defined_at else ""))
