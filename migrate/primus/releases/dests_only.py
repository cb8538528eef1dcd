"""Family "dests-only": Primus v26.2 to v26.5.1, only Megatron dests reach Megatron.

Evidence (Primus's own code at each tag):
- `primus/cli/subcommands/train.py`: pretrain runs the core runtime (`PrimusRuntime`) by
  default (v26.2..v26.4.0 unless PRIMUS_TRAIN_RUNTIME=legacy; only it from v26.5.0);
- `primus/backends/megatron/argument_builder.py::MegatronArgBuilder`: Megatron's argparse
  defaults, then each config key that is a Megatron dest (others silently dropped);
- `primus/core/config/primus_config.py`: reserved module attributes are not params;
- `primus/core/utils/yaml_utils.py::merge_namespace` keeps the module preset's value on a shared
  key, `override_namespace` deep-merges the overrides (keys may be new);
- the trainer's rewrites are the `build_args` patches in
  `primus/backends/megatron/patches/args/` (migrate.primus.handoff).

Within the family:
- v26.2, v26.2.1: data paths `.split(" ")` (a list stops the trainer), mock data only clears the
  data paths, `save` always becomes EXP_ROOT/checkpoints; Megatron 3bec9aa9;
- v26.3, v26.3.1, v26.4.0: data paths split on any whitespace (lists kept), mock data forces the
  NullTokenizer (mock_data_patches.py); Megatron d3528a21 from here;
- v26.5.0: `save` redirected only when set (checkpoint_path_patches.py), the HSDP patch
  (hsdp_args_patches.py), module-level keys kept on the config (parser.py `preserved_attrs`),
  MegatronArgBuilder types enum dests (ours are compared as their argparse strings);
- v26.5.1: the yaml_loader also turns a substituted `true`/`false` into a bool.
"""

from __future__ import annotations

from dataclasses import replace

from migrate.primus.interpolate import SUBSTITUTED_DECIMAL, SUBSTITUTED_SCALAR
from migrate.primus.releases.base import Family, PresetRules, Release, RunFacts, TrainerFacts

KEY = "dests-only"

_CLUSTER = ("MASTER_ADDR", "MASTER_PORT", "NNODES", "NODE_RANK", "GPUS_PER_NODE")

# examples/run_pretrain.sh@v26.5.1
RUN_V265 = RunFacts(
    script="examples/run_pretrain.sh",
    reads=frozenset(_CLUSTER + (
        "DATA_PATH", "HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "TRAIN_LOG", "NCCL_IB_HCA",
        "IP_INTERFACE", "NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "HSA_NO_SCRATCH_RECLAIM",
        "HSA_ENABLE_SDMA", "GPU_MAX_HW_QUEUES", "CUDA_DEVICE_MAX_CONNECTIONS", "NCCL_PXN_DISABLE",
        "NCCL_P2P_NET_CHUNKSIZE", "NVTE_CK_USES_BWD_V3", "NVTE_DEBUG", "NVTE_DEBUG_LEVEL",
        "NVTE_FUSED_ATTN_LOG_CONFIG", "PATCH_TE_FLASH_ATTN", "NCCL_DEBUG", "NCCL_IB_TC", "NCCL_IB_FIFO_TC",
        "NCCL_NET_PLUGIN", "TORCH_NCCL_HIGH_PRIORITY", "PRIMUS_HIPBLASLT_TUNING_STAGE",
        "PRIMUS_HIPBLASLT_TUNING", "PRIMUS_DETERMINISTIC", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR",
        "TORCH_EXTENSIONS_DIR", "PYTORCH_KERNEL_CACHE_PATH", "MIOPEN_USER_DB_PATH", "MIOPEN_CUSTOM_CACHE_DIR",
        "MIOPEN_FIND_MODE", "MIOPEN_DISABLE_CACHE", "HIPBLASLT_TUNING_FILE", "PRIMUS_CACHE_ROOT",
        "ENABLE_NUMA_BINDING", "PRIMUS_SKIP_PIP", "BACKEND_PATH",
    )),
    forces={
        "NCCL_CHECKS_DISABLE": "1", "RCCL_MSCCL_ENABLE": "0", "RCCL_MSCCLPP_ENABLE": "0",
        "RCCL_MSCCLPP_FORCE_ENABLE": "0", "NVTE_ROCM_ENABLE_MXFP8": "1",
    },
    tuning_gate=True,
    cli="./primus-cli",  # at the checkout's top from v26.2
)

PRESETS = PresetRules(shared_keys="module_wins", overrides="deep_merge", adds_yaml_suffix=True,
                      flattened_module=True, copies_module_keys=True, sets_model_key=True)

# the build_args patches at v26.5.1; args_defaults from megatron_pretrain_trainer.py (as pretrain_gpt.py)
CORE_TRAINER = TrainerFacts(
    source="the build_args patches (primus/backends/megatron/patches/args/)",
    data_paths_split_on_space=False, data_paths_must_be_strings=False, moe_layer_freq="eval",
    mock_data_null_tokenizer=True, logging_level_from_sink=False,
    args_defaults={"tokenizer_type": "GPT2BPETokenizer"},
    always_sets_save=False, tensorboard_off_clears_dir=False, wandb_save_subdir="wandb",
    hsdp_replicate_degree=True, refuses_yaml_cfg=False,
)

V2651 = Release(
    tag="v26.5.1", family=KEY, inherit_key="extends", interpolation=SUBSTITUTED_SCALAR, namespace="dests_only",
    presets=PRESETS, trainer=CORE_TRAINER, run=RUN_V265, megatron_pin="d3528a21", torchtitan_schema="73a0e697",
    builds=frozenset({"gpt", "mamba"}),
)
# examples/run_pretrain.sh@v26.5.0: no PRIMUS_SKIP_PIP; @v26.4.0: also HSA_ENABLE_SDMA=1 forced
RUN_V2650 = replace(RUN_V265, reads=RUN_V265.reads - {"PRIMUS_SKIP_PIP"})
RUN_V2640 = replace(RUN_V2650, reads=RUN_V2650.reads - {"HSA_ENABLE_SDMA"},
                    forces={**RUN_V265.forces, "HSA_ENABLE_SDMA": "1"})

V2650 = replace(V2651, tag="v26.5.0", interpolation=SUBSTITUTED_DECIMAL, torchtitan_schema=None, run=RUN_V2650,
                notes=("torchtitan experiments not modelled at this tag",))
V2640 = replace(V2650, tag="v26.4.0", run=RUN_V2640,
                presets=replace(PRESETS, copies_module_keys=False),
                trainer=replace(CORE_TRAINER, always_sets_save=True, hsdp_replicate_degree=False),
                notes=V2650.notes + ("MegatronArgBuilder does not type enum dests",))
V263 = replace(V2640, tag="v26.3", run=replace(RUN_V2640, checked=False),
               notes=V2640.notes + ("run script variables taken from v26.4.0's, not read at this tag",))
V2631 = replace(V263, tag="v26.3.1")
V262 = replace(V263, tag="v26.2", megatron_pin="3bec9aa9",
               trainer=replace(V263.trainer, data_paths_split_on_space=True, data_paths_must_be_strings=True,
                               mock_data_null_tokenizer=False))
V2621 = replace(V262, tag="v26.2.1")

FAMILY = Family(
    key=KEY,
    title="Megatron's argparse defaults, then only the config keys that are Megatron dests; `extends:`",
    releases={r.tag: r for r in (V262, V2621, V263, V2631, V2640, V2650, V2651)},
    evidence="argument_builder.py MegatronArgBuilder.update keeps `key in megatron_keys` only",
)
