"""Family "defaults-under-keys": Primus v0.6.0 and v0.7.0, Megatron's defaults under every Primus key.

Evidence (Primus's own code at each tag):
- `primus/cli/subcommands/train.py::run`: a Megatron pretrain runs the legacy flow unless
  PRIMUS_TRAIN_RUNTIME=core (v0.6.0: default "legacy"; v0.7.0: "core" only for torchtitan);
- `primus/modules/trainer/megatron/trainer.py::MegatronTrainer.initialize_megatron`:
  `merged_args = _load_megatron_defaults().copy(); merged_args.update(primus_args)`: argparse
  defaults first, then every key of the module config (Primus's own keys included);
- `primus/core/utils/yaml_utils.py::parse_yaml` delegates to `primus/core/config/yaml_loader.py`
  (`extends:`, values-only interpolation typing substituted strings, decimal floats, no bools);
- `primus/core/launcher/parser.py::parse_trainer_module`: `PresetLoader.load` (adds `.yaml`), a
  module without `config` is already flattened, `model` kept, `merge_namespace(allow_override=False)`
  (module and model preset may not share a key);
- `update_primus_config` is the text of v0.5.0 (5948d868 at v0.5.0, v0.6.0, v0.7.0).

Within the family: `yaml_utils.override_namespace` requires each override key to exist at
v0.6.0; v0.7.0 comments that check out (an override may add a key).
"""

from __future__ import annotations

from dataclasses import replace

from migrate.primus.interpolate import SUBSTITUTED_DECIMAL
from migrate.primus.releases.base import Family, PresetRules, Release
from migrate.primus.releases.yaml_namespace import IGNORED_LEGACY, LEGACY_TRAINER, RUN_V02

KEY = "defaults-under-keys"

PRESETS = PresetRules(shared_keys="refused", overrides="existing", adds_yaml_suffix=True,
                      flattened_module=True, copies_module_keys=False, sets_model_key=True)

V06 = Release(
    tag="v0.6.0", family=KEY, inherit_key="extends", interpolation=SUBSTITUTED_DECIMAL,
    namespace="defaults_under_keys", presets=PRESETS, trainer=replace(LEGACY_TRAINER, moe_layer_freq="eval"),
    run=replace(RUN_V02, cli="./runner/primus-cli", checked=False), megatron_pin="84778176",
    builds=frozenset({"gpt"}), ignored_dests=IGNORED_LEGACY,
    notes=("run script variables taken from v0.4.0's, not read at this tag",),
)
V07 = replace(V06, tag="v0.7.0", presets=replace(PRESETS, overrides="assign"))

FAMILY = Family(
    key=KEY,
    title="Megatron's argparse defaults, then every key of the module config (Primus's own too); `extends:`",
    releases={r.tag: r for r in (V06, V07)},
    evidence="trainer.py initialize_megatron `merged_args = megatron_defaults.copy(); merged_args.update(...)`",
)
