"""Compare the namespace a checkout's own code built with ours, dest by dest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrate.primus.resolved import ResolvedConfig

# The launcher's rank and world size: v0.x trainers copy the module's, the core runtime reads
# torchrun's environment; the machine decides them, not the config.
LAUNCHER_DESTS = {"rank": "set by the launcher", "world_size": "set by the launcher",
                  "local_rank": "set by the launcher"}
ABSENT = "<absent>"


@dataclass
class Difference:
    dest: str
    ours: Any
    theirs: Any


@dataclass
class Comparison:
    compared: int
    differences: list[Difference] = field(default_factory=list)
    not_judged: dict[str, str] = field(default_factory=dict)   # dest -> why
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return not self.differences


def in_our_notation(value: Any, *exp_roots: str) -> Any:
    """Their value with the experiment folder written as EXP_ROOT, as our model writes it (the
    releases make it absolute for checkpoints and TensorBoard, keep it as configured for W&B)."""
    from migrate.primus.handoff import EXP_ROOT

    for root in exp_roots:
        root = (root or "").rstrip("/")
        if isinstance(value, str) and root and (value == root or value.startswith(root + "/")):
            return EXP_ROOT + value[len(root):]
    return value


def their_values(theirs: dict[str, Any]) -> dict[str, Any]:
    """The checkout's namespace in our notation (see `in_our_notation`)."""
    roots = (theirs.get("exp_root", ""), theirs.get("exp_root_as_given", ""))
    return {k: in_our_notation(v, *roots) for k, v in theirs["values"].items()}


def compare(ours: ResolvedConfig, theirs: dict[str, Any], dests: set[str]) -> Comparison:
    """Every Megatron dest (`dests`: the pin's table) either side has, compared with same_value.

    `ours` is resolved with the trainer's rewrites applied. Values Megatron's own `pretrain()`
    fills later (the entry's args_defaults) are compared as they are before that: None.
    """
    from migrate.megatron.schema import is_runtime_value
    from migrate.values import same_value

    values = their_values(theirs)
    late = {d for d, (_, _, rule) in ours.trainer_rewrites.items() if rule == "trainer_args_defaults"}
    result = Comparison(0)
    if theirs.get("moe_freq_type") == "stub":
        result.not_judged["moe_layer_freq"] = ("the legacy trainer passes it through Megatron's moe_freq_type, and "
                                               "the checkout has no third_party/Megatron-LM source to run it")
    for dest in sorted((set(ours.values) | set(values)) & dests):
        mine = None if dest in late else ours.values.get(dest, ABSENT)
        if dest in LAUNCHER_DESTS:
            result.not_judged[dest] = LAUNCHER_DESTS[dest]
            continue
        if dest in result.not_judged or is_runtime_value(mine):
            continue
        result.compared += 1
        their = values.get(dest, ABSENT)
        if (mine is ABSENT) != (their is ABSENT) or (their is not ABSENT and not same_value(their, mine)):
            result.differences.append(Difference(dest, mine, their))
    if ours.refusals:
        result.notes.append(f"our model says the trainer stops later ({'; '.join(ours.refusals)}); the steps run "
                            "here (loading and the trainer's argument updates) do not reach that point")
    return result
