"""Options an entry script adds through `extra_args_provider` (Schema.for_entry).

The synthetic checkout below is plain Python with no Megatron dependency, so the
expectations come from running its own parser-building code under argparse.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

from migrate.diagnostics import Diagnostics, MigrateError
from migrate.megatron import load_schema, parse_argv, translate
from migrate.megatron.argv import argparse_defaults
from migrate.megatron.extract import extract_schema

from helpers_megatron import write_tree

ARGUMENTS = """
    import argparse

    def parse_args(extra_args_provider=None, ignore_unknown_args=False):
        parser = argparse.ArgumentParser(description='x', allow_abbrev=False)
        parser = _add_base_args(parser)
        if extra_args_provider is not None:
            parser = extra_args_provider(parser)
        return parser

    def _add_base_args(parser):
        group = parser.add_argument_group(title='base')
        group.add_argument('--tokenizer-type', type=str, default=None, choices=['A', 'B'])
        group.add_argument('--rotary-base', type=int, default=10000)
        group.add_argument('--hidden-size', type=int, default=None)
        group.add_argument('--flag', action='store_true')
        return parser

    def get_patch_args(parser):
        group = parser.add_argument_group(title='patch')
        for action in vars(group)['_actions']:
            if isinstance(action, argparse._StoreAction):
                if '--tokenizer-type' in action.option_strings:
                    action.default = 'B'
                    action.choices.append('C')
        for action in vars(group)['_actions']:
            if isinstance(action, argparse._StoreAction):
                if '--flag' in action.option_strings:
                    action.default = True
        has_rotary_base = False
        has_width = False
        for action in parser._actions:
            if '--rotary-base' in action.option_strings:
                has_rotary_base = True
            if '--width' in action.option_strings:
                has_width = True
        if not has_rotary_base:
            group.add_argument('--rotary-base', type=int, default=1)
        if not has_width:
            group.add_argument('--width', type=int, default=7)
        group.add_argument('--enable-shared-expert', action='store_true')
        group.add_argument('--hidden-size-alias', dest='hidden_size', type=int, default=3)
        return parser
"""

ENTRY_IMPORTED = """
    from megatron.training import pretrain
    from megatron.training.arguments import get_patch_args

    if __name__ == "__main__":
        pretrain(None, None, None, None, extra_args_provider=get_patch_args)
"""

ENTRY_LOCAL = """
    from megatron.training.initialize import initialize_megatron

    def add_local_args(parser):
        group = parser.add_argument_group(title='local')
        group.add_argument('--local-knob', type=float, default=0.5)
        return parser

    initialize_megatron(extra_args_provider=add_local_args)
"""


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    return write_tree(tmp_path, {
        "megatron/training/arguments.py": ARGUMENTS,
        "examples/deep/pretrain_deep.py": ENTRY_IMPORTED,
        "tools/serve_local.py": ENTRY_LOCAL,
        "pretrain_plain.py": "from megatron.training import pretrain\npretrain(None, None, None, None)\n",
    })


def _real_parser(root: Path, provider: str | None) -> argparse.ArgumentParser:
    spec = importlib.util.spec_from_file_location("synthetic_arguments", root / "megatron/training/arguments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.parse_args(getattr(module, provider) if provider else None)


def test_entries_map_to_their_providers(checkout):
    schema = extract_schema(checkout, name="synthetic")
    assert schema.entries == {"examples/deep/pretrain_deep.py": ["get_patch_args"],
                              "tools/serve_local.py": ["add_local_args"]}
    assert schema.entry_providers("pretrain_deep.py") == ["get_patch_args"]
    assert schema.entry_providers("/somewhere/examples/deep/pretrain_deep.py") == ["get_patch_args"]
    assert schema.entry_providers("pretrain_plain.py") == []
    assert schema.entry_providers(None) == []
    assert schema.for_entry("pretrain_plain.py") is schema


def test_entry_schema_matches_argparse_defaults_and_options(checkout):
    schema = extract_schema(checkout, name="synthetic").for_entry("examples/deep/pretrain_deep.py")
    parser = _real_parser(checkout, "get_patch_args")
    truth = vars(parser.parse_args([]))
    assert argparse_defaults(schema) == truth  # edited defaults, first registration of hidden_size wins
    real_options = {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}
    assert set(schema.by_option) == real_options  # --rotary-base not re-added, --width added
    real_choices = next(a.choices for a in parser._actions if "--tokenizer-type" in a.option_strings)
    assert list(schema.by_option["--tokenizer-type"].choices) == real_choices


def test_entry_schema_survives_json(checkout):
    from migrate.megatron.schema import Schema

    schema = extract_schema(checkout, name="synthetic")
    again = Schema.from_json(schema.to_json())
    assert argparse_defaults(again.for_entry("pretrain_deep.py")) == argparse_defaults(schema.for_entry("pretrain_deep.py"))
    assert again.entries == schema.entries


def test_local_provider_of_an_entry_script(checkout):
    schema = extract_schema(checkout, name="synthetic").for_entry("tools/serve_local.py")
    assert schema.by_option["--local-knob"].default == 0.5
    assert schema.provided_by == {"local_knob": "add_local_args"}


# ---- the bundled rocm_dev schema and the DeepSeek entry

DEEPSEEK = "examples/deepseek_v2/pretrain_deepseek.py"


def test_rocm_dev_deepseek_entry_accepts_its_options():
    schema = load_schema("rocm_dev").for_entry("pretrain_deepseek.py")
    parsed = parse_argv(schema, ["--enable-shared-expert", "--num-shared-experts", "2", "--qk-rope-head-dim", "64"])
    assert parsed.args["enable_shared_expert"] is True and parsed.args["num_shared_experts"] == 2
    # facts of get_patch_args in rocm_dev's arguments.py
    assert parsed.args["tokenizer_type"] == "NullTokenizer" and parsed.args["vocab_size"] == -1
    assert "hybridadam" in schema.by_option["--optimizer"].choices
    assert schema.by_option["--rotary-base"].default == 10000  # already registered; not added again
    assert parsed.args["repetition_penalty"] == 1.1  # --repetition_penalty registers the dest first
    assert load_schema(schema.name) is schema


def test_rocm_dev_pretrain_gpt_rejects_deepseek_entry_options():
    schema = load_schema("rocm_dev").for_entry("pretrain_gpt.py")
    assert schema is load_schema("rocm_dev")
    with pytest.raises(MigrateError) as err:
        parse_argv(schema, ["--enable-shared-expert"])
    assert "--enable-shared-expert" in err.value.message
    assert load_schema("rocm_dev").entries[DEEPSEEK] == ["get_patch_args"]


def _deepseek(argv: list[str], target: str = "d3528a21"):
    diags = Diagnostics()
    legacy = parse_argv(load_schema("rocm_dev").for_entry(DEEPSEEK), argv, diags)
    return translate(legacy, load_schema(target), diags), diags


def test_restating_mla_options_carry_nothing_over():
    out, diags = _deepseek(["--qk-nope-head-dim", "128", "--qk-rope-head-dim", "64"])
    assert not out.dropped
    assert (out.args["qk_head_dim"], out.args["qk_pos_emb_head_dim"]) == (128, 64)
    assert any(d.code == "megatron-option-restated" for d in diags)


def test_mla_option_that_disagrees_with_the_base_option_is_unmapped():
    out, diags = _deepseek(["--qk-rope-head-dim", "32"])
    assert "qk_rope_head_dim" in out.dropped
    assert out.args["qk_pos_emb_head_dim"] == 64  # what the rocm_dev MLA used
    assert any("ROCm DeepSeek entry option" in d.message for d in diags)


def test_shared_experts_restated_by_the_intermediate_size():
    argv = ["--moe-ffn-hidden-size", "1408", "--moe-shared-expert-intermediate-size", "2816",
            "--enable-shared-expert", "--num-shared-experts", "2"]
    out, _ = _deepseek(argv)
    assert not out.dropped and out.args["moe_shared_expert_intermediate_size"] == 2816
    out, _ = _deepseek(["--moe-ffn-hidden-size", "1408", "--enable-shared-expert", "--num-shared-experts", "2"])
    assert set(out.dropped) == {"enable_shared_expert", "num_shared_experts"}
    assert out.args["moe_shared_expert_intermediate_size"] is None


def test_entry_option_without_counterpart_is_reported_not_dropped_silently():
    out, diags = _deepseek(["--train-mode", "finetune"], target="5a676b36")
    assert "train_mode" in out.dropped
    assert any("no equivalent in Megatron-LM 5a676b36" in d.message and "ROCm DeepSeek entry option" in d.message
               for d in diags)


def test_entry_default_edits_keep_the_legacy_value():
    out, _ = _deepseek([])
    assert out.args["tokenizer_type"] == "NullTokenizer"


@pytest.mark.parametrize("target", ["5a676b36", "d3528a21"])
def test_deepseek_entry_differences_all_have_rules(target):
    from migrate.megatron.translate import uncovered_differences

    assert uncovered_differences(load_schema("rocm_dev").for_entry(DEEPSEEK), load_schema(target)) == []


# ---- the DeepSeek-V2 fixture (entry pretrain_deepseek.py, as the real train_deepseekv2.sh)

FIXTURE = Path(__file__).parent.parent / "fixtures/scripts/rocm/train_deepseekv2.sh"


# Converting it is refused at both targets (the entry builds its own DeepSeek-V2 layer, see
# migrate/entries/deepseek_v2.py): tests/test_entries.py.


def test_inspect_args_view_parses_with_the_entry_options():
    from migrate.megatron.view import args_view
    from migrate.shell import evaluate_script

    view = args_view(evaluate_script(FIXTURE, {}, []))
    assert view["schema"] == "rocm_dev+get_patch_args"
    assert view["args"]["num_shared_experts"] == 2 and view["args"]["enable_shared_expert"] is True


def test_schema_file_paths_with_a_plus_are_still_paths(tmp_path):
    with pytest.raises(MigrateError) as err:
        load_schema(str(tmp_path / "a+b" / "missing.json"))
    assert "not found" in err.value.message
