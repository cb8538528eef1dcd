"""bases/includes (primus-0.1) and extends (primus-26.5) file composition."""

import pytest

from helpers_primus import write_tree
from migrate.diagnostics import MigrateError
from migrate.primus.releases import release

load_v01 = release("v0.1.0-rc1").load_file  # the `bases:` loader as v0.1.0-rc1 reads files
load_v26 = release("v26.5.1").load_file  # the `extends:` loader as v26.5.1 reads files


# ---- primus-0.1: bases --------------------------------------------------------------
def test_bases_child_wins_and_base_fills(tmp_path):
    write_tree(tmp_path, {"base.yaml": "a: 1\nb: 2\n", "child.yaml": "bases:\n  - base.yaml\na: 10\n"})
    layer = load_v01(tmp_path / "child.yaml", {})
    assert layer.values == {"a": 10, "b": 2}
    assert layer.origins["a"].file.endswith("child.yaml") and layer.origins["a"].line == 3
    assert layer.origins["b"].file.endswith("base.yaml") and layer.origins["b"].line == 2


def test_bases_child_key_missing_from_base_is_error(tmp_path):
    write_tree(tmp_path, {"base.yaml": "a: 1\n", "child.yaml": "bases:\n  - base.yaml\na: 2\ntypo_key: 3\n"})
    with pytest.raises(MigrateError) as err:
        load_v01(tmp_path / "child.yaml", {})
    assert "typo_key" in err.value.message and "base.yaml" in err.value.message
    assert err.value.origin.file.endswith("child.yaml") and err.value.origin.line == 4


def test_bases_second_base_must_hold_keys_filled_by_first(tmp_path):
    # Upstream checks the file's keys *as filled so far* against each next base.
    write_tree(tmp_path, {"b1.yaml": "a: 1\nx: 1\n", "b2.yaml": "a: 2\n",
                          "child.yaml": "bases:\n  - b1.yaml\n  - b2.yaml\na: 0\n"})
    with pytest.raises(MigrateError, match="'x'"):
        load_v01(tmp_path / "child.yaml", {})


def test_bases_are_recursive(tmp_path):
    write_tree(tmp_path, {"root.yaml": "a: 1\nb: 1\nc: 1\n", "mid.yaml": "bases: [root.yaml]\nb: 2\n",
                          "leaf.yaml": "bases: [mid.yaml]\nc: 3\n"})
    assert load_v01(tmp_path / "leaf.yaml", {}).values == {"a": 1, "b": 2, "c": 3}


def test_includes_only_fill_gaps(tmp_path):
    write_tree(tmp_path, {"inc1.yaml": "a: 1\nb: 1\n", "inc2.yaml": "b: 2\nc: 2\n",
                          "main.yaml": "includes: [inc1.yaml, inc2.yaml]\na: 0\n"})
    layer = load_v01(tmp_path / "main.yaml", {})
    assert layer.values == {"a": 0, "b": 1, "c": 2}  # the earlier include wins a gap


def test_includes_may_add_keys_bases_may_not(tmp_path):
    write_tree(tmp_path, {"inc.yaml": "new: 1\n", "main.yaml": "includes: [inc.yaml]\nown: 0\n"})
    assert load_v01(tmp_path / "main.yaml", {}).values == {"own": 0, "new": 1}


def test_v01_empty_file_is_empty_mapping(tmp_path):
    write_tree(tmp_path, {"e.yaml": "# nothing\n"})
    assert load_v01(tmp_path / "e.yaml", {}).values == {}


def test_missing_base_file_named_with_reference_line(tmp_path):
    write_tree(tmp_path, {"child.yaml": "a: 1\nbases:\n  - gone.yaml\n"})
    with pytest.raises(MigrateError) as err:
        load_v01(tmp_path / "child.yaml", {})
    assert "gone.yaml" in err.value.message and err.value.origin.line == 2


@pytest.mark.parametrize("loader,key", [(load_v01, "bases"), (load_v26, "extends")])
def test_inheritance_cycle_is_reported(tmp_path, loader, key):
    write_tree(tmp_path, {"a.yaml": f"{key}: [b.yaml]\nx: 1\n", "b.yaml": f"{key}: [a.yaml]\nx: 2\n"})
    with pytest.raises(MigrateError, match="cycle: a.yaml -> b.yaml -> a.yaml"):
        loader(tmp_path / "a.yaml", {})


# ---- primus-26.5: extends -----------------------------------------------------------
def test_extends_later_preset_wins_and_file_body_wins_last(tmp_path):
    write_tree(tmp_path, {"p1.yaml": "a: 1\nb: 1\nc: 1\n", "p2.yaml": "b: 2\nc: 2\n",
                          "f.yaml": "extends: [p1.yaml, p2.yaml]\nc: 3\nnew: 4\n"})
    layer = load_v26(tmp_path / "f.yaml", {})
    assert layer.values == {"a": 1, "b": 2, "c": 3, "new": 4}
    assert layer.origins["b"].file.endswith("p2.yaml")
    assert layer.origins["c"].file.endswith("f.yaml") and layer.origins["c"].line == 2


def test_extends_deep_merges_nested_mappings(tmp_path):
    write_tree(tmp_path, {"p.yaml": "opt:\n  x: 1\n  y: 2\n", "f.yaml": "extends: [p.yaml]\nopt:\n  y: 9\n"})
    assert load_v26(tmp_path / "f.yaml", {}).values == {"opt": {"x": 1, "y": 9}}


def test_extends_treats_bases_as_plain_data(tmp_path):
    write_tree(tmp_path, {"f.yaml": "bases: [nothere.yaml]\na: 1\n"})
    assert load_v26(tmp_path / "f.yaml", {}).values == {"bases": ["nothere.yaml"], "a": 1}


def test_extends_child_may_add_keys(tmp_path):
    write_tree(tmp_path, {"p.yaml": "a: 1\n", "f.yaml": "extends: [p.yaml]\nz: 1\n"})
    assert load_v26(tmp_path / "f.yaml", {}).values == {"a": 1, "z": 1}


def test_v26_empty_file_is_error(tmp_path):
    write_tree(tmp_path, {"e.yaml": "# nothing\n"})
    with pytest.raises(MigrateError, match="empty"):
        load_v26(tmp_path / "e.yaml", {})


def test_v26_missing_extends_file(tmp_path):
    write_tree(tmp_path, {"f.yaml": "extends:\n  - gone.yaml\n"})
    with pytest.raises(MigrateError, match="gone.yaml"):
        load_v26(tmp_path / "f.yaml", {})


def test_interpolation_happens_per_file_before_merge(tmp_path):
    write_tree(tmp_path, {"p.yaml": "a: ${A:1}\n", "f.yaml": "extends: [p.yaml]\nb: ${B:x}\n"})
    assert load_v26(tmp_path / "f.yaml", {"A": "5"}).values == {"a": 5, "b": "x"}


def test_inherit_key_must_be_a_list(tmp_path):
    write_tree(tmp_path, {"f.yaml": "extends: 3\n"})
    with pytest.raises(MigrateError, match="must be a list"):
        load_v26(tmp_path / "f.yaml", {})
