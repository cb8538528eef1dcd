"""`primus-migrate train EXP.yaml`: train a Primus experiment on the bundled megatron-core runtime.

Load the experiment with the target release's rules (`resolve_experiment`, including the
trainer's own rewrites: mock data, TP=1, entry defaults, see migrate/primus/handoff.py, so
the run is the one Primus would start), fill the dests that release leaves out with
Megatron's argparse defaults (as Megatron's parser would), derive as `validate_args` does,
and train (CPU by default, CUDA when present).
`--namespace ns.json` trains an already derived namespace instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from migrate.cli._primus_args import add_target_options
from migrate.diagnostics import MigrateError, Origin

EPILOG = """\
--proxy shrinks layers, hidden size, heads, FFN, experts, vocabulary, sequence and batch while
keeping the structure (GQA ratio, gated MLP, MoE top-k, MLA, dense-then-MoE layers) and scales
the LR schedule to --iters; every change is printed. Without --proxy, --iters runs the first N
steps of the configured schedule. --mock-data trains on synthetic tokens instead of the
config's dataset (the log's first line says so), as parity does when the dataset is
elsewhere. Logs use Megatron's format (a line after iteration 1 and every log_interval
iterations, losses averaged over the interval); --out DIR also writes
DIR/train.log and DIR/metrics.jsonl (one JSON object per iteration: iteration, lm_loss,
grad_norm (null when the step was skipped), lr, loss_scale, tokens_per_s, step_time,
consumed_samples, skipped, nan).

exit codes: 0 trained; 2 unusable input (nothing started); 5 the run failed (the failing rank's
message is printed).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a Primus experiment (or a derived namespace) on megatron-core, CPU by default",
        description="Train EXP.yaml as the target Primus release resolves it, on the bundled "
                    "megatron-core runtime (gloo on CPU, NCCL on GPU).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("experiment", metavar="EXP.yaml", nargs="?", help="Primus experiment file")
    parser.add_argument("--namespace", metavar="NS.json",
                        help="train this derived Megatron namespace (JSON object dest -> value) instead")
    add_target_options(parser)
    parser.add_argument("--proxy", action="store_true", help="shrink the model, keeping its structure")
    parser.add_argument("--mock-data", action="store_true",
                        help="train on synthetic tokens instead of the config's dataset (as parity does when the "
                             "dataset is not on this machine); the log says so")
    parser.add_argument("--iters", type=int, help="iterations to run (overrides train_iters)")
    parser.add_argument("--nproc", type=int, default=1, help="processes (default 1; gloo on CPU)")
    parser.add_argument("--out", metavar="DIR", help="write train.log and metrics.jsonl here")
    parser.add_argument("--force", action="store_true", help="overwrite an existing log in --out")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CUDA when available, else CPU (default)")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S",
                        help="seconds a collective may wait before the run fails (default 300)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.experiment is None) == (args.namespace is None):
        raise MigrateError("give either EXP.yaml or --namespace NS.json")
    namespace = _from_json(args.namespace, args.target) if args.namespace else _from_experiment(args)
    out = Path(args.out) if args.out else None
    if out is not None and not args.force:
        for name in ("train.log", "metrics.jsonl"):
            if (out / name).exists():
                raise MigrateError(f"{out / name} exists", hint="pass --force to overwrite it, or choose another --out")

    header: tuple[str, ...] = ()
    if args.mock_data:
        namespace, statement = _synthetic_tokens(namespace)
        header = (statement,)
    from primus_runtime import RunOptions, train

    result = train(namespace, RunOptions(iters=args.iters, proxy=args.proxy, nproc=args.nproc, out_dir=out,
                                         device=args.device, seed=args.seed, timeout_s=args.timeout,
                                         log_header=header))
    first, last = result.metrics[0], result.metrics[-1]
    layout = result.layout
    print(f"trained {last['iteration']} iterations on {layout['device']} "
          f"(TP={layout['tp']} PP={layout['pp']} DP={layout['dp']} EP={layout['ep']}): "
          f"lm loss {first['lm_loss']:.4f} -> {last['lm_loss']:.4f}")
    if out is not None:
        print(f"log: {out / 'train.log'}  metrics: {out / 'metrics.jsonl'}")
    return 0


def _synthetic_tokens(namespace: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`--mock-data`: the same substitution parity makes (mock_data on, dataset paths cleared), and
    the line that states it at the top of the run's log, so nobody mistakes the numbers for the dataset's."""
    from migrate.parity.data import DATA_KEYS, dataset_prefixes, with_synthetic_data

    named = [p for key in DATA_KEYS for p in dataset_prefixes(namespace.get(key))]
    instead = f" instead of the config's dataset ({', '.join(named)})" if named else ""
    return with_synthetic_data(namespace), f" > data: synthetic tokens (--mock-data){instead}"


def _from_experiment(args: argparse.Namespace) -> dict[str, Any]:
    from migrate.megatron import derive
    from migrate.primus import get_profile, resolve_experiment
    from migrate.primus.validate import check_experiment

    profile = get_profile(args.target, args.primus_path)
    resolved = resolve_experiment(args.experiment, profile, trainer_rewrites=True)
    check_experiment(resolved, profile)
    schema = profile.schema()
    filled = dict(schema.defaults())  # dests this release leaves out: Megatron's parser default
    filled.update(resolved.values)
    return derive(filled, schema)


def _from_json(path: str, target: str) -> dict[str, Any]:
    from migrate.megatron import derive
    from migrate.primus import get_profile
    from migrate.primus.validate import close_match

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MigrateError(f"namespace file not found: {path}") from None
    except ValueError as exc:
        raise MigrateError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MigrateError(f"{path}: expected a JSON object dest -> value", origin=Origin(path, 1))
    schema = get_profile(target).schema()
    allowed = set(derive(dict(schema.defaults()), schema))  # dests plus the keys validate_args adds
    allowed.add("padded_vocab_size")  # set by Megatron's tokenizer setup
    for key in data:
        if key not in allowed:
            raise MigrateError(f"unknown key '{key}' for {target} (Megatron {schema.name})",
                               origin=Origin(path), hint=close_match(key, allowed))
    return data


