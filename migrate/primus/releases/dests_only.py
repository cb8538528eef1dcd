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

Model families (`builds`): GPT and Mamba at every tag of the family: from v26.2
`megatron_pretrain_trainer.py` (core runtime) and `modules/trainer/megatron/trainer.py` (legacy)
read `model_type` and, for `mamba`, take pretrain_mamba's forward_step and datasets and
`import_utils.get_model_provider(model_type="mamba")` (pretrain_mamba's model_provider +
mamba_builder); presets mamba_base.yaml and mamba_370M.yaml set `model_type: mamba`.
"""

from __future__ import annotations

from dataclasses import replace

from migrate.primus.interpolate import SUBSTITUTED_DECIMAL, SUBSTITUTED_SCALAR
from migrate.primus.releases.base import TITAN_5FB7CC2E, Family, PresetRules, Release, TrainerFacts
from migrate.primus.releases.run_scripts import BY_TAG as RUN

KEY = "dests-only"

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
    presets=PRESETS, trainer=CORE_TRAINER, run=RUN["v26.5.1"], megatron_pin="d3528a21", torchtitan_schema="73a0e697",
    builds=frozenset({"gpt", "mamba"}),
)
# v26.5.0 pins torchtitan 73a0e697 as v26.5.1 does, and its torchtitan backend (parser.py, primus_config.py,
# backends/torchtitan/) is v26.5.1's text; only yaml_loader.py differs (booleans), which `interpolation` says.
V2650 = replace(V2651, tag="v26.5.0", interpolation=SUBSTITUTED_DECIMAL, run=RUN["v26.5.0"])
V2640 = replace(V2650, tag="v26.4.0", run=RUN["v26.4.0"], torchtitan_schema=None, torchtitan_refused=TITAN_5FB7CC2E,
                presets=replace(PRESETS, copies_module_keys=False),
                trainer=replace(CORE_TRAINER, always_sets_save=True, hsdp_replicate_degree=False),
                notes=("MegatronArgBuilder does not type enum dests",))
V263 = replace(V2640, tag="v26.3", run=RUN["v26.3"])
V2631 = replace(V263, tag="v26.3.1", run=RUN["v26.3.1"])
V262 = replace(V263, tag="v26.2", megatron_pin="3bec9aa9", run=RUN["v26.2"],
               trainer=replace(V263.trainer, data_paths_split_on_space=True, data_paths_must_be_strings=True,
                               mock_data_null_tokenizer=False))
V2621 = replace(V262, tag="v26.2.1", run=RUN["v26.2.1"])

FAMILY = Family(
    key=KEY,
    title="Megatron's argparse defaults, then only the config keys that are Megatron dests; `extends:`",
    releases={r.tag: r for r in (V262, V2621, V263, V2631, V2640, V2650, V2651)},
    evidence="argument_builder.py MegatronArgBuilder.update keeps `key in megatron_keys` only",
)
