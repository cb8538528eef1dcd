"""The dataclass stand-ins on the start-up path behave like the dataclasses they replaced."""

from __future__ import annotations

import copy
import pickle

import pytest

from migrate.diagnostics import Diagnostic, Diagnostics, Origin
from migrate.shell.plan import Knob, LaunchPlan, Launcher, Token
from migrate.shell.state import Var
from migrate.shell.text import Seg


def test_frozen_records_compare_hash_and_refuse_assignment():
    a, b = Origin("x.sh", 3), Origin("x.sh", 3, 0)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Origin("x.sh", 4) and a != ("x.sh", 3, 0)  # not a tuple
    with pytest.raises(AttributeError, match="immutable"):
        a.line = 5  # type: ignore[misc]
    assert Seg("t", a) == Seg("t", b) and Seg("t", a) != Seg("t", a, unknown=True)
    assert Token("--tp", a) != Seg("--tp", a)  # other class, never equal


def test_origins_order_by_file_line_col():
    found = [Origin("b.sh", 1), Origin("a.sh", 2, 5), Origin("a.sh", 2, 1), Origin("a.sh", 10)]
    assert sorted(found) == [Origin("a.sh", 2, 1), Origin("a.sh", 2, 5), Origin("a.sh", 10), Origin("b.sh", 1)]


@pytest.mark.parametrize("value", [
    Origin("x.sh", 1, 2),
    Diagnostic("warning", "code", "text", Origin("x.sh", 1), "hint"),
    Token("--tp", Origin("x.sh", 7), unknown=True),
    Var((Seg("1", Origin("x.sh", 1)),), exported=True, source="env"),
    Knob("TP", "1", "2", "env", ["1", "2"], Origin("x.sh", 3)),
])
def test_records_survive_pickle_and_copy(value):  # batch workers send results across processes
    assert pickle.loads(pickle.dumps(value)) == value
    assert copy.deepcopy(value) == value and copy.copy(value) == value


def test_replace_changes_named_fields_only():
    var = Var((), integer=True, source="arg")
    changed = var.replace(exported=True)
    assert changed.exported and changed.integer and changed.source == "arg" and not var.exported
    with pytest.raises(TypeError, match="no field 'exportd'"):
        var.replace(exportd=True)


def test_mutable_records_default_to_fresh_containers_and_show_their_fields():
    one, two = Diagnostics(), Diagnostics()
    one.warn("c", "m")
    assert len(two) == 0 and one != two
    plan = LaunchPlan("s.sh", Launcher("torchrun", []), "pretrain_gpt.py", [])
    assert plan.env == {} and plan.knobs == [] and len(plan.diagnostics) == 0
    assert repr(Knob("TP", None, "1", "env")) == (
        "Knob(name='TP', default=None, value='1', source='env', compared_with=[], defined_at=None)")
    with pytest.raises(TypeError):
        hash(plan)
