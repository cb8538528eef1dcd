"""A job written for an older torchtitan, re-expressed at the target's pinned torchtitan.

The ROCm PyTorch training workflow shipped torchtitan from mid-2025 (the generation of 4c4388f6,
the pin of Primus v0.1.0-rc1): `[float8]` and `[mx]` sections, `training.batch_size`,
`checkpoint.enable_checkpoint`, the `float8` converter. torchtitan 73a0e697 (Primus v26.5.1) renamed
or moved these. Every field keeps the value the old run used, defaults included (a default that
changed, such as `job.dump_folder`, is carried as the old one); a field the new pin no longer has
is unmapped when the job changed it from its default (left out, exit 4), else dropped silently.

The renames below were read from both upstream files (and the code that uses them at 4c4388f6:
`training.compile` compiled the model and the loss, as `compile.components` does by default now).
"""

from __future__ import annotations

from migrate.diagnostics import Diagnostics, Origin
from migrate.torchtitan.jobconfig import TitanJob
from migrate.torchtitan.schema import TitanSchema
from migrate.values import same_value

RENAMES: dict[tuple[str, str], dict[str, str]] = {
    ("4c4388f6", "73a0e697"): {
        "training.batch_size": "training.local_batch_size",
        "training.compile": "compile.enable",
        "training.seed": "debug.seed",
        "training.deterministic": "debug.deterministic",
        "checkpoint.enable_checkpoint": "checkpoint.enable",
        "checkpoint.model_weights_only": "checkpoint.last_save_model_only",
        "lr_scheduler.lr_min": "lr_scheduler.min_lr_factor",
        "memory_estimation.enabled": "memory_estimation.enable",
        "float8.enable_fsdp_float8_all_gather": "quantize.linear.float8.enable_fsdp_float8_all_gather",
        "float8.precompute_float8_dynamic_scale_for_fsdp":
            "quantize.linear.float8.precompute_float8_dynamic_scale_for_fsdp",
        "float8.recipe_name": "quantize.linear.float8.recipe_name",
        "float8.filter_fqns": "quantize.linear.float8.filter_fqns",
        "float8.emulate": "quantize.linear.float8.emulate",
        "mx.filter_fqns": "quantize.linear.mx.filter_fqns",
    },
}
# Old fields that only steered logging or tests: dropped whatever their value.
NO_TRAINING_EFFECT = {"job.use_for_integration_test", "job.print_args"}
# Old fields whose meaning has no counterpart at the new pin, whatever their value (always unmapped).
NO_COUNTERPART = {
    "model.tokenizer_path": "the pinned torchtitan reads Hugging Face asset folders (model.hf_assets_path) and "
                            "refuses tokenizer.model files; download the assets (scripts/download_hf_assets.py) "
                            "and set model.hf_assets_path",
}


def can_translate(old: str, new: str) -> bool:
    return old == new or (old, new) in RENAMES


def parse_for_target(target: TitanSchema, parse) -> TitanJob:
    """`parse(schema)` with the target's pin; when that finds unknown names, with an older bundled
    schema this module can translate from (the job was written for that torchtitan). The tables that
    translate to the target are tried first, whatever their names; when none reads the job, the error
    names every bundled table that does."""
    from migrate.diagnostics import MigrateError
    from migrate.torchtitan.schema import bundled_schema_names, load_schema

    try:
        return parse(target)
    except MigrateError as first:
        if not first.message.startswith("unknown "):
            raise
        others = [name for name in bundled_schema_names() if name != target.name]
        readers = []
        for name in sorted(others, key=lambda name: not can_translate(name, target.name)):
            try:
                job = parse(load_schema(name))
            except MigrateError:
                continue
            if can_translate(name, target.name):
                return job
            readers.append(name)
        if readers:
            raise MigrateError(f"the job is written for torchtitan {' or '.join(readers)} (it reads without error "
                               f"there), and its settings cannot be re-expressed at torchtitan {target.name}, the "
                               f"target's pin: {first.message}", origin=first.origin,
                               hint="convert for the Primus release that pins a torchtitan of the job's "
                                    "generation (--target)") from None
        raise


def translate_job(job: TitanJob, target: TitanSchema, diags: Diagnostics) -> tuple[TitanJob, list[dict[str, str]]]:
    """(the job at `target`'s fields, unmapped settings) for a job parsed with an older schema."""
    old = job.schema
    if old.name == target.name:
        return job, []
    renames = RENAMES[(old.name, target.name)]
    old_defaults = old.defaults()
    values = target.defaults()
    origins: dict[str, Origin] = {}
    unmapped: list[dict[str, str]] = []
    for name, value in job.values.items():
        origin = job.origins.get(name)
        new = None if name in NO_COUNTERPART else renames.get(name, name if name in target.fields else None)
        if new is not None:
            values[new] = value
            if origin is not None:
                origins[new] = origin
            elif not same_value(value, target.fields[new].default):
                origins[new] = Origin(f"torchtitan {old.name} default")
            continue
        if name in NO_TRAINING_EFFECT:
            continue
        why = NO_COUNTERPART.get(name)
        if why is None and same_value(value, old_defaults.get(name)):
            continue  # left at its old default and gone at the new pin: nothing to carry
        unmapped.append({"flag": f"{name} {value!r}", "origin": str(origin or f"torchtitan {old.name} default"),
                         "why": why or f"torchtitan {target.name} has no {name}"})
    diags.note("torchtitan-translated", f"the job uses torchtitan {old.name}'s JobConfig; its settings were "
               f"re-expressed at torchtitan {target.name}, the target's pin ({len(renames)} renamed fields known)")
    translated = TitanJob(target, values, origins, job.toml_path, job.diagnostics)
    return translated, unmapped

