"""The verify subprocess: load experiments with a Primus checkout's own code, print the namespace.

Run as `python -I -B child.py` by migrate.verify.oracle (never imported by the product: it
imports the checkout). It reads a job (JSON on stdin), confines itself, puts the checkout first on
sys.path, stubs the modules that need a GPU stack (torch, megatron, transformer_engine, ...) and,
for each experiment, builds what the release hands Megatron the way its `train pretrain` does:

- legacy runtime (v0.1.0-rc1 ... v0.7.0, and later releases under PRIMUS_TRAIN_RUNTIME=legacy):
  `PrimusParser().parse(...)` builds the module config, `MegatronTrainer.update_primus_config`
  rewrites it (when the trainer module imports with the stubs; else the result says so); where
  that trainer's `initialize_megatron` overlays the config on Megatron's argparse defaults (it
  imports `_load_megatron_defaults`: v0.6.0 on), the same overlay is made.
- core runtime (v26.2 on): `load_primus_config` + `get_module_config`,
  `MegatronAdapter().convert_config(params)` (MegatronArgBuilder), then the `build_args` argument
  patches (`megatron.args.*`) through `run_patches`, with the context the runtime passes.

Megatron's argparse defaults cannot be computed without Megatron's GPU stack: the job brings them
(the bundled table of the pin). Megatron's `moe_freq_type` (a pure function) is compiled from the
checkout's own third_party/Megatron-LM source when it is there.

Confinement: the working directory, HOME and TMPDIR are the scratch folder; an audit hook refuses
writes, renames and removals outside it, any new process and any network connection; directories
the code would create outside it are skipped (recorded); the data segment is capped.

Output (stdout, after a marker): {"runtime": ..., "results": {path: {...}}} or {"fatal": {...}}.
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
from typing import Any, Callable

MARKER = "\n@@PRIMUS-MIGRATE-VERIFY@@"
STUBBED = {"torch", "megatron", "pretrain_gpt", "transformer_engine", "apex", "triton", "einops",
           "flash_attn", "wandb", "nvidia_resiliency_ext", "primus_turbo", "mlflow", "tensorboard",
           "torchvision", "transformers", "datasets", "numpy", "scipy", "aiter", "deep_ep", "jax",
           "torchtitan", "mamba_ssm", "causal_conv1d", "modelopt", "tensorstore", "zarr", "hip", "amdsmi",
           "megatron_bridge", "maxtext", "flax", "optax", "orbax", "tensorflow", "pynvml", "pyrsmi"}


class _Anything:
    """Stands for any object of a stubbed module: callable, subscriptable, falsy."""

    def __init__(self, name: str = "stub") -> None:
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # used as a decorator
        return _Anything(self._name + "()")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(f"{self._name}.{name}")

    def __getitem__(self, key: Any) -> Any:
        return _Anything(f"{self._name}[]")

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)

    def __iter__(self) -> Any:
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<stub {self._name}>"


class _StubModule(types.ModuleType):
    __path__: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Anything(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> Any:
        return _StubModule(spec.name)

    def exec_module(self, module: Any) -> None:
        pass


# -- confinement -------------------------------------------------------------------------------

class Refused(PermissionError):
    """The checkout's code did something verify does not allow (a write outside the scratch folder)."""


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {"os.mkdir": 1, "os.rename": 2, "os.remove": 1, "os.rmdir": 1, "shutil.rmtree": 1, "os.symlink": 2,
                "os.link": 2, "os.truncate": 1, "os.chmod": 1, "os.chown": 1, "os.utime": 1}
_FORBIDDEN = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
              "os.forkpty", "socket.connect", "socket.bind", "pty.spawn")


def _inside(path: Any, root: str) -> bool:
    if isinstance(path, int):
        return True  # an open descriptor: its opening was checked
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    full = os.path.realpath(os.path.join(os.getcwd(), os.fspath(path)))
    return full == root or full.startswith(root + os.sep) or full == os.devnull


def _guard(root: str, skipped: list[str]) -> None:
    """Install the audit hook and the mkdir guard that keep the checkout's code in `root`."""

    def hook(event: str, args: tuple) -> None:
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writes = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & _WRITE_FLAGS)
            if writes and path is not None and not _inside(path, root):
                raise Refused(f"the checkout's code tried to write {path!r} outside verify's scratch folder")
        elif event in _PATH_EVENTS:
            for path in args[:_PATH_EVENTS[event]]:
                if path is not None and not _inside(path, root):
                    raise Refused(f"the checkout's code tried {event} on {path!r} outside verify's scratch folder")
        elif event.startswith(_FORBIDDEN):
            raise Refused(f"the checkout's code tried {event} {args[:1]!r} (verify allows no process or network)")

    real_mkdir = os.mkdir

    def mkdir(path: Any, mode: int = 0o777, *, dir_fd: Any = None) -> None:
        if dir_fd is None and not _inside(path, root):
            skipped.append(os.fspath(path) if not isinstance(path, bytes) else os.fsdecode(path))
            return None  # e.g. an absolute workspace: the folder is not needed to build the arguments
        return real_mkdir(path, mode, dir_fd=dir_fd)

    os.mkdir = mkdir
    sys.addaudithook(hook)


def _cap_memory(limit: int) -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        want = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    except (ImportError, OSError, ValueError):
        pass


# -- values ------------------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
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


def _namespace_dict(value: Any) -> dict:
    return dict(vars(value)) if not isinstance(value, dict) else dict(value)


def _moe_freq_type(tree_root: str) -> Callable[[Any], Any] | None:
    """Megatron's own moe_freq_type, compiled from the checkout's pinned arguments.py (pure function)."""
    path = os.path.join(tree_root, "third_party", "Megatron-LM", "megatron", "training", "arguments.py")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    found: list[ast.stmt] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "moe_freq_type"]
    if not found:
        return None
    namespace: dict = {}
    exec(compile(ast.Module(found, []), path, "exec"), namespace)  # noqa: S102 - the checkout's own function
    return namespace["moe_freq_type"]


# -- the two runtimes ----------------------------------------------------------------------------

def choose_runtime(tree_root: str, asked: str, files: dict[str, str]) -> str:
    """What the checkout's `train pretrain` would use for a Megatron experiment (`files`: the file
    that marks each runtime, migrate.verify.checkout.RUNTIME_FILES)."""
    has_legacy = os.path.isfile(os.path.join(tree_root, files["legacy"]))
    has_core = os.path.isfile(os.path.join(tree_root, files["core"]))
    if not has_core or not has_legacy:
        return "core" if has_core else "legacy"
    env = os.environ.get("PRIMUS_TRAIN_RUNTIME", "").strip().lower()
    if asked in ("legacy", "core"):
        return asked
    try:
        import primus.cli.subcommands.train as train_command
    except ImportError:
        return env if env in ("legacy", "core") else "legacy"
    resolve = getattr(train_command, "_resolve_pretrain_runtime", None)
    if resolve is not None:  # v26.2 on: the release's own choice (environment, else core)
        return str(resolve(types.SimpleNamespace(config=None)))
    return env if env in ("legacy", "core") else "legacy"  # v0.6, v0.7: legacy unless asked


def run_legacy(job: dict, path: str) -> dict:
    from primus.core.launcher.parser import PrimusParser

    config = PrimusParser().parse(types.SimpleNamespace(exp=path, config=path))
    module = config.get_module_config("pre_trainer")
    out = {"exp_root": os.path.abspath(config.exp_root_path), "exp_root_as_given": config.exp_root_path}
    try:
        import primus.modules.trainer.megatron.trainer as trainer_module
    except ImportError as exc:  # the loader's namespace is still worth comparing: say the trainer was not run
        out["trainer_skipped"] = {"error": f"{type(exc).__name__}: {exc}", "module": exc.name or ""}
        trainer_file = os.path.join(job["primus"], job["runtime_files"]["legacy"])
        with open(trainer_file, encoding="utf-8", errors="replace") as file:
            merged = "_load_megatron_defaults" in file.read()
    else:
        out["moe_freq_type"] = _run_trainer_updates(trainer_module, job, config, module)
        merged = hasattr(trainer_module, "_load_megatron_defaults")
    values = _namespace_dict(module)
    if merged:  # initialize_megatron: Megatron defaults < the Primus config (v0.6.0 on)
        values = {**job["megatron_defaults"], **values}
    return dict(out, values=_jsonable(values), defaults_merged=merged)


def _run_trainer_updates(trainer_module: Any, job: dict, config: Any, module: Any) -> str:
    """MegatronTrainer.update_primus_config on the module config; says where moe_freq_type came from."""
    freq = _moe_freq_type(job["primus"])
    if freq is not None:
        trainer_module.moe_freq_type = freq
    trainer = types.SimpleNamespace(module_rank=0, module_world_size=1, module_local_rank=0)
    trainer_module.MegatronTrainer.update_primus_config(trainer, args=module, exp_meta_info=config.exp_meta_info,
                                                        exp_root_path=config.exp_root_path)
    return "checkout" if freq is not None else "stub"


def run_core(job: dict, path: str) -> dict:
    from pathlib import Path

    import primus.backends.megatron.argument_builder as builder
    from primus.core.config.primus_config import get_module_config, load_primus_config

    defaults = dict(job["megatron_defaults"])
    builder._load_megatron_defaults = lambda: dict(defaults)  # Megatron's parser needs its GPU stack
    builder._load_megatron_enum_types = lambda: {}
    from primus.backends.megatron.megatron_adapter import MegatronAdapter
    from primus.core.patches import run_patches
    from primus.core.patches.patch_registry import PatchRegistry

    config = load_primus_config(Path(path))
    module = get_module_config(config, "pre_trainer")
    args = MegatronAdapter().convert_config(module.params)
    # the argument patches; the others of this phase swap model classes (e.g. the MoE router)
    every = [p.id for p in PatchRegistry.iter_patches(backend="megatron", phase="build_args")]
    chosen = [i for i in every if i.startswith("megatron.args.")]
    run_patches(backend="megatron", phase="build_args", backend_version=None,
                model_name=getattr(module, "model", None), module_name="pre_trainer",
                extra={"backend_args": args, "primus_config": getattr(config, "_legacy", config),
                       "module_config": module, "runtime_state": None},
                enabled_ids=chosen, stop_on_error=True)
    return {"values": _jsonable(_namespace_dict(args)), "params": _jsonable(module.params),
            "exp_root": os.path.abspath(config.exp_root_path), "exp_root_as_given": config.exp_root_path,
            "patches": chosen, "skipped_patches": sorted(set(every) - set(chosen)), "defaults_merged": True}


# -- main ----------------------------------------------------------------------------------------

class _QuietLogger:
    """Primus's loguru logger is set up by its launcher; its messages go to stderr here."""

    def __getattr__(self, name: str) -> Any:
        def log(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], str):
                sys.stderr.write(f"[{name}] {args[0]}\n")
            return self
        return log


def _failure(exc: BaseException) -> dict:
    out: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}",
                           "where": traceback.format_exc(limit=-4).strip().splitlines()[-6:-1]}
    if isinstance(exc, ImportError):
        out["module"] = exc.name or ""
    if isinstance(exc, Refused):
        out.update(refused=True, where=[])
    if isinstance(exc, MemoryError):
        out["memory"] = True
    return out


def _prepare(job: dict) -> None:
    sys.meta_path.insert(0, _StubFinder())
    sys.path.insert(0, job["primus"])
    import primus.core.utils.logger as primus_logger

    primus_logger._logger = _QuietLogger()


def main() -> int:
    job = json.load(sys.stdin)
    _cap_memory(int(job["memory_bytes"]))
    skipped: list[str] = []
    _guard(os.path.realpath(job["scratch"]), skipped)
    try:
        _prepare(job)
        runtime = choose_runtime(job["primus"], job["runtime"], job["runtime_files"])
    except BaseException as exc:  # noqa: BLE001 - the checkout could not be loaded: that is the answer
        sys.stdout.write(MARKER + json.dumps({"fatal": _failure(exc)}))
        return 0
    run = run_core if runtime == "core" else run_legacy
    results = {}
    for path in job["experiments"]:
        try:
            results[path] = run(job, path)
        except BaseException as exc:  # noqa: BLE001 - the release's own failure is the answer
            results[path] = _failure(exc)
    sys.stdout.write(MARKER + json.dumps({"runtime": runtime, "results": results, "skipped_mkdir": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
