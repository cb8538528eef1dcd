"""copy_tree: the deep copy the YAML and layer caches hand out (must behave as copy.deepcopy)."""

import copy
import datetime

from migrate.primus.yamlio import MarkedDict, copy_tree, key_line, load_yaml_text

TEXT = """\
base: &base
  lr: 1.0e-05
  layers: [1, 2, {deep: true}]
top:
  a: *base
  b: *base
when: 2024-01-02
tags: !!set {x, y}
blob: !!binary aGVsbG8=
"""


def test_equal_to_deepcopy_and_independent():
    data = load_yaml_text(TEXT, "t.yaml")
    copied = copy_tree(data)
    assert copied == copy.deepcopy(data) == data
    copied["base"]["layers"][2]["deep"] = False
    copied["tags"].add("z")
    assert data["base"]["layers"][2]["deep"] is True and data["tags"] == {"x", "y"}
    assert isinstance(copied["when"], datetime.date)


def test_keeps_line_marks_and_aliases():
    data = load_yaml_text(TEXT, "t.yaml")
    copied = copy_tree(data)
    assert type(copied["top"]) is MarkedDict and key_line(copied["top"], "b") == 6
    assert copied["top"]["a"] is copied["top"]["b"]  # one YAML anchor, one object, as deepcopy keeps it
    assert copied["top"]["a"] is not data["top"]["a"]
    copied["top"].lines["b"] = 99
    assert key_line(data["top"], "b") == 6
