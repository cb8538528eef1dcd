"""Family "yaml-namespace": Primus v0.1.0-rc1 to v0.5.0, where the YAML is Megatron's namespace.

Evidence (Primus's own code at each tag):
- `primus/modules/trainer/megatron/trainer.py::MegatronTrainer.initialize_megatron`:
  `args = self.module_config` (no argparse: a dest no preset defines is absent);
- `primus/core/utils/yaml_utils.py::parse_yaml`: `bases:` (a file may only change keys its
  bases define) and `includes:`;
- `primus/core/launcher/parser.py::PrimusParser.parse_trainer_module`: module preset + model
  preset with `merge_namespace(allow_override=False)` (no shared key), then `override_namespace`
  (each override key must exist); the preset name is joined as written (no `.yaml` added).

Within the family:
- interpolation: v0.1.0-rc1..v0.3.0 type every string, substituted or not (yaml_utils.py
  254947a4); v0.4.0 and v0.5.0 only strings a substitution changed (a9cf411c:
  `if replaced == config: return replaced`), keys walked in both;
- `update_primus_config` (the trainer's rewrites) is the same text at v0.1.0-rc1..v0.3.0;
  v0.4.0 stops calling Megatron's `moe_freq_type` on moe_layer_freq (the line is commented out)
  and v0.5.0 `eval`s a string moe_layer_freq; both add MLflow settings (Primus-only keys);
- v0.2.0+ skip a module with neither `config` nor `model` (v0.1.0-rc1 requires both); a
  Megatron pre_trainer always has both, so this changes nothing we convert.
"""

from __future__ import annotations

from dataclasses import replace

from migrate.primus.interpolate import EVERY_STRING, SUBSTITUTED_PYTHON
from migrate.primus.releases.base import Family, PresetRules, Release, RunFacts, TrainerFacts

KEY = "yaml-namespace"

_CLUSTER = ("MASTER_ADDR", "MASTER_PORT", "NNODES", "NODE_RANK", "GPUS_PER_NODE")

# examples/run_pretrain.sh@v0.1.0-rc1: what it reads with `${VAR:-default}`, what it forces.
RUN_V01 = RunFacts(
    script="examples/run_pretrain.sh",
    reads=frozenset(_CLUSTER + (
        "DATA_PATH", "HF_HOME", "TRAIN_LOG", "NCCL_IB_HCA", "IP_INTERFACE", "NCCL_SOCKET_IFNAME",
        "GLOO_SOCKET_IFNAME", "HSA_NO_SCRATCH_RECLAIM", "GPU_MAX_HW_QUEUES", "CUDA_DEVICE_MAX_CONNECTIONS",
        "NCCL_PXN_DISABLE", "NCCL_P2P_NET_CHUNKSIZE", "NVTE_CK_USES_BWD_V3", "PATCH_TE_FLASH_ATTN",
        "REBUILD_BNXT", "PATH_TO_BNXT_TAR_PACKAGE", "PRIMUS_HIPBLASLT_TUNING_STAGE", "HIPBLASLT_LOG_FILE",
        "MEGATRON_PATH", "TORCHTITAN_PATH",
    )),
    forces={
        "NCCL_DEBUG": "", "NCCL_CHECKS_DISABLE": "1", "NCCL_IB_GID_INDEX": "3", "NCCL_CROSS_NIC": "0",
        "HSA_ENABLE_SDMA": "1", "RCCL_MSCCL_ENABLE": "0", "RCCL_MSCCLPP_ENABLE": "0",
        "RCCL_MSCCLPP_FORCE_ENABLE": "0", "TORCH_NCCL_HIGH_PRIORITY": "1",
        "TORCH_NCCL_USE_TENSOR_REGISTER_ALLOCATOR_HOOK": "0", "NVTE_USE_CAST_TRANSPOSE_TRITON": "1",
        "NVTE_USE_OPTIMIZED_HIPIFIED_CAST_TRANSPOSE": "0", "NVTE_DEBUG": "0", "NVTE_DEBUG_LEVEL": "0",
        "NVTE_FUSED_ATTN_LOG_CONFIG": "0",
    },
    tuning_gate=False,
    cli=None,
)

PRESETS = PresetRules(shared_keys="refused", overrides="existing", adds_yaml_suffix=False,
                      flattened_module=False, copies_module_keys=False, sets_model_key=False)

# MegatronTrainer.update_primus_config@v0.1.0-rc1 (and `trainer.init()` without args_defaults).
LEGACY_TRAINER = TrainerFacts(
    source="MegatronTrainer.update_primus_config (primus/modules/trainer/megatron/trainer.py)",
    data_paths_split_on_space=True, data_paths_must_be_strings=True, moe_layer_freq="moe_freq_type",
    mock_data_null_tokenizer=False, logging_level_from_sink=True, args_defaults={},
    always_sets_save=True, tensorboard_off_clears_dir=True, wandb_save_subdir="",
    hsdp_replicate_degree=False, refuses_yaml_cfg=True,
)

IGNORED_LEGACY = {
    # update_primus_config always replaces it with the level of the Primus-only `stderr_sink_level`
    # (DEBUG/INFO/WARNING/ERROR), so Megatron's `None` cannot be expressed. Log verbosity only.
    "logging_level": "set from stderr_sink_level by the release's trainer; log verbosity only",
}

V01 = Release(
    tag="v0.1.0-rc1", family=KEY, inherit_key="bases", interpolation=EVERY_STRING, namespace="yaml",
    presets=PRESETS, trainer=LEGACY_TRAINER, run=RUN_V01, megatron_pin="5a676b36", torchtitan_schema="4c4388f6",
    builds=frozenset({"gpt"}), ignored_dests=IGNORED_LEGACY,
)

# examples/run_pretrain.sh@v0.2.0 (the same at v0.3.0, v0.4.0): BACKEND_PATH replaces the per-backend
# MEGATRON_PATH / TORCHTITAN_PATH; nothing else it reads or forces changed.
RUN_V02 = replace(RUN_V01, reads=(RUN_V01.reads - {"MEGATRON_PATH", "TORCHTITAN_PATH"}) | {"BACKEND_PATH"})

V02 = replace(V01, tag="v0.2.0", run=RUN_V02, torchtitan_schema=None,
              notes=("torchtitan experiments not modelled at this tag",))
V03 = replace(V02, tag="v0.3.0")
V04 = replace(
    V02, tag="v0.4.0", interpolation=SUBSTITUTED_PYTHON, megatron_pin="84778176", torchtitan_schema=None,
    run=replace(RUN_V02, cli="./runner/primus-cli"),  # runner/primus-cli from v0.4.0: `direct` mode
    trainer=replace(LEGACY_TRAINER, moe_layer_freq="kept"),
    notes=V02.notes + ("update_primus_config no longer passes moe_layer_freq through moe_freq_type",),
)
V05 = replace(V04, tag="v0.5.0", trainer=replace(LEGACY_TRAINER, moe_layer_freq="eval"),
              run=replace(V04.run, checked=False),
              notes=V02.notes + ("run script variables taken from v0.4.0's, not read at this tag",
                                 "update_primus_config evaluates a string moe_layer_freq"))

FAMILY = Family(
    key=KEY,
    title="the merged YAML is Megatron's namespace (no argparse defaults); `bases:` inheritance",
    releases={r.tag: r for r in (V01, V02, V03, V04, V05)},
    evidence="trainer.py initialize_megatron `args = self.module_config`; yaml_utils.parse_yaml `bases:`",
)
