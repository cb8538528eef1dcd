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

torchtitan: v0.1.0-rc1, v0.2.0 and v0.3.0 pin torchtitan 4c4388f6 and build its JobConfig with the same
`TorchTitanPretrainTrainer.build_job_config` (v0.2.0 adds the Turbo sub-switches and CLI overrides,
neither used by a converted run); v0.4.0 and v0.5.0 pin 5fb7cc2e (refused).

Model families (`builds`): GPT only. v0.1.0-rc1..v0.3.0's trainer.py imports `from pretrain_gpt
import model_provider`; v0.4.0 and v0.5.0 resolve it with `import_utils.get_model_provider()`
(model_provider + gpt_builder, no model type; MambaModel appears only in a type annotation of
`primus_model_provider` and in the FLOPs estimator). No Mamba preset is shipped.
"""

from __future__ import annotations

from dataclasses import replace

from migrate.primus.interpolate import EVERY_STRING, SUBSTITUTED_PYTHON
from migrate.primus.releases.base import TITAN_5FB7CC2E, Family, PresetRules, Release, TrainerFacts
from migrate.primus.releases.run_scripts import BY_TAG as RUN

KEY = "yaml-namespace"

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
    presets=PRESETS, trainer=LEGACY_TRAINER, run=RUN["v0.1.0-rc1"], megatron_pin="5a676b36",
    torchtitan_schema="4c4388f6", builds=frozenset({"gpt"}), ignored_dests=IGNORED_LEGACY,
)

V02 = replace(V01, tag="v0.2.0", run=RUN["v0.2.0"])
V03 = replace(V02, tag="v0.3.0", run=RUN["v0.3.0"])
V04 = replace(
    V02, tag="v0.4.0", interpolation=SUBSTITUTED_PYTHON, megatron_pin="84778176", torchtitan_schema=None,
    torchtitan_refused=TITAN_5FB7CC2E,
    run=RUN["v0.4.0"],  # runner/primus-cli from v0.4.0: `direct` mode
    trainer=replace(LEGACY_TRAINER, moe_layer_freq="kept"),
    notes=("update_primus_config no longer passes moe_layer_freq through moe_freq_type",),
)
V05 = replace(V04, tag="v0.5.0", trainer=replace(LEGACY_TRAINER, moe_layer_freq="eval"),
              run=RUN["v0.5.0"], notes=("update_primus_config evaluates a string moe_layer_freq",))

FAMILY = Family(
    key=KEY,
    title="the merged YAML is Megatron's namespace (no argparse defaults); `bases:` inheritance",
    releases={r.tag: r for r in (V01, V02, V03, V04, V05)},
    evidence="trainer.py initialize_megatron `args = self.module_config`; yaml_utils.parse_yaml `bases:`",
)
