"""Build the torchtitan JobConfig for a Primus experiment with Primus's own code, as a test oracle.

Used by tests only: Primus v26.5.1's `load_primus_config` (PrimusParser + runtime normalisation),
its `TorchTitanJobConfigBuilder` (the adapter's `convert_config`) and `build_job_config_from_namespace`
(what its torchtitan trainer calls), over torchtitan's JobConfig at the pin. torch is stubbed (not
used while building configs); `primus.backends.torchtitan`'s package `__init__` (which imports the
patches, hence HF datasets) is skipped. Run it in a throwaway working directory: Primus creates
`workspace/...` folders there. Prints {"job_config": asdict(JobConfig), "extra": {...}} as JSON.

usage: python primus_titan_oracle.py PRIMUS_TREE TORCHTITAN_TREE EXPERIMENT.yaml
"""

import json
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
    backend = types.ModuleType("primus.backends.torchtitan")
    backend.__path__ = [f"{primus_tree}/primus/backends/torchtitan"]
    sys.modules["primus.backends.torchtitan"] = backend
    turbo = types.ModuleType("primus.backends.torchtitan.primus_turbo_extensions")  # its __init__ imports torch
    turbo.__path__ = [f"{primus_tree}/primus/backends/torchtitan/primus_turbo_extensions"]
    sys.modules["primus.backends.torchtitan.primus_turbo_extensions"] = turbo
    import logging

    logging.disable(logging.CRITICAL)
    from dataclasses import asdict, fields

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


if __name__ == "__main__":
    main()
