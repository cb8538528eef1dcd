"""primus-migrate: Megatron-LM launch scripts → Primus configs, with parity proofs.

Data flow, one subpackage per stage:
    shell/     script → launch plan (static bash evaluation over shfmt's syntax tree)
    megatron/  launch plan → Megatron effective arguments (argparse model, schemas)
    primus/    Megatron arguments → Primus YAML; Primus YAML → resolved config
    parity/    static and dynamic parity, log comparison
    batch/     whole repositories
    cli/       the `primus-migrate` command
This package never imports torch or megatron; `primus_runtime` does.
"""

__version__ = "0.1.0"
