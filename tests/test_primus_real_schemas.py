"""The loaders with the bundled schema tables of the pinned Megatron commits (5a676b36, d3528a21)."""

import pytest

from helpers_primus import FIXTURES
from migrate.megatron import load_schema
from migrate.primus import get_profile, resolve_experiment, to_argv
from migrate.primus.to_argv import as_parsed
from migrate.values import same_value
from test_primus_to_argv import replay

# The measured Llama 3 differences: Primus preset value vs Megatron argparse default.
# Preset values: primus/configs/...@v0.1.0-rc1 and @v26.5.1 (see test_primus_presets.py);
# defaults: megatron/training/arguments.py at each pin.
DIFFERENCES = {
    "lr_warmup_iters": (40, 0), "weight_decay": (0.0, 0.01), "rotary_base": (500000, 10000),
    "attention_softmax_in_fp32": (True, False), "use_distributed_optimizer": (True, False),
    "eval_iters": (0, 100), "finetune": (True, False), "exit_on_missing_checkpoint": (True, False),
}


def _fixture(target):
    return resolve_experiment(FIXTURES / "primus" / target / "llama3_8B-pretrain.yaml", get_profile(target), env={})


@pytest.mark.parametrize("target,pin", [("primus-0.1", "5a676b36"), ("primus-26.5", "d3528a21")])
def test_llama3_preset_values_differ_from_megatron_defaults(target, pin):
    defaults = load_schema(pin).defaults()
    resolved = _fixture(target)
    for dest, (primus, megatron) in DIFFERENCES.items():
        assert same_value(defaults[dest], megatron), dest
        assert same_value(resolved.values[dest], primus), dest


def test_26_5_fills_every_dest_and_keeps_the_rest_aside():
    schema = load_schema("d3528a21")
    resolved = _fixture("primus-26.5")
    assert set(resolved.values) == set(schema.defaults())
    assert not set(resolved.primus_only) & set(resolved.values)
    untouched = [d for d in schema.defaults() if d not in resolved.origins]
    assert untouched and all(same_value(resolved.values[d], schema.defaults()[d]) for d in untouched)


def test_26_5_norm_epsilon_is_inert_layernorm_epsilon_is_real(tmp_path):
    schema = load_schema("d3528a21")
    assert "norm_epsilon" not in schema.defaults() and "layernorm_epsilon" in schema.defaults()
    text = (FIXTURES / "primus/primus-26.5/llama3_8B-pretrain.yaml").read_text()
    exp = tmp_path / "exp.yaml"
    exp.write_text(text.replace("      mock_data: true\n", "      mock_data: true\n      norm_epsilon: 1.0e-06\n"))
    resolved = resolve_experiment(exp, get_profile("primus-26.5"), env={})
    assert resolved.primus_only["norm_epsilon"] == 1.0e-06
    assert resolved.values["layernorm_epsilon"] == schema.defaults()["layernorm_epsilon"]
    exp.write_text(text.replace("      mock_data: true\n", "      mock_data: true\n      layernorm_epsilon: 1.0e-06\n"))
    assert resolve_experiment(exp, get_profile("primus-26.5"), env={}).values["layernorm_epsilon"] == 1.0e-06


def test_0_1_norm_epsilon_is_the_megatron_dest():
    assert "norm_epsilon" in load_schema("5a676b36").defaults()
    assert _fixture("primus-0.1").values["norm_epsilon"] == 1.0e-05  # llama3_base.yaml@v0.1.0-rc1


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_to_argv_round_trips_through_the_replayed_parser(target):
    profile = get_profile(target)
    schema = profile.schema()
    resolved = _fixture(target)
    skipped: list[str] = []
    argv = to_argv(resolved.values, schema, skipped)
    parsed = vars(replay(schema).parse_args(argv))
    plain = {s.dest for s in schema.options if s.type in (None, "int", "float", "str")}
    checked = [d for d in resolved.values if d in plain and d not in skipped]
    assert len(checked) > 300
    for dest in checked:
        assert same_value(parsed[dest], as_parsed(schema.by_dest[dest][0], resolved.values[dest])), dest


def test_to_argv_leaves_out_choices_the_pinned_parser_rejects():
    # llama3_8B.yaml@v0.1.0-rc1 says tokenizer_type: Llama3Tokenizer, not a --tokenizer-type choice at 5a676b36
    schema = load_schema("5a676b36")
    skipped: list[str] = []
    argv = to_argv({"tokenizer_type": "Llama3Tokenizer", "cp_comm_type": "p2p"}, schema, skipped)
    assert argv == [] and skipped == ["tokenizer_type"]  # 'p2p' is what the default ['p2p'] already gives
