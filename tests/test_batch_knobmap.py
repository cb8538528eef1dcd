"""The knob -> key table: tracing default literals into flag values, on hand-built launch plans."""

from __future__ import annotations

from migrate.batch import knobmap
from migrate.diagnostics import Origin
from migrate.shell.plan import Knob, LaunchPlan, Launcher, Token


def _plan(argv: list[tuple[str, int]], knobs: list[tuple[str, str | None, int]]) -> LaunchPlan:
    return LaunchPlan(
        script="t.sh",
        launcher=Launcher("torchrun", []),
        entry="pretrain_gpt.py",
        argv=[Token(v, Origin("t.sh", line)) for v, line in argv],
        knobs=[Knob(n, d, d, "default", [], Origin("t.sh", line)) for n, d, line in knobs],
    )


DESTS = {"--micro-batch-size": "micro_batch_size", "--tensor-model-parallel-size": "tensor_model_parallel_size",
         "--lr": "lr", "--bf16": "bf16"}


def test_a_flag_value_from_a_knob_default_line_maps_to_that_knob():
    plan = _plan(
        [("--micro-batch-size", 20), ("2", 3), ("--tensor-model-parallel-size", 20), ("1", 4),
         ("--bf16", 21), ("--lr", 21), ("3e-4", 21)],
        [("MBS", "2", 3), ("TP", "1", 4), ("LR_UNUSED", "1", 9)],
    )
    assert knobmap.trace(plan, DESTS.get) == {"MBS": {"micro_batch_size"}, "TP": {"tensor_model_parallel_size"}}


def test_lines_defining_two_knobs_and_knobs_without_default_are_not_traced():
    plan = _plan([("--micro-batch-size", 20), ("2", 3), ("--lr", 20), ("0.1", 5)],
                 [("MBS", "2", 3), ("GBS", "8", 3), ("LR", None, 5)])
    assert knobmap.trace(plan, DESTS.get) == {}


def test_changed_keys_uses_same_value():
    assert knobmap.changed_keys({"a": 1, "b": True, "c": 2}, {"a": 1.0, "b": 1, "d": 0}) == ["b", "c", "d"]
