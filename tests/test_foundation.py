"""The shared plumbing: diagnostics, atomic output, value equality, CLI error handling."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.output import OutputTree
from migrate.values import same_value


def test_origin_prints_like_a_compiler():
    assert str(Origin("train_llama3.sh", 74)) == "train_llama3.sh:74"
    assert str(Origin("exp.yaml", 12, 3)) == "exp.yaml:12:3"
    assert str(Origin("x.sh")) == "x.sh"


def test_diagnostics_keep_order_and_drop_exact_repeats():
    diags = Diagnostics()
    diags.warn("a", "first", Origin("s.sh", 3))
    diags.warn("b", "second")
    diags.warn("a", "first", Origin("s.sh", 3))
    assert [d.code for d in diags] == ["a", "b"]
    assert diags.to_json()[0]["origin"] == "s.sh:3"


@pytest.mark.parametrize(
    "a,b,same",
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (None, 0, False),
        (None, None, True),
        ([1, 2], (1, 2), True),
        ("1", 1, False),
        (float("nan"), float("nan"), True),
        (1e-5, 1.0e-05, True),
        ({"a": 1}, {"a": 1.0}, True),
    ],
)
def test_same_value(a, b, same):
    assert same_value(a, b) is same


def test_output_tree_refuses_to_overwrite_without_force(tmp_path):
    (tmp_path / "a.yaml").write_text("old")
    tree = OutputTree(tmp_path)
    tree.add("a.yaml", "new")
    tree.add("sub/b.yaml", "b")
    with pytest.raises(MigrateError, match="would be overwritten"):
        tree.commit()
    # nothing half-written
    assert (tmp_path / "a.yaml").read_text() == "old"
    assert not (tmp_path / "sub").exists()

    forced = OutputTree(tmp_path, force=True)
    forced.files = dict(tree.files)
    forced.commit()
    assert (tmp_path / "a.yaml").read_text() == "new"
    assert (tmp_path / "sub/b.yaml").read_text() == "b"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".primus-migrate")] == []


def test_output_tree_identical_content_is_not_a_conflict(tmp_path):
    (tmp_path / "a.yaml").write_text("same")
    tree = OutputTree(tmp_path)
    tree.add("a.yaml", "same")
    assert tree.conflicts() == []
    tree.commit()


def test_output_tree_rejects_escaping_paths(tmp_path):
    with pytest.raises(ValueError):
        OutputTree(tmp_path).add("../x", "y")


def test_unknown_option_is_usage_error_not_traceback(cli):
    with pytest.raises(SystemExit) as exc:
        cli("--no-such-option")
    assert exc.value.code == 2


def test_cli_entry_point_never_imports_torch():
    code = (
        "import sys; from migrate.cli import build_parser; build_parser();"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('torch','megatron','primus_runtime')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
