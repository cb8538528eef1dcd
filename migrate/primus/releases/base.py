"""The shape of one Primus release's rules, as every family module fills it in.

A `Release` answers, for one tag, the questions the converter asks of Primus:
how files inherit and interpolate (`load_file`, `interpolation`), how a module
and its model preset combine with the experiment's overrides (`presets`), what
reaches Megatron (`megatron_namespace`), what its trainer rewrites and refuses
(`trainer`, used by migrate.primus.handoff), which dests are deliberately not
compared (`ignored_dests`), how it is launched (`run`) and which model families
its pre-trainer builds (`builds`). Code outside this package asks these fields
and never tests which release it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from migrate.diagnostics import Origin
from migrate.primus import inherit
from migrate.primus.interpolate import Interpolation

# module attributes the dests-only builder never takes as Megatron params
# (`_normalize_module_for_runtime`, primus/core/config/primus_config.py@v26.5.1)
RESERVED_MODULE_KEYS = frozenset({"name", "framework", "config", "model", "params", "trainer_class"})
# module-level keys of an experiment that a release copying module attributes onto the module config
# (`Release.copies_module_keys`) leaves out (`preserved_attrs`, primus/core/launcher/parser.py@v26.5.0)
MODULE_KEYS_KEPT_OUT = frozenset({"name", "framework", "config", "model", "overrides", "params"})


# Primus v0.4.0 .. v26.4.0 pin torchtitan 5fb7cc2e, between the two pins modelled (4c4388f6, 73a0e697);
# its JobConfig table is bundled (a job of that generation is named as such), its Primus build is not modelled.
TITAN_5FB7CC2E = ("it pins torchtitan 5fb7cc2e, for which neither this release's torchtitan build nor the renames "
                  "from older jobs are modelled or compared with Primus's own build")


@dataclass(frozen=True)
class PresetRules:
    """How the trainer module is built from module preset + model preset + `overrides:`."""

    shared_keys: str            # "refused": module and model presets may not share a key; "module_wins"
    overrides: str              # "existing": each key must exist; "assign": set, may add; "deep_merge"
    adds_yaml_suffix: bool      # `config: pre_trainer` finds pre_trainer.yaml (PresetLoader)
    flattened_module: bool      # a module without `config` is taken as already flattened
    copies_module_keys: bool    # other module-level keys (trainer_class, ...) are kept on the config
    sets_model_key: bool        # the `model:` reference itself is kept as the key `model`

    @property
    def overrides_must_exist(self) -> bool:
        return self.overrides == "existing"


@dataclass(frozen=True)
class TrainerFacts:
    """What the release's Megatron trainer does to the namespace before Megatron's validate_args."""

    source: str                             # where these rules are in Primus's code
    data_paths_split_on_space: bool         # `.split(" ")` (True) or `.split()` with tuples listed (False)
    data_paths_must_be_strings: bool        # a list makes the trainer stop (it calls .split on it)
    moe_layer_freq: str                     # "moe_freq_type" | "eval" (any string) | "kept"
    mock_data_null_tokenizer: bool          # mock data forces the NullTokenizer (and a vocab_size)
    logging_level_from_sink: bool           # logging_level follows the Primus-only stderr_sink_level
    args_defaults: Mapping[str, Any]        # what the trainer hands validate_args as args_defaults
    always_sets_save: bool                  # save always becomes EXP_ROOT/checkpoints (else only a set save)
    tensorboard_off_clears_dir: bool        # TensorBoard "disabled" sets tensorboard_dir None (else kept)
    wandb_save_subdir: str                  # W&B save dir under the experiment folder
    hsdp_replicate_degree: bool             # data_parallel_replicate_degree > 1 -> distributed optimizer instances
    refuses_yaml_cfg: bool                  # Megatron's own --yaml-cfg makes the trainer stop


@dataclass(frozen=True)
class RunFacts:
    """The release's launch script and what it does with the environment (read by real bash at every
    tag: migrate.primus.releases.run_scripts)."""

    script: str                             # run from the Primus checkout: EXP=... bash <script>
    reads: frozenset[str]                   # variables whose value from the environment reaches the launch
    forces: Mapping[str, str]               # variables it exports whatever the environment held
    tuning_gate: bool                       # zeroes TE_HIPBLASLT_TUNING_* unless PRIMUS_HIPBLASLT_TUNING=1
    cli: str | None                         # its CLI, for `<cli> direct -- train pretrain --config EXP` (None: none)
    stops: frozenset[str] = frozenset()     # variables whose being set makes it exit before training


@dataclass(frozen=True)
class Release:
    """One Primus release tag and its rules (see the module docstring)."""

    tag: str
    family: str                             # the family module's key
    inherit_key: str                        # "bases" | "extends"
    interpolation: Interpolation
    namespace: str                          # "yaml" | "defaults_under_keys" | "dests_only"
    presets: PresetRules
    trainer: TrainerFacts
    run: RunFacts
    megatron_pin: str                       # third_party/Megatron-LM at the tag (8 hex)
    torchtitan_schema: str | None = None    # bundled torchtitan JobConfig schema of its pin, if any
    torchtitan_refused: str = ""            # why torchtitan experiments are refused (torchtitan_schema None)
    builds: frozenset[str] = frozenset({"gpt"})   # model families its Megatron pre-trainer builds
    ignored_dests: Mapping[str, str] = field(default_factory=dict)   # dest -> why it is not compared
    notes: tuple[str, ...] = ()             # what differs from the family's other tags, or is not modelled

    # -- files ---------------------------------------------------------------------------------
    def load_file(self, path: Path, env: Mapping[str, str], fallbacks: tuple[Path, ...] = (),
                  referenced_from: Origin | None = None) -> inherit.Layer:
        """Read one YAML file with this release's interpolation and inheritance."""
        loader = inherit.load_bases if self.inherit_key == "bases" else inherit.load_extends
        return loader(Path(path), env, self.interpolation, fallbacks, referenced_from)

    @property
    def empty_file_ok(self) -> bool:
        return self.inherit_key == "bases"

    # -- what reaches Megatron -----------------------------------------------------------------
    @property
    def only_preset_keys_reach_megatron(self) -> bool:
        """The merged YAML itself is the namespace: no argparse default fills a key it lacks."""
        return self.namespace == "yaml"

    @property
    def loader_keys(self) -> frozenset[str]:
        """Keys the loader itself adds to every module config (besides the presets' own)."""
        return frozenset({"name", "framework"} | ({"model"} if self.presets.sets_model_key else set()))

    def megatron_namespace(self, module: Mapping[str, Any], defaults: Mapping[str, Any]
                           ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """(Megatron values, Primus-only values, dests the namespace lacks) for a built module."""
        return NAMESPACE_BUILDERS[self.namespace](module, defaults)

    @property
    def label(self) -> str:
        return f"Primus {self.tag}"


def _yaml_is_namespace(module: Mapping[str, Any], defaults: Mapping[str, Any]
                       ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The trainer hands the merged namespace itself to Megatron (`args = self.module_config`)."""
    values = {k: v for k, v in module.items() if k in defaults}
    primus_only = {k: v for k, v in module.items() if k not in defaults}
    return values, primus_only, sorted(set(defaults) - set(values))


def _defaults_under_keys(module: Mapping[str, Any], defaults: Mapping[str, Any]
                         ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Megatron's argparse defaults, then every key of the module config on top (all of them reach
    the namespace; those that are no dest are Primus's own)."""
    values = dict(defaults)
    primus_only: dict[str, Any] = {}
    for key, value in module.items():
        if key in defaults:
            values[key] = value
        else:
            primus_only[key] = value
    return values, primus_only, []


def _dests_only(module: Mapping[str, Any], defaults: Mapping[str, Any]
                ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """MegatronArgBuilder: Megatron's argparse defaults, then each params key that is a dest;
    reserved module attributes are not params."""
    values = dict(defaults)
    primus_only: dict[str, Any] = {}
    for key, value in module.items():
        if key in defaults and key not in RESERVED_MODULE_KEYS and not str(key).startswith("_"):
            values[key] = value
        else:
            primus_only[key] = value
    return values, primus_only, []


NAMESPACE_BUILDERS = {"yaml": _yaml_is_namespace, "defaults_under_keys": _defaults_under_keys,
                      "dests_only": _dests_only}


@dataclass(frozen=True)
class Family:
    """Releases that build Megatron's arguments the same way; `releases` maps each tag to its rules."""

    key: str
    title: str                              # one line: how this family builds Megatron's arguments
    releases: Mapping[str, Release]
    evidence: str                           # the Primus code that puts these tags together
