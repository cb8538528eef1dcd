"""The schema extractor, on small arguments.py files written for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.diagnostics import MigrateError
from migrate.megatron.extract import extract_schema

from helpers_megatron import write_tree


OLD_STYLE = """
    import argparse
    import os

    SCALE = 4

    def parse_args(extra_args_provider=None, ignore_unknown_args=False):
        parser = argparse.ArgumentParser(description='x', allow_abbrev=False)
        parser = _add_size_args(parser)
        parser = _add_train_args(parser)
        return parser.parse_args()

    def _add_size_args(parser):
        group = parser.add_argument_group(title='network size')
        group.add_argument('--num-layers', type=int, default=None, help='n')
        group.add_argument('--hidden-size', type=int, default=SCALE * 1024)
        group.add_argument('--norm-epsilon', type=float, default=1e-5)
        group.add_argument('--no-masked-softmax-fusion', action='store_false',
                           dest='masked_softmax_fusion')
        group.add_argument('--swiglu', action='store_true'),
        group.add_argument('--position-embedding-type', type=str, default='learned_absolute',
                           choices=['learned_absolute', 'rope'])
        return parser

    def _add_train_args(parser):
        group = parser.add_argument_group(title='training')
        group.add_argument('--data-path', nargs='*', default=None)
        group.add_argument('--local-rank', type=int, default=int(os.getenv('LOCAL_RANK', '0')))
        group.add_argument('--verbosity', choices=range(0, 3), default=-1, type=int)
        group.add_argument('--seed', type=int, default=1234, dest='seed')
        group.add_argument('--tag', action='append')
        return parser

    def _add_unused_args(parser):
        group = parser.add_argument_group(title='never called')
        group.add_argument('--never', action='store_true')
        return parser
"""


def test_old_style_group_functions(tmp_path):
    root = write_tree(tmp_path, {"megatron/training/arguments.py": OLD_STYLE})
    schema = extract_schema(root, name="tiny")
    by = schema.by_option
    assert [o.option_strings[0] for o in schema.options][:3] == ["--num-layers", "--hidden-size", "--norm-epsilon"]
    assert by["--num-layers"].dest == "num_layers" and by["--num-layers"].type == "int"
    assert by["--num-layers"].group == "network size"
    assert by["--hidden-size"].default == 4096  # a module constant times a literal
    assert by["--norm-epsilon"].default == 1e-5 and by["--norm-epsilon"].type == "float"
    spec = by["--no-masked-softmax-fusion"]
    assert (spec.dest, spec.action, spec.default, spec.const) == ("masked_softmax_fusion", "store_false", True, False)
    assert (by["--swiglu"].action, by["--swiglu"].default) == ("store_true", False)  # despite the stray comma
    assert by["--position-embedding-type"].choices == ("learned_absolute", "rope")
    assert by["--data-path"].nargs == "*"
    assert by["--local-rank"].default == {"unevaluated": "int(os.getenv('LOCAL_RANK', '0'))"}
    assert by["--verbosity"].choices == (0, 1, 2) and by["--verbosity"].default == -1
    assert by["--tag"].action == "append"
    assert "--never" not in by  # not reachable from parse_args


DATACLASS_STYLE = {
    "megatron/__init__.py": "",
    "megatron/core/__init__.py": "",
    "megatron/core/enums.py": """
        import enum
        class Backend(enum.Enum):
            flash = 1
            auto = 5
    """,
    "megatron/core/base_config.py": """
        from dataclasses import dataclass, field
        @dataclass
        class BaseConfig:
            tensor_model_parallel_size: int = 1
            perform_initialization: bool = field(
                default=True, metadata={"argparse_meta": {"arg_names": ["--no-initialization"]}})
            sequence_parallel: bool = False
    """,
    "megatron/core/config/__init__.py": "from .model import ModelConfig\n",
    "megatron/core/config/model.py": """
        from dataclasses import dataclass, field
        from typing import Callable, List, Literal, Optional, Union
        from ..base_config import BaseConfig
        from ..enums import Backend

        @dataclass
        class ModelConfig(BaseConfig):
            num_layers: int = field(default=0, metadata={"argparse_meta": {"default": None}})
            layernorm_epsilon: float = field(
                default=1e-5, metadata={"argparse_meta": {"arg_names": ["--norm-epsilon"]}})
            add_bias_linear: bool = field(
                default=True, metadata={"argparse_meta": {"arg_names": ["--disable-bias-linear"]}})
            fp8: Optional[Literal['e4m3', 'hybrid']] = field(
                default=None, metadata={"argparse_meta": {"arg_names": ["--fp8-format"]}})
            normalization: Literal['LayerNorm', 'RMSNorm'] = 'LayerNorm'
            fused: bool = True
            maybe: Optional[bool] = None
            ranks: list[int] = field(default_factory=list)
            offsets: int | None = None
            backend: Backend = Backend.auto
            activation: Callable = None
            freq: Union[int, List[int]] = field(default=1, metadata={"argparse_meta": {"type": int}})
            hidden: int = field(default=0, init=False)
            sequence_parallel: bool = True
    """,
    "megatron/training/__init__.py": "",
    "megatron/training/argument_utils.py": "class ArgumentGroupFactory:\n    pass\n",
    "megatron/training/arguments.py": """
        import argparse
        from megatron.core.config import ModelConfig
        from megatron.training.argument_utils import ArgumentGroupFactory

        def add_megatron_arguments(parser: argparse.ArgumentParser):
            parser = _add_network_size_args(parser)
            parser = _add_misc_args(parser)
            return parser

        def _add_network_size_args(parser):
            exclude = ["activation"]
            factory = ArgumentGroupFactory(ModelConfig, exclude=exclude)
            group = factory.build_group(parser, "transformer configuration")
            group = parser.add_argument_group(title='network size')
            group.add_argument('--swiglu', action='store_true')
            return parser

        def _add_misc_args(parser):
            group = parser.add_argument_group(title='misc')
            group.add_argument('--wandb-logging', action=argparse.BooleanOptionalAction, default=False)
            try:
                from somewhere import HAVE_X
            except ImportError:
                HAVE_X = False
            if HAVE_X:
                group.add_argument('--x-only', type=int, default=3)
            return parser
    """,
}


def test_dataclass_generated_groups_are_followed_statically(tmp_path):
    root = write_tree(tmp_path, DATACLASS_STYLE)
    schema = extract_schema(root, name="dc")
    by = schema.by_option
    # base-class fields come first, in dataclasses.fields() order
    assert [o.dest for o in schema.options][:3] == ["tensor_model_parallel_size", "perform_initialization",
                                                     "sequence_parallel"]
    assert by["--tensor-model-parallel-size"].type == "int"
    assert (by["--no-initialization"].action, by["--no-initialization"].dest) == ("store_false", "perform_initialization")
    # an overriding field keeps its slot but takes the subclass default (store_false now)
    assert by["--no-sequence-parallel"].default is True and "--sequence-parallel" not in by
    assert by["--num-layers"].default is None
    spec = by["--norm-epsilon"]
    assert (spec.dest, spec.type, spec.default) == ("layernorm_epsilon", "float", 1e-5)
    spec = by["--disable-bias-linear"]
    assert (spec.dest, spec.action, spec.default) == ("add_bias_linear", "store_false", True)
    spec = by["--fp8-format"]
    assert (spec.dest, spec.type, spec.choices, spec.default) == ("fp8", "str", ("e4m3", "hybrid"), None)
    assert by["--normalization"].choices == ("LayerNorm", "RMSNorm")
    # bool defaulting to True: --no-X and --disable-X
    assert by["--no-fused"].option_strings == ("--no-fused", "--disable-fused")
    # Optional[bool] = None is not == False, so argparse gets store_false (Megatron's own quirk)
    assert by["--no-maybe"].action == "store_false" and by["--no-maybe"].default is None
    assert (by["--ranks"].nargs, by["--ranks"].type, by["--ranks"].default) == ("+", "int", [])
    assert by["--offsets"].type == "int"
    assert (by["--backend"].type, by["--backend"].choices, by["--backend"].default) == (
        "enum:Backend", ("flash", "auto"), "auto")
    assert "--activation" not in by  # excluded
    assert by["--freq"].type == "int"  # argparse_meta rescues a Union
    assert "--hidden" not in by  # init=False
    assert by["--swiglu"].group == "network size"
    assert by["--num-layers"].group == "transformer configuration"
    wandb = by["--wandb-logging"]
    assert wandb.action == "boolean_optional" and wandb.option_strings == ("--wandb-logging", "--no-wandb-logging")
    assert by["--x-only"].condition == "HAVE_X"


def test_checkout_without_arguments_py_is_a_clear_error(tmp_path):
    with pytest.raises(MigrateError, match="arguments.py") as info:
        extract_schema(tmp_path)
    assert "Megatron-LM checkout" in (info.value.hint or "")


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(MigrateError, match="not a directory"):
        extract_schema(tmp_path / "nope")


def test_arguments_py_without_entry_point_is_an_error(tmp_path):
    root = write_tree(tmp_path, {"megatron/training/arguments.py": "def something():\n    pass\n"})
    with pytest.raises(MigrateError, match="no add_argument calls"):
        extract_schema(root)


def test_schema_command_writes_a_loadable_schema(tmp_path, cli):
    from migrate.megatron import load_schema, parse_argv

    root = write_tree(tmp_path / "fork", {"megatron/training/arguments.py": OLD_STYLE})
    out = tmp_path / "fork.json"
    result = cli("schema", "--megatron-path", root, "-o", out, "--name", "myfork")
    assert result.code == 0, result.err
    schema = load_schema(str(out))
    assert schema.name == "myfork"
    assert parse_argv(schema, ["--hidden-size", "8"]).args["hidden_size"] == 8
    again = cli("schema", "--megatron-path", root, "-o", out)
    assert again.code == 2 and "--force" in again.err
    assert cli("schema", "--megatron-path", root, "-o", out, "--force").code == 0


def test_schema_command_without_checkout_is_a_clean_error(tmp_path, cli):
    result = cli("schema", "--megatron-path", tmp_path)
    assert result.code == 2 and "arguments.py" in result.err and "Traceback" not in result.err
