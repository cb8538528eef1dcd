"""Run Megatron-LM's own parse_args + validate_args + get_optimizer_param_scheduler on argv cases.

A development-time oracle (tests/test_megatron_required_upstream.py), run in a subprocess with
an exported Megatron-LM tree first on sys.path: `python megatron_validate_probe.py ROOT CASES.json`
prints one JSON verdict per case, "ok" or "reject: <what Megatron raised>" (CUDA_DEVICE_MAX_CONNECTIONS
is 1, as launch scripts export it, unless the case says otherwise; WORLD_SIZE is the case's; the
device reports compute capability 9.0). Python packages the
environment lacks and the argument code does not use (STUBS, comma-separated) are stubbed.
"""

import importlib.abc
import io
import importlib.machinery
import json
import os
import sys
import types


class _Meta(type):
    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _dummy(f"{cls.__name__}.{attr}")


def _dummy(name):
    """Stands for any attribute of a stubbed module: a class, so isinstance and decorators work."""
    return _Meta(name, (), {"__init__": lambda self, *a, **k: None, "__call__": lambda self, *a, **k: self})


def _module_attr(module, attr):
    if attr == "__version__":
        return "0.0.0"
    if attr.startswith("__"):
        raise AttributeError(attr)
    return _dummy(f"{module}.{attr}")


class _Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] not in self.names:
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda attr: _module_attr(spec.name, attr)
        return module

    def exec_module(self, module):
        pass


class _Optimizer:
    def __init__(self):
        self.param_groups = [{"params": []}]


def verdict(argv, args_defaults, world_size, env):
    from megatron.training import global_vars
    from megatron.training.arguments import parse_args, validate_args
    from megatron.training.training import get_optimizer_param_scheduler

    sys.argv = ["pretrain_gpt.py", *argv]
    os.environ["WORLD_SIZE"] = str(world_size)  # parse_args reads it
    os.environ["CUDA_DEVICE_MAX_CONNECTIONS"] = "1"
    os.environ.update(env)
    saved, sys.stderr = sys.stderr, io.StringIO()  # argparse prints its error there
    try:
        args = parse_args()
    except SystemExit:
        said = sys.stderr.getvalue().strip().splitlines()
        return "reject: argparse" + (f": {said[-1]}" if said else "")
    finally:
        sys.stderr = saved
    try:
        validate_args(args, dict(args_defaults))
        global_vars._GLOBAL_ARGS = args  # what pretrain() -> setup_model_and_optimizer reads
        get_optimizer_param_scheduler(_Optimizer())
    except Exception as exc:  # noqa: BLE001 - whatever Megatron raises before training is the verdict
        return f"reject: {type(exc).__name__}: {exc}"
    if os.environ.get("PROBE_NAMESPACE"):  # the namespace validate_args left, JSON-safe (else its repr)
        return {key: _plain(value) for key, value in sorted(vars(args).items())}
    return "ok"


def _plain(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def main():
    root, cases_file = sys.argv[1], sys.argv[2]
    sys.path.insert(0, root)
    sys.meta_path.append(_Stubs(set(filter(None, os.environ.get("STUBS", "").split(",")))))
    os.environ.update(WORLD_SIZE="1", RANK="0")
    import torch

    torch.cuda.get_device_capability = lambda *a, **k: (9, 0)  # the GPU a run is converted for, not this CPU
    with open(cases_file) as file:
        cases = json.load(file)
    out = []
    for case in cases:
        with open(os.devnull, "w") as devnull:
            saved, sys.stdout = sys.stdout, devnull  # parse_args and validate_args print the arguments
            try:
                out.append(verdict(case["argv"], case.get("args_defaults", {}), case.get("world_size", 1),
                                   case.get("env", {})))
            finally:
                sys.stdout = saved
    print("VERDICTS " + json.dumps(out))


if __name__ == "__main__":
    main()
