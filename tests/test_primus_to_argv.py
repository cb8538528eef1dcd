"""Resolved values -> Megatron argv, checked by replaying the schema into a real argparse parser."""

import argparse

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers_primus import schema_d3528a21
from migrate.megatron.schema import Schema
from migrate.primus import to_argv
from migrate.values import same_value

TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def replay(schema: Schema) -> argparse.ArgumentParser:
    """An argparse parser built from the schema's facts (what Megatron's parser would be)."""
    parser = argparse.ArgumentParser(allow_abbrev=False)
    for spec in schema.options:
        action = argparse.BooleanOptionalAction if spec.action == "boolean_optional" else spec.action
        kwargs = {"dest": spec.dest, "action": action, "default": spec.default}
        if spec.action == "boolean_optional":
            parser.add_argument(spec.option_strings[0], **kwargs)  # argparse adds the --no- twin itself
            continue
        if spec.action in ("store", "append"):
            kwargs["type"] = TYPES.get(spec.type or "str", str)
            if spec.nargs is not None:
                kwargs["nargs"] = spec.nargs
            if spec.choices is not None and spec.type in (None, "int", "float", "str"):
                kwargs["choices"] = spec.choices
        if spec.action == "store_const":
            kwargs["const"] = spec.const
        parser.add_argument(*spec.option_strings, **kwargs)
    return parser


def test_only_changed_dests_in_schema_order():
    schema = schema_d3528a21()
    values = {"rotary_base": 500000, "num_layers": 32, "eval_iters": 100, "sequence_parallel": True,
              "masked_softmax_fusion": False, "lr": 3e-4, "not_a_dest": 1}
    assert to_argv(values, schema) == ["--num-layers", "32", "--lr", "0.0003", "--rotary-base", "500000",
                                       "--sequence-parallel", "--no-masked-softmax-fusion"]


def test_lists_and_inexpressible_values():
    schema = schema_d3528a21()
    skipped = []
    argv = to_argv({"data_path": ["a", "b"], "eval_interval": None, "finetune": False}, schema, skipped)
    assert argv == ["--data-path", "a", "b"]
    assert skipped == ["eval_interval"]  # None cannot be written as a flag; finetune=False is the default


def test_values_the_option_type_rejects_are_skipped_not_written():
    # trainer_base.yaml@v0.1.0-rc1 really says `replication_factor: int`; argparse type=int would reject it
    skipped = []
    assert to_argv({"num_layers": "int", "lr": "1e-5", "eval_iters": True}, schema_d3528a21(), skipped) == [
        "--lr", "1e-5"]
    assert skipped == ["num_layers", "eval_iters"]


def test_round_trip_of_resolved_llama3_values():
    from helpers_primus import FIXTURES, snapshot_profile
    from migrate.primus import resolve_experiment

    profile = snapshot_profile("primus-26.5")
    resolved = resolve_experiment(FIXTURES / "primus/primus-26.5/llama3_8B-pretrain.yaml", profile, env={})
    schema = profile.schema()
    skipped = []
    argv = to_argv(resolved.values, schema, skipped)
    parsed = vars(replay(schema).parse_args(argv))
    for dest in schema.defaults():
        if dest not in skipped:
            assert same_value(parsed[dest], resolved.values[dest]), dest


values_strategy = st.fixed_dictionaries({}, optional={
    "num_layers": st.integers(1, 200),
    "lr": st.floats(1e-9, 1.0, allow_nan=False),
    "weight_decay": st.floats(0, 1, allow_nan=False),
    "lr_decay_style": st.sampled_from(["constant", "linear", "cosine"]),
    "sequence_parallel": st.booleans(),
    "masked_softmax_fusion": st.booleans(),
    "data_path": st.lists(st.text("abc/._", min_size=1, max_size=8).filter(lambda s: not s.startswith("-")),
                          min_size=1, max_size=3),
    "split": st.sampled_from(["99,1,0", "100,0,0"]),
})


@settings(max_examples=60, deadline=None)
@given(values_strategy)
def test_round_trip_property(values):
    schema = schema_d3528a21()
    parsed = vars(replay(schema).parse_args(to_argv(values, schema)))
    for dest, value in values.items():
        assert same_value(parsed[dest], value), dest


def test_boolean_optional_and_type_bool():
    from migrate.megatron.schema import OptionSpec

    schema = Schema("t", "", [
        OptionSpec(("--prefix-caching", "--no-prefix-caching"), "prefix_caching", action="boolean_optional", default=True),
        OptionSpec(("--onnx-safe",), "onnx_safe", type="bool"),
    ])
    assert to_argv({"prefix_caching": False, "onnx_safe": True}, schema) == ["--no-prefix-caching", "--onnx-safe", "True"]
    parsed = vars(replay(schema).parse_args(to_argv({"prefix_caching": False, "onnx_safe": False}, schema)))
    assert parsed == {"prefix_caching": False, "onnx_safe": False}
