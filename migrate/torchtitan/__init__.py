"""torchtitan jobs -> Primus's torchtitan backend.

One module per job: `extract` (JobConfig schema from a torchtitan checkout, libcst, no import),
`schema` (the schema model and value checks), `jobconfig` (TOML + `--section.key value` as
torchtitan's ConfigManager reads them), `release` (Primus's torchtitan presets and how its trainer
turns an experiment into a JobConfig), `emit` (experiment YAML), `parity` (static parity),
`convert` (the steps in order), `bundle` (regenerates the bundled data).
"""

TORCHTITAN_MODULE = "torchtitan.train"


def is_torchtitan_entry(entry: str | None) -> bool:
    """`-m torchtitan.train` (entry `torchtitan.train`) or a `torchtitan/train.py` path."""
    if not entry:
        return False
    return entry == TORCHTITAN_MODULE or entry.replace("\\", "/").endswith("torchtitan/train.py")
