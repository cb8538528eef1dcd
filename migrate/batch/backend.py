"""The conversion machinery a batch worker calls, behind one small seam.

`PipelineBackend` is the real thing (`convert_script`, `evaluate_script`, the
Primus loader and static parity). Tests hand the batch a fake with the same
four methods, so the batch logic (variants, layout, isolation, reports) is
tested without the whole pipeline. Everything heavy is imported lazily and
cached per process: a worker loads the schemas and presets once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Union

from migrate.primus.profiles import DEFAULT_TARGET
from migrate.shell.plan import LaunchPlan

if TYPE_CHECKING:  # the conversion machinery is imported by the methods that use it (a worker loads it once)
    from migrate.pipeline import Conversion
    from migrate.torchtitan.batch import BatchConversion

# What `convert` gives the worker: a Megatron-LM conversion, or a torchtitan job's (the same attributes)
Converted = Union["Conversion", "BatchConversion"]


@dataclass(frozen=True)
class ConvertSettings:
    """The per-batch conversion settings a worker needs (picklable)."""

    target: str = DEFAULT_TARGET
    gpus_per_node: int = 8
    legacy_schema: str | None = None  # None: chosen per script (migrate.megatron.schema_choice)
    primus_path: str | None = None
    strict: bool = False
    accept_null_tokenizer: bool = False  # see ConvertOptions.accept_null_tokenizer
    script_args: tuple[str, ...] = ()  # the script's positional arguments (batch --script-args), per script
    entry_as: str | None = None  # see ConvertOptions.entry_as
    assume_exists: tuple[str, ...] = ()  # see ConvertOptions.assume_exists


class Backend(Protocol):
    def evaluate(self, script: str, env: dict[str, str], settings: ConvertSettings) -> LaunchPlan: ...

    def convert(self, script: str, env: dict[str, str], name: str, settings: ConvertSettings) -> Converted: ...

    def recheck(self, experiment: Path, expected: Mapping[str, Any],
                settings: ConvertSettings) -> tuple[bool, list[list[Any]]]: ...

    def warm_up(self, settings: ConvertSettings) -> None: ...

    def dest_of(self, flag: str, settings: ConvertSettings) -> str | None: ...


class PipelineBackend:
    """Calls the real pipeline. Stateless apart from per-process caches, so it pickles."""

    def evaluate(self, script: str, env: dict[str, str], settings: ConvertSettings) -> LaunchPlan:
        from migrate.shell import EvalOptions, evaluate_script

        return evaluate_script(script, env=env, args=settings.script_args,
                               options=EvalOptions(gpus_per_node=settings.gpus_per_node,
                                                   assume_exists=settings.assume_exists,
                                                   inputs_root=os.getcwd()))  # the batch root (worker._inside)

    def convert(self, script: str, env: dict[str, str], name: str, settings: ConvertSettings) -> Converted:
        from migrate.pipeline import ConvertOptions, convert_script

        options = ConvertOptions(
            target=settings.target,
            name=name,
            strict=settings.strict,
            gpus_per_node=settings.gpus_per_node,
            legacy_schema=settings.legacy_schema,
            primus_path=settings.primus_path,
            accept_null_tokenizer=settings.accept_null_tokenizer,
            entry_as=settings.entry_as,
            assume_exists=settings.assume_exists,
            inputs_root=os.getcwd(),  # the batch root: scripts are converted from there (worker._inside)
            render_reports=False,  # the batch drops each conversion's own report (worker.DROPPED_FILES)
        )
        from migrate.torchtitan.cli import TorchtitanLaunch

        try:
            return convert_script(script, dict(env), settings.script_args, options)
        except TorchtitanLaunch as launch:  # a torchtitan job: its own conversion (migrate.torchtitan.batch)
            from migrate.torchtitan.batch import convert_for_batch

            return convert_for_batch(launch.plan, script, name, settings.target, settings.primus_path,
                                     settings.strict)

    def recheck(self, experiment: Path, expected: Mapping[str, Any],
                settings: ConvertSettings) -> tuple[bool, list[list[Any]]]:
        from migrate.conversion.static_parity import check_static_parity
        from migrate.primus import resolve_experiment
        from migrate.torchtitan.release import is_torchtitan_experiment

        if is_torchtitan_experiment(experiment):
            from migrate.torchtitan.batch import recheck

            return recheck(experiment, expected, settings.target, settings.primus_path)

        profile = _profile(settings.target, settings.primus_path)
        resolved = resolve_experiment(experiment, profile)
        accept = None
        if settings.accept_null_tokenizer:
            from migrate.conversion.tokenizer_policy import null_tokenizer_acceptance, null_tokenizer_forced

            if null_tokenizer_forced(profile, expected):
                accept = null_tokenizer_acceptance(profile, expected)
        parity = check_static_parity(expected, resolved, profile, accept=accept)
        return bool(parity.ok), [[d, e, r] for d, e, r in parity.differences]

    def dest_of(self, flag: str, settings: ConvertSettings) -> str | None:
        """The Megatron dest a legacy flag sets (None: not a Megatron option)."""
        from migrate.megatron import load_schema
        from migrate.megatron.schema_choice import BUNDLED_ORDER

        for name in [settings.legacy_schema] if settings.legacy_schema else BUNDLED_ORDER:
            spec = load_schema(name).by_option.get(flag)
            if spec is not None:
                return spec.dest
        return None

    def warm_up(self, settings: ConvertSettings) -> None:
        """Load what every conversion needs once, before the workers fork: the modules the
        pipeline imports lazily (each worker would import, and without bytecode caches compile,
        them again), both schemas, and the target's raw model presets, which every preset
        choice reads (parsed with the pure-Python YAML parser: a quarter second per process)."""
        import migrate.conversion.flags  # noqa: F401
        import migrate.conversion.hints  # noqa: F401
        import migrate.conversion.naming  # noqa: F401
        import migrate.conversion.static_parity  # noqa: F401
        import migrate.conversion.tokenizer_policy  # noqa: F401
        import migrate.pipeline  # noqa: F401
        import migrate.primus.emit.report  # noqa: F401
        import migrate.primus.emit.runenv  # noqa: F401
        import migrate.primus.emit.runscript  # noqa: F401
        import migrate.shell.evaluate  # noqa: F401
        from migrate.megatron import load_schema
        from migrate.primus.emit.emitter import load_raw_presets

        profile = _profile(settings.target, settings.primus_path)
        from migrate.megatron.schema_choice import BUNDLED_ORDER

        for name in [settings.legacy_schema] if settings.legacy_schema else BUNDLED_ORDER:
            load_schema(name)
        load_schema(profile.megatron_schema)
        load_raw_presets(profile)


_PROFILES: dict[tuple[str, str | None], Any] = {}


def _profile(target: str, primus_path: str | None) -> Any:
    key = (target, primus_path)
    if key not in _PROFILES:
        from migrate.primus import get_profile

        _PROFILES[key] = get_profile(target, primus_path)
    return _PROFILES[key]
