"""Reading YAML exactly as PyYAML's SafeLoader types it, with line marks."""

import pytest
import yaml

from migrate.diagnostics import MigrateError
from migrate.primus.yamlio import key_line, load_yaml_file, load_yaml_text

SAMPLE = "a: 1e-5\nb: 1.0e-05\nc: 1.0e5\nd: yes\ne: null\nf: 0x10\nnested:\n  g: 2\n"


def test_scalars_typed_like_pyyaml_safeloader():
    ours = load_yaml_text(SAMPLE, "x.yaml")
    assert ours == yaml.safe_load(SAMPLE)
    # YAML 1.1: an exponent needs a dot and a sign to be a float.
    assert ours["a"] == "1e-5" and ours["b"] == 1e-05 and ours["c"] == "1.0e5"
    assert ours["d"] is True and ours["e"] is None and ours["f"] == 16


def test_key_lines_are_recorded_top_level_and_nested():
    data = load_yaml_text(SAMPLE, "x.yaml")
    assert key_line(data, "a") == 1
    assert key_line(data, "nested") == 7
    assert key_line(data["nested"], "g") == 8
    assert key_line(data, "absent") == 0


def test_repeated_key_keeps_last_value_and_its_line():
    data = load_yaml_text("k: 1\nother: 0\nk: 2\n", "x.yaml")
    assert data["k"] == 2 and key_line(data, "k") == 3


def test_malformed_yaml_names_file_and_line():
    with pytest.raises(MigrateError) as err:
        load_yaml_text("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
    assert err.value.origin.file == "bad.yaml"
    assert err.value.origin.line >= 2
    assert "malformed YAML" in err.value.message


def test_missing_file_is_migrate_error(tmp_path):
    with pytest.raises(MigrateError, match="not found"):
        load_yaml_file(tmp_path / "nope.yaml")
