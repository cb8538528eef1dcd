"""Run a Primus release's own loader and trainer-side argument updates on experiment files.

A development-time judge, run as a subprocess by tests/test_primus_trainer_oracle.py (never
imported by the product): it puts a Primus checkout (a tree exported from a tag) first on
sys.path, stubs the modules that need a GPU stack (torch, megatron, transformer_engine, ...),
and for each experiment prints what the release hands Megatron, as JSON on stdout.

- primus-0.1 (v0.1.0-rc1): `PrimusParser().parse()` builds the module config, then
  `MegatronTrainer.update_primus_config` (the trainer's own code, imported with its heavy imports
  stubbed) rewrites it. Megatron's `moe_freq_type` comes from the pinned Megatron source when given
  (`megatron_arguments`: the text of megatron/training/arguments.py; only that pure function is run).
- primus-26.5 (v26.5.1): `load_primus_config` + `get_module_config`, `MegatronAdapter.convert_config`
  (MegatronArgBuilder; Megatron's argparse defaults come from the job, i.e. our bundled table of the
  pin, because Megatron's parser needs its GPU stack), then the registered `build_args` patches
  through `run_patches`, with the extra context the runtime passes.

Input (stdin): {"primus": DIR, "release": "0.1"|"26.5", "experiments": [PATH...],
"defaults": {...} (26.5), "megatron_arguments": TEXT|null}. The working directory, HOME and TMPDIR
are the caller's throwaway folder (PrimusConfig creates the experiment folder there).
"""

from __future__ import annotations

import ast
import enum
import importlib.abc
import importlib.machinery
import json
import os
import sys
import traceback
import types

STUBBED = {"torch", "megatron", "pretrain_gpt", "transformer_engine", "apex", "triton", "einops",
           "flash_attn", "wandb", "nvidia_resiliency_ext", "primus_turbo", "mlflow", "tensorboard",
           "torchvision", "transformers", "datasets", "numpy", "scipy", "aiter", "deep_ep", "jax",
           "torchtitan", "mamba_ssm", "causal_conv1d", "modelopt", "tensorstore", "zarr", "hip", "amdsmi"}


class _Anything:
    """Stands for any object of a stubbed module: callable, subscriptable, falsy."""

    def __init__(self, name: str = "stub") -> None:
        self._name = name

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # used as a decorator
        return _Anything(self._name + "()")

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(f"{self._name}.{name}")

    def __getitem__(self, key):
        return _Anything(f"{self._name}[]")

    def __mro_entries__(self, bases):
        return (object,)

    def __iter__(self):
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<stub {self._name}>"


class _StubModule(types.ModuleType):
    __path__: list[str] = []

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Anything(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module) -> None:
        pass


def _jsonable(value):
    if isinstance(value, types.SimpleNamespace):
        return {k: _jsonable(v) for k, v in vars(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, enum.Enum):
        return value.name
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _moe_freq_type(source: str | None):
    """Megatron's own moe_freq_type, compiled from the pinned arguments.py (a pure function)."""
    if not source:
        return None
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "moe_freq_type")
    namespace: dict = {}
    exec(compile(ast.Module([fn], []), "megatron/training/arguments.py", "exec"), namespace)  # noqa: S102
    return namespace["moe_freq_type"]


def _v01(job: dict, path: str) -> dict:
    from primus.core.launcher.parser import PrimusParser

    config = PrimusParser().parse(types.SimpleNamespace(exp=path, config=path))
    module = config.get_module_config("pre_trainer")
    import primus.modules.trainer.megatron.trainer as trainer_module

    freq = _moe_freq_type(job.get("megatron_arguments"))
    if freq is not None:
        trainer_module.moe_freq_type = freq
    trainer = types.SimpleNamespace(module_rank=0, module_world_size=1, module_local_rank=0)
    trainer_module.MegatronTrainer.update_primus_config(trainer, args=module, exp_meta_info=config.exp_meta_info,
                                                        exp_root_path=config.exp_root_path)
    return {"values": _jsonable(module), "exp_root": os.path.abspath(config.exp_root_path),
            "exp_root_as_given": config.exp_root_path}


def _v26(job: dict, path: str) -> dict:
    from pathlib import Path

    import primus.backends.megatron.argument_builder as builder
    from primus.core.config.primus_config import get_module_config, load_primus_config

    defaults = dict(job["defaults"])
    builder._load_megatron_defaults = lambda: dict(defaults)  # Megatron's parser needs its GPU stack
    builder._load_megatron_enum_types = lambda: {}
    from primus.backends.megatron.megatron_adapter import MegatronAdapter
    from primus.core.patches import run_patches

    config = load_primus_config(Path(path))
    module = get_module_config(config, "pre_trainer")
    args = MegatronAdapter().convert_config(module.params)
    from primus.core.patches.patch_registry import PatchRegistry

    # the argument patches; the others of this phase swap model classes (e.g. the MoE router)
    every = [p.id for p in PatchRegistry.iter_patches(backend="megatron", phase="build_args")]
    chosen = [i for i in every if i.startswith("megatron.args.")]
    run_patches(backend="megatron", phase="build_args", backend_version=None,
                model_name=getattr(module, "model", None), module_name="pre_trainer",
                extra={"backend_args": args, "primus_config": config._legacy, "module_config": module,
                       "runtime_state": None}, enabled_ids=chosen, stop_on_error=True)
    return {"values": _jsonable(args), "params": _jsonable(module.params),
            "exp_root": os.path.abspath(config.exp_root_path), "exp_root_as_given": config.exp_root_path,
            "patches": chosen, "skipped_patches": sorted(set(every) - set(chosen))}


class _QuietLogger:
    """Primus's loguru logger is set up by its launcher; its messages go to stderr here."""

    def __getattr__(self, name: str):
        def log(*args, **kwargs):
            if args and isinstance(args[0], str):
                sys.stderr.write(f"[{name}] {args[0]}\n")
            return self
        return log


def main() -> int:
    job = json.load(sys.stdin)
    sys.meta_path.insert(0, _StubFinder())
    sys.path.insert(0, job["primus"])
    import primus.core.utils.logger as primus_logger

    primus_logger._logger = _QuietLogger()
    run = _v01 if job["release"] == "0.1" else _v26
    out = {}
    for path in job["experiments"]:
        try:
            out[path] = run(job, path)
        except BaseException as exc:  # noqa: BLE001 - the release's own failure is the answer
            out[path] = {"error": f"{type(exc).__name__}: {exc}",
                         "where": traceback.format_exc(limit=-3).strip().splitlines()[-3:]}
    sys.stdout.write("\n@@ORACLE@@" + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
