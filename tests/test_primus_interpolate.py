"""`${VAR:default}` substitution and each release's coercion rules."""

import pytest

from migrate.diagnostics import MigrateError
from migrate.primus.interpolate import EVERY_STRING, SUBSTITUTED_SCALAR, coerce_python_number, coerce_scalar

# v0.1.0-rc1's and v26.5.1's rules (migrate.primus.releases picks these for them)
coerce_v01, coerce_v26 = coerce_python_number, coerce_scalar
interpolate_v01, interpolate_v26 = EVERY_STRING.apply, SUBSTITUTED_SCALAR.apply
from migrate.primus.yamlio import load_yaml_text


def test_default_used_when_unset_and_env_wins_when_set():
    data = {"a": "${X:7}", "b": "pre-${X:7}-post"}
    assert interpolate_v26(data, {}, "f.yaml") == {"a": 7, "b": "pre-7-post"}
    assert interpolate_v26(data, {"X": "9"}, "f.yaml") == {"a": 9, "b": "pre-9-post"}
    assert interpolate_v01(data, {"X": "9"}, "f.yaml") == {"a": 9, "b": "pre-9-post"}


def test_default_may_contain_colons_and_be_empty():
    assert interpolate_v26({"a": "${U:http://h:1}", "b": "${U:}"}, {}, "f") == {"a": "http://h:1", "b": ""}


def test_unset_variable_without_default_is_error_with_line():
    data = load_yaml_text("ok: 1\npath: ${DATA_DIR}/x\n", "exp.yaml")
    for fn in (interpolate_v01, interpolate_v26):
        with pytest.raises(MigrateError) as err:
            fn(data, {}, "exp.yaml")
        assert "DATA_DIR" in err.value.message
        assert (err.value.origin.file, err.value.origin.line) == ("exp.yaml", 2)


def test_v01_coerces_every_string_even_without_substitution():
    # primus-0.1 runs int()/float() on every string: the YAML string '1e-5' becomes a float.
    assert interpolate_v01({"lr": "1e-5", "n": "42", "s": "cosine", "big": "inf"}, {}, "f") == {
        "lr": 1e-05, "n": 42, "s": "cosine", "big": float("inf")}


def test_v01_does_not_make_booleans_from_strings():
    assert coerce_v01("true") == "true"
    assert coerce_v01("-3") == -3 and coerce_v01("1_000") == 1000.0


def test_v01_interpolates_keys_too():
    assert interpolate_v01({"${K:key}": 1}, {}, "f") == {"key": 1}
    assert interpolate_v26({"${K:key}": 1}, {}, "f") == {"${K:key}": 1}


def test_v26_keeps_plain_strings_that_look_numeric():
    # primus-26.5 converts only strings a substitution changed.
    assert interpolate_v26({"lr": "1e-5", "n": "42", "b": "true"}, {}, "f") == {"lr": "1e-5", "n": "42", "b": "true"}


def test_v26_coerces_substituted_booleans_ints_floats():
    got = interpolate_v26({"a": "${A:True}", "b": "${B:FALSE}", "c": "${C:-4}", "d": "${D:1e-5}",
                           "e": "${E:.5}", "f": "${F:inf}", "g": "${G:yes}"}, {}, "f")
    assert got == {"a": True, "b": False, "c": -4, "d": 1e-05, "e": 0.5, "f": "inf", "g": "yes"}


def test_v26_coercion_table():
    assert coerce_v26("1.") == 1.0 and coerce_v26("1E+3") == 1000.0
    assert coerce_v26("1_000") == "1_000" and coerce_v26("nan") == "nan"


def test_lists_and_nested_mappings_are_walked():
    assert interpolate_v26({"a": ["${X:1}", {"b": "${Y:z}"}]}, {}, "f") == {"a": [1, {"b": "z"}]}
