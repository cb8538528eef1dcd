"""Build the torchtitan JobConfig for a Primus experiment with Primus's own code, as a test oracle.

Used by tests only. Primus v26.5.1: `load_primus_config` (PrimusParser + runtime normalisation),
its `TorchTitanJobConfigBuilder` (the adapter's `convert_config`) and `build_job_config_from_namespace`
(what its torchtitan trainer calls). Primus v0.1.0-rc1: `PrimusParser().parse` and the torchtitan
trainer's `build_job_config` (called on an instance made without its __init__, which starts the
distributed runtime). Both over torchtitan's JobConfig at the release's pin. torch is stubbed (not
used while building configs); package `__init__`s that import training code are skipped. Run it in
a throwaway working directory: Primus creates `workspace/...` folders there. Prints
{"job_config": asdict(JobConfig), "extra": {...}} as JSON.

usage: python primus_titan_oracle.py PRIMUS_TREE TORCHTITAN_TREE EXPERIMENT.yaml
"""

import json
import os
import sys
import types


def main() -> None:
    primus_tree, titan_tree, experiment = sys.argv[1:4]
    sys.path.insert(0, primus_tree)
    torch = types.ModuleType("torch")
    torch.float16, torch.float32, torch.bfloat16 = "float16", "float32", "bfloat16"
    for name in ("device", "dtype", "Tensor", "Size"):
        setattr(torch, name, type(name, (), {}))
    torch.distributed = types.SimpleNamespace(is_initialized=lambda: False)
    sys.modules["torch"] = torch
    titan = types.ModuleType("torchtitan")
    titan.__path__ = [f"{titan_tree}/torchtitan"]
    sys.modules["torchtitan"] = titan
    backend = types.ModuleType("primus.backends.torchtitan")  # its __init__ imports the patches
    backend.__path__ = [f"{primus_tree}/primus/backends/torchtitan"]
    sys.modules["primus.backends.torchtitan"] = backend
    turbo = types.ModuleType("primus.backends.torchtitan.primus_turbo_extensions")  # its __init__ imports torch
    turbo.__path__ = [f"{primus_tree}/primus/backends/torchtitan/primus_turbo_extensions"]
    sys.modules["primus.backends.torchtitan.primus_turbo_extensions"] = turbo
    import logging

    logging.disable(logging.CRITICAL)
    from dataclasses import asdict, fields

    if not os.path.exists(f"{primus_tree}/primus/core/config/primus_config.py"):
        job_config = _build_v01(primus_tree, experiment)
        print(json.dumps({"job_config": asdict(job_config), "extra": {}}, default=lambda o: vars(o)))
        return

    from primus.backends.torchtitan.argument_builder import TorchTitanJobConfigBuilder
    from primus.backends.torchtitan import config_utils
    from primus.backends.torchtitan.config_utils import build_job_config_from_namespace

    config_utils.log_rank_0 = lambda *args, **kwargs: None  # Primus's logger is set up by its launcher
    from primus.core.config.primus_config import get_module_config, load_primus_config

    module = get_module_config(load_primus_config(experiment), "pre_trainer")
    builder = TorchTitanJobConfigBuilder()
    builder.update(module.params)
    job_config = build_job_config_from_namespace(builder.finalize())
    known = {f.name for f in fields(job_config)}
    extra = {k: v for k, v in vars(job_config).items() if k not in known}
    print(json.dumps({"job_config": asdict(job_config), "extra": extra}, default=lambda o: vars(o)))


def _build_v01(primus_tree: str, experiment: str):
    import importlib.util
    from types import SimpleNamespace

    import torchtitan.config_manager as manager

    for name in ("third_party", "third_party.torchtitan"):  # the trainer imports torchtitan by this path too
        package = types.ModuleType(name)
        package.__path__ = []
        sys.modules[name] = package
    sys.modules["third_party.torchtitan.torchtitan"] = sys.modules["torchtitan"]
    sys.modules["third_party.torchtitan.torchtitan.config_manager"] = manager
    base = types.ModuleType("primus.modules.base_module")
    base.BaseModule = object
    sys.modules["primus.modules.base_module"] = base
    from primus.core.launcher.parser import PrimusParser
    from primus.core.utils.yaml_utils import nested_namespace_to_dict

    config = PrimusParser().parse(SimpleNamespace(exp=experiment, config=experiment, export_config=None))
    module = nested_namespace_to_dict(config.get_module_config("pre_trainer"))
    path = f"{primus_tree}/primus/modules/trainer/torchtitan/pre_trainer.py"
    spec = importlib.util.spec_from_file_location("primus_titan_trainer", path)
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    instance = object.__new__(trainer.TorchTitanPretrainTrainer)
    return instance.build_job_config(module, manager.JobConfig)


if __name__ == "__main__":
    main()
