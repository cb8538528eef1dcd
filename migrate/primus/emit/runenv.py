"""Everything the script did besides Megatron flags: environment, launcher, tuning.

Primus's run scripts (`examples/run_pretrain.sh` in each release) read some
variables from the environment (cluster layout, a few NCCL/HSA knobs) and set
others unconditionally. A legacy export therefore goes to one of:
  - a run-script variable it honours (exported in run.sh before the call),
  - nowhere, because the run script forces its own value (reported),
  - env.sh, sourced by run.sh, for everything the run script does not touch.
Which variables a release's run script reads and forces are facts of that release
(`RunFacts`, migrate.primus.releases); this module only sorts the script's exports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from migrate.primus.releases import RunFacts
from migrate.shell.plan import EnvVar

# Launcher options -> the run script's cluster variables.
LAUNCHER_TO_VARIABLE = {
    "nproc_per_node": "GPUS_PER_NODE", "nproc-per-node": "GPUS_PER_NODE",
    "nnodes": "NNODES", "node_rank": "NODE_RANK", "node-rank": "NODE_RANK",
    "master_addr": "MASTER_ADDR", "master-addr": "MASTER_ADDR",
    "master_port": "MASTER_PORT", "master-port": "MASTER_PORT",
}

TUNING_PREFIX = "TE_HIPBLASLT_TUNING"

# Never copied into generated files: the variable is required from the user's environment instead.
# A secret is recognised by what it is, never by a substring (TOKENIZERS_PARALLELISM is no token):
# a name part that only credentials use, a name ending in a credential word (HF_TOKEN, *_API_KEY),
# or a value in the shape of a well-known token.
_SECRET_PARTS = frozenset({"SECRET", "SECRETS", "PASSWORD", "PASSWORDS", "PASSWD", "PASSPHRASE", "CREDENTIAL",
                           "CREDENTIALS", "APIKEY", "PRIVATEKEY"})
_SECRET_LAST = frozenset({"TOKEN", "PAT", "APIKEY"})  # HF_TOKEN, GITHUB_PAT, ...
_KEY_KINDS = frozenset({"API", "ACCESS", "SECRET", "PRIVATE", "AUTH", "LICENSE", "SIGNING", "ENCRYPTION",
                        "WANDB", "HF", "NGC", "COMET", "NEPTUNE", "OPENAI"})
_SECRET_VALUE = re.compile(
    r"hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|sk-[A-Za-z0-9_-]{20,}"
    r"|AKIA[0-9A-Z]{16}|xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}")
SECRET_SHOWN = "<not copied: secret>"


def is_secret(name: str, value: str = "") -> bool:
    """HF_TOKEN, WANDB_API_KEY, DB_PASSWORD, CLIENT_SECRET, AWS_SECRET_ACCESS_KEY, a `hf_...` value: yes;
    TOKENIZERS_PARALLELISM, MAX_TOKENS, TOKEN_DROP_POLICY, KEY_SIZE: no."""
    parts = [p for p in re.split(r"[^A-Z0-9]+", name.upper()) if p]
    if any(p in _SECRET_PARTS for p in parts):
        return True
    if parts and (parts[-1] in _SECRET_LAST or (parts[-1] in ("KEY", "KEYS") and len(parts) > 1
                                                    and parts[-2] in _KEY_KINDS)):
        return True
    return bool(_SECRET_VALUE.search(value))


TUNING_KNOBS = ("GEMM_TUNING", "TE_HIPBLASLT_TUNING")

@dataclass
class EnvPlacement:
    name: str
    value: str
    origin: str | None
    destination: str  # "run variable" | "env.sh" | "forced by run script" | "already set by run script" | "tuning"
    #                   | "not set"
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "origin": self.origin,
                "destination": self.destination, "note": self.note}


@dataclass
class RunEnvironment:
    run_vars: dict[str, str] = field(default_factory=dict)  # exported in run.sh (honoured by run_pretrain.sh)
    env_file: dict[str, str] = field(default_factory=dict)  # env.sh
    secrets: list[str] = field(default_factory=list)  # required from the environment, values not copied
    placements: list[EnvPlacement] = field(default_factory=list)
    guidance: list[str] = field(default_factory=list)  # tuning / profiling / tokenizer notes for the report


def plan_environment(
    run: RunFacts,
    env: Mapping[str, EnvVar],
    launcher_options: Mapping[str, str],
    knobs: Mapping[str, str | None],
    wrappers: list[list[str]] | None = None,
) -> RunEnvironment:
    """Sort exported variables and launcher options into run.sh, env.sh or the report.

    `env`: name -> the exported variable (its `.value` and `.origin`).
    `knobs`: knob name -> value in this evaluation.
    """
    out = RunEnvironment()
    reads, forces, script = run.reads, run.forces, run.script
    for option, value in launcher_options.items():
        var = LAUNCHER_TO_VARIABLE.get(option)
        if var and value and not value.startswith("$"):
            out.run_vars.setdefault(var, value)
            out.placements.append(EnvPlacement(var, value, f"launcher --{option}", "run variable",
                                               f"torchrun --{option} -> {var} read by {script}"))
        elif option in ("rdzv_endpoint", "rdzv-endpoint") and value and ":" in value and "$" not in value:
            host, _, port = value.rpartition(":")
            out.run_vars.setdefault("MASTER_ADDR", host)
            out.run_vars.setdefault("MASTER_PORT", port)
            out.placements.append(EnvPlacement("MASTER_ADDR, MASTER_PORT", value, f"launcher --{option}",
                                               "run variable", f"torchrun --{option} host:port -> MASTER_ADDR "
                                               f"and MASTER_PORT read by {script}"))
        elif var:
            out.placements.append(EnvPlacement(var, value, f"launcher --{option}", "not set",
                                               f"the value is only known at run time; set {var} before run.sh"))
        else:
            out.placements.append(EnvPlacement(
                f"--{option}", value, "launcher", "no Primus equivalent",
                f"{script} builds its own torchrun command from the cluster variables; "
                f"torchrun --{option} is not passed through"))
    tuning: dict[str, str] = {}
    for name, exported in env.items():
        value = str(exported.value)
        origin = str(exported.origin) or None
        if name.startswith(TUNING_PREFIX):
            tuning[name] = value
            continue
        if is_secret(name, value):
            out.secrets.append(name)
            out.placements.append(EnvPlacement(name, SECRET_SHOWN, origin, "env.sh",
                                               f"looks like a credential: env.sh requires {name} from your "
                                               "environment instead of copying the script's value"))
            continue
        if name in run.stops:
            out.placements.append(EnvPlacement(
                name, value, origin, "not set",
                f"{script} at this release stops before training whenever {name} is set; run.sh and env.sh "
                f"leave it unset (the release's own checkout is used)"))
        elif name in reads:
            out.run_vars[name] = value
            out.placements.append(EnvPlacement(name, value, origin, "run variable",
                                               f"{script} reads {name} from the environment"))
        elif name in forces:
            if forces[name] == value:
                out.placements.append(EnvPlacement(name, value, origin, "already set by run script",
                                                   f"{script} sets {name}={forces[name]!r} as well"))
            else:
                out.placements.append(EnvPlacement(
                    name, value, origin, "forced by run script",
                    f"no Primus equivalent: {script} sets {name}={forces[name]!r} unconditionally, "
                    f"replacing the legacy value; edit the run script to keep {value!r}"))
        else:
            out.env_file[name] = value
            out.placements.append(EnvPlacement(name, value, origin, "env.sh",
                                               f"{script} does not set {name}; env.sh exports it"))
    _tuning(run, tuning, env, knobs, out)
    for wrapper in wrappers or []:
        if wrapper:
            out.guidance.append(
                f"Launcher: the script starts training under `{' '.join(wrapper)}`. Primus ships its own "
                "cluster launchers (examples/run_slurm_pretrain.sh for SLURM, examples/run_local_pretrain.sh "
                "for containers); run.sh calls examples/run_pretrain.sh on one node, so start it on every node "
                "with NNODES/NODE_RANK/MASTER_ADDR set the way the wrapper did.")
    return out


def _tuning(run: RunFacts, tuning: Mapping[str, str], env: Mapping[str, EnvVar], knobs: Mapping[str, str | None],
            out: RunEnvironment) -> None:
    knob_on = any((knobs.get(k) or "0") not in ("0", "", "false") for k in TUNING_KNOBS)
    active = knob_on or any(v not in ("0", "") for v in tuning.values())
    for name, value in tuning.items():
        origin = str(env[name].origin) or None
        if run.tuning_gate:
            note = (f"{run.script} zeroes TE_HIPBLASLT_TUNING_* unless PRIMUS_HIPBLASLT_TUNING=1; "
                    "run.sh sets it and passes the value")
        else:
            note = f"passed to TransformerEngine through env.sh ({run.script} does not touch it)"
        out.env_file[name] = value
        out.placements.append(EnvPlacement(name, value, origin, "tuning", note))
    if not active:
        return
    if run.tuning_gate and tuning:
        out.run_vars["PRIMUS_HIPBLASLT_TUNING"] = "1"
    out.guidance.append(
        "GEMM tuning: the legacy script tuned hipBLASLt GEMMs online through TransformerEngine "
        "(TE_HIPBLASLT_TUNING_*). Primus also offers offline tuning with PRIMUS_HIPBLASLT_TUNING_STAGE: "
        "1 dumps GEMM shapes (run a few iterations), 2 tunes them offline, 3 trains with the tuned "
        "results. Tuning changes kernel selection only, not the arguments compared for parity."
    )
