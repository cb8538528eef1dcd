"""check_static_parity on hand-built resolved configs."""

from __future__ import annotations

from types import SimpleNamespace

from helpers_emit import SCHEMA_DEFAULTS, FakeResolved, derive
from migrate.conversion import static_parity as static
from migrate.conversion.static_parity import check_static_parity


class _Schema:
    def defaults(self):
        return dict(SCHEMA_DEFAULTS)


class _Profile:  # a Profile's name, schema and release rules (none of its dests ignored)
    name = "fake"

    def __init__(self):
        self.rules = SimpleNamespace(ignored_dests={})

    def schema(self):
        return _Schema()


def _expected(**kw):
    return derive({**SCHEMA_DEFAULTS, **kw})


def test_equal_after_derivation_is_parity():
    expected = _expected(hidden_size=4096, num_attention_heads=32)
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "hidden_size": 4096, "num_attention_heads": 32,
                             "ffn_hidden_size": 16384}, {}, {})
    result = check_static_parity(expected, resolved, _Profile(), derive=derive)
    assert result.ok and result.differences == []


def test_difference_is_named_with_both_values():
    expected = _expected(lr_warmup_iters=0)
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "lr_warmup_iters": 40}, {}, {})
    result = check_static_parity(expected, resolved, _Profile(), derive=derive)
    assert not result.ok
    assert result.differences == [("lr_warmup_iters", 0, 40)]
    assert "lr_warmup_iters: 0 -> 40" in result.format()


def test_bool_is_not_int():
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "bf16": 0}, {}, {})
    result = check_static_parity(_expected(), resolved, _Profile(), derive=derive)
    assert [d for d, _, _ in result.differences] == ["bf16"]


def test_absent_dest_takes_default_and_is_listed():
    values = {k: v for k, v in SCHEMA_DEFAULTS.items() if k != "eval_iters"}
    result = check_static_parity(_expected(), FakeResolved(values, {}, {}), _Profile(), derive=derive)
    assert result.ok and result.absent == ["eval_iters"]
    result = check_static_parity(_expected(eval_iters=5), FakeResolved(values, {}, {}), _Profile(), derive=derive)
    assert not result.ok


def test_documented_primus_only_keys_are_ignored():
    profile = _Profile()
    profile.rules = SimpleNamespace(ignored_dests={"eval_iters": "test"})  # a release's documented list
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "eval_iters": 3}, {}, {})
    result = check_static_parity(_expected(), resolved, profile, derive=derive)
    assert result.ok and result.ignored == ["eval_iters"]


def test_json_form():
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "lr": 1.0}, {}, {})
    data = check_static_parity(_expected(), resolved, _Profile(), derive=derive).to_json()
    assert data["ok"] is False and data["differences"][0] == {"dest": "lr", "expected": None, "resolved": 1.0,
                                                               "absent": False, "from": None}


def test_runtime_evaluated_defaults_are_not_compared():
    marker = {"unevaluated": "int(os.getenv('LOCAL_RANK', '0'))"}
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "eval_iters": {"unevaluated": "other"}}, {}, {})
    result = check_static_parity({**_expected(), "eval_iters": marker}, resolved, _Profile(), derive=derive)
    assert result.ok and "eval_iters" in result.ignored


def test_the_diff_names_where_the_primus_value_came_from():
    from migrate.diagnostics import Origin

    resolved = FakeResolved({**SCHEMA_DEFAULTS, "lr_warmup_iters": 40},
                            {"lr_warmup_iters": Origin("pre_trainer.yaml", 12)}, {})
    result = check_static_parity(_expected(), resolved, _Profile(), derive=derive)
    assert "lr_warmup_iters: 0 -> 40  (from pre_trainer.yaml:12)" in result.format()


def test_rampup_batch_size_strings_and_ints_are_the_same_run(monkeypatch):
    monkeypatch.setitem(SCHEMA_DEFAULTS, "rampup_batch_size", None)
    expected = {**_expected(), "rampup_batch_size": ["16", "16", "5859375"]}
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "rampup_batch_size": [16, 16, 5859375]}, {}, {})
    assert check_static_parity(expected, resolved, _Profile(), derive=derive).ok
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "rampup_batch_size": [16, 32, 5859375]}, {}, {})
    assert not check_static_parity(expected, resolved, _Profile(), derive=derive).ok


def test_trainer_rewrites_are_part_of_what_trains():
    resolved = FakeResolved({**SCHEMA_DEFAULTS, "tokenizer_type": "HuggingFaceTokenizer"}, {}, {})
    resolved.trainer_rewrites = {"tokenizer_type": ("HuggingFaceTokenizer", "NullTokenizer", "mock_data_rule")}
    expected = _expected(tokenizer_type="HuggingFaceTokenizer")
    result = check_static_parity(expected, resolved, _Profile(), derive=derive)
    assert not result.ok and result.origins["tokenizer_type"] == "<fake trainer: mock_data_rule>"
    resolved.rewrites_applied = True  # values already rewritten: not applied twice
    assert check_static_parity(expected, resolved, _Profile(), derive=derive).ok
