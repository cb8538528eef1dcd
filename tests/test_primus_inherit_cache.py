"""The composed-layer cache in migrate.primus.inherit: reused only while every file it read
(and every place `extends:` found nothing) is unchanged; callers may mutate what they get."""

import os

from helpers_primus import write_tree
from migrate.primus.releases import release

load_v01 = release("v0.1.0-rc1").load_file  # the `bases:` loader as v0.1.0-rc1 reads files
load_v26 = release("v26.5.1").load_file  # the `extends:` loader as v26.5.1 reads files


def _touch_later(path, text):
    """Rewrite `path` with a different mtime (and size), as an edit between two loads would."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_edited_base_is_read_again(tmp_path):
    write_tree(tmp_path, {"base.yaml": "a: 1\nb: 2\n", "child.yaml": "extends: [base.yaml]\na: 10\n"})
    assert load_v26(tmp_path / "child.yaml", {}).values == {"a": 10, "b": 2}
    _touch_later(tmp_path / "base.yaml", "a: 1\nb: 3000\n")
    assert load_v26(tmp_path / "child.yaml", {}).values == {"a": 10, "b": 3000}


def test_file_appearing_earlier_on_the_search_path_wins(tmp_path):
    # `extends:` looks beside the file first, then in the fallback folders.
    write_tree(tmp_path, {"presets/base.yaml": "a: 1\n", "exp/child.yaml": "extends: [base.yaml]\nb: 2\n"})
    child, fallbacks = tmp_path / "exp" / "child.yaml", (tmp_path / "presets",)
    assert load_v26(child, {}, fallbacks).values == {"a": 1, "b": 2}
    write_tree(tmp_path, {"exp/base.yaml": "a: 5\n"})
    assert load_v26(child, {}, fallbacks).values == {"a": 5, "b": 2}


def test_mutating_a_result_does_not_leak_into_the_next_load(tmp_path):
    write_tree(tmp_path, {"base.yaml": "a: 1\nnested:\n  x: 1\n", "child.yaml": "bases: [base.yaml]\na: 2\n"})
    first = load_v01(tmp_path / "child.yaml", {})
    first.values["nested"]["x"] = 99
    first.values["a"] = 42
    first.origins.clear()
    second = load_v01(tmp_path / "child.yaml", {})
    assert second.values == {"a": 2, "nested": {"x": 1}}
    assert second.origins["a"].line == 2


def test_environment_is_part_of_the_key(tmp_path):
    write_tree(tmp_path, {"exp.yaml": "size: ${SIZE:8}\n"})
    assert load_v26(tmp_path / "exp.yaml", {}).values == {"size": 8}
    assert load_v26(tmp_path / "exp.yaml", {"SIZE": "70"}).values == {"size": 70}
    assert load_v26(tmp_path / "exp.yaml", {}).values == {"size": 8}
