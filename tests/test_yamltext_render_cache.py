"""The rendered-value cache returns what a fresh ruamel dump returns, telling 1, 1.0 and True apart."""

from __future__ import annotations

import pytest
import yaml

from migrate.primus.emit import yamltext

VALUES = ["on", "1e-5", "", "plain", "a: b", "null", "1", [1, True, 1.0], [1.0, 1, True], [True, 1, 1.0],
          ["x", None], [0.0], [-0.0], ["yes", "no"], []]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_cached_render_is_the_fresh_render_and_loads_back(value):
    first = yamltext.render_value(value)
    assert yamltext.render_value(value) == first == yamltext._render_with_ruamel(value)
    assert yaml.safe_load(f"k: {first}")["k"] == value


def test_lists_differing_only_in_item_types_render_differently():
    rendered = {yamltext.render_value(v) for v in ([1, True, 1.0], [1.0, 1, True], [True, 1, 1.0])}
    assert len(rendered) == 3
