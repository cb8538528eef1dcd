"""The argument namespace one Megatron-LM run starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrate.diagnostics import Origin


@dataclass
class MegatronArgs:
    """`args`: every dest → value exactly as argparse leaves it (defaults filled, before validate_args).

    `explicit`: the dests the command line set, each with the provenance of its
    (last) flag token; None when the argv came as plain strings.
    """

    schema: str
    args: dict[str, Any]
    explicit: dict[str, Origin | None] = field(default_factory=dict)
    # set by `translate`: legacy dests the script set whose value cannot be carried to this
    # version (removed option, value no longer accepted) -> provenance. The "unmapped" flags.
    dropped: dict[str, Origin | None] = field(default_factory=dict)

    def is_explicit(self, dest: str) -> bool:
        return dest in self.explicit

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "args": dict(self.args),
            "explicit": {k: (str(v) if v else None) for k, v in self.explicit.items()},
            "dropped": {k: (str(v) if v else None) for k, v in self.dropped.items()},
        }
