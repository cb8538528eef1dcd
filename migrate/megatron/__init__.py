"""Launch plan → Megatron effective arguments.

`load_schema(name)` gives a version's option table, `parse_argv` reads an argv
as that version's argparse would, `derive` applies validate_args' value
derivations, `translate` re-expresses a legacy run at another version.
"""

from migrate.megatron.args import MegatronArgs
from migrate.megatron.argv import parse_argv
from migrate.megatron.derive import derive
from migrate.megatron.schema import OptionSpec, Schema, bundled_schema_names, load_schema
from migrate.megatron.translate import schema_differences, translate
from migrate.megatron.view import args_view, render_args_table, world_size_of

__all__ = [
    "MegatronArgs",
    "OptionSpec",
    "args_view",
    "render_args_table",
    "world_size_of",
    "Schema",
    "bundled_schema_names",
    "derive",
    "load_schema",
    "parse_argv",
    "schema_differences",
    "translate",
]
