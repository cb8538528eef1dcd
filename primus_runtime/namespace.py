"""Checks on the derived namespace, all made before any process group starts.

`train()` reads the keys in REQUIRED_KEYS directly; a namespace without one of them
is a bad input (MigrateError naming the key), never a KeyError deep in a worker.
"""

from __future__ import annotations

from typing import Any, Mapping

from migrate.diagnostics import MigrateError

# Keys the runtime reads (model shape, batch, schedule, optimizer, layout, data).
REQUIRED_KEYS: tuple[str, ...] = (
    "num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads",
    "group_query_attention", "num_query_groups", "kv_channels",
    "seq_length", "max_position_embeddings", "position_embedding_type", "rotary_base", "rotary_percent",
    "normalization", "swiglu", "untie_embeddings_and_output_weights",
    "add_bias_linear", "hidden_dropout", "attention_dropout", "init_method_std",
    "make_vocab_size_divisible_by", "bf16", "fp16",
    "micro_batch_size", "global_batch_size", "train_iters",
    "lr", "min_lr", "lr_decay_style", "lr_decay_iters", "lr_warmup_iters", "lr_warmup_fraction",
    "lr_warmup_init", "weight_decay", "start_weight_decay", "end_weight_decay", "weight_decay_incr_style",
    "optimizer", "adam_beta1", "adam_beta2", "adam_eps", "sgd_momentum", "clip_grad",
    "seed", "tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size",
    "expert_model_parallel_size", "num_experts", "moe_router_topk", "sequence_parallel",
    "mock_data", "data_path", "split", "log_interval",
)


def bad(message: str, hint: str | None = None) -> MigrateError:
    return MigrateError(message, hint=hint, exit_code=2)


def check_keys(ns: Mapping[str, Any]) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in ns]
    if missing:
        raise bad(
            f"training namespace is missing key '{missing[0]}'"
            + (
                f" (and {len(missing) - 1} more: {', '.join(missing[1:6])}{'...' if len(missing) > 6 else ''})"
                if len(missing) > 1
                else ""
            ),
            hint="pass a DERIVED Megatron namespace: migrate.megatron.derive(values) fills every dest",
        )


# Keys Megatron cannot train without a value for (its parser leaves them None when unset).
# None here would crash deep inside megatron-core or torch (Megatron-LM itself crashes the same way).
VALUE_KEYS: tuple[str, ...] = (
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "seq_length",
    "micro_batch_size",
    "lr",
)


def check_values(ns: Mapping[str, Any]) -> None:
    unset = [k for k in VALUE_KEYS if ns.get(k) is None]
    if unset:
        flag = "--" + unset[0].replace("_", "-")
        raise bad(f"{unset[0]} is not set: Megatron needs {flag} to train",
                  hint=f"the script (or experiment) never sets {flag}; set it")


def data_parallel_size(ns: Mapping[str, Any], world_size: int) -> int:
    tp, pp, cp = (
        int(ns[k] or 1) for k in ("tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size")
    )
    model_parallel = tp * pp * cp
    if world_size % model_parallel:
        raise bad(
            f"parallel layout TP={tp} x PP={pp} x CP={cp} = {model_parallel} "
            f"does not divide the world size {world_size}",
            hint="use --nproc that is a multiple of tensor x pipeline x context parallel sizes",
        )
    return world_size // model_parallel


def check_layout(ns: Mapping[str, Any], world_size: int) -> None:
    """Megatron's validate_args/initialize_model_parallel constraints for this world size."""
    tp = int(ns["tensor_model_parallel_size"] or 1)
    pp = int(ns["pipeline_model_parallel_size"] or 1)
    ep = int(ns["expert_model_parallel_size"] or 1)
    dp = data_parallel_size(ns, world_size)
    heads = int(ns["num_attention_heads"])
    if heads % tp:
        raise bad(f"num_attention_heads={heads} is not divisible by tensor_model_parallel_size={tp}")
    groups = int(ns["num_query_groups"] or heads) if ns["group_query_attention"] else heads
    if groups % tp:
        raise bad(f"num_query_groups={groups} is not divisible by tensor_model_parallel_size={tp}")
    if heads % groups:
        raise bad(f"num_attention_heads={heads} is not divisible by num_query_groups={groups}")
    first, last = ns.get("decoder_first_pipeline_num_layers"), ns.get("decoder_last_pipeline_num_layers")
    layers = int(ns["num_layers"])
    if first is None and last is None and layers % pp:
        raise bad(f"num_layers={layers} is not divisible by pipeline_model_parallel_size={pp}")
    if ep > 1:
        experts = ns["num_experts"]
        if not experts:
            raise bad(f"expert_model_parallel_size={ep} needs a MoE model (num_experts is not set)")
        if int(experts) % ep:
            raise bad(f"num_experts={experts} is not divisible by expert_model_parallel_size={ep}")
        etp = int(ns.get("expert_tensor_parallel_size") or tp)
        if world_size % (etp * ep * pp):
            raise bad(f"expert layout ETP={etp} x EP={ep} x PP={pp} does not divide the world size {world_size}")
    mbs, gbs = int(ns["micro_batch_size"]), int(ns["global_batch_size"])
    if gbs % (mbs * dp):
        raise bad(
            f"global_batch_size={gbs} is not divisible by micro_batch_size={mbs} x data-parallel size={dp}",
            hint="global = micro x data-parallel x gradient-accumulation steps",
        )
    if (
        int(ns["seq_length"]) > int(ns["max_position_embeddings"] or 0)
        and ns["position_embedding_type"] == "learned_absolute"
    ):
        raise bad(f"seq_length={ns['seq_length']} exceeds max_position_embeddings={ns['max_position_embeddings']}")


def check_data(ns: Mapping[str, Any]) -> None:
    if ns["mock_data"]:
        return
    paths = ns["data_path"]
    if not paths:
        raise bad("no training data: data_path is not set and mock_data is off",
                  hint="set mock_data: true (synthetic tokens) or data_path to Megatron .bin/.idx prefixes, "
                       "or pass `primus-migrate train --mock-data`")
    from pathlib import Path

    for prefix in _prefixes(paths):
        for suffix in (".bin", ".idx"):
            if not Path(prefix + suffix).is_file():
                raise bad(
                    f"data file not found: {prefix}{suffix}",
                    hint="data_path lists Megatron indexed dataset prefixes (PATH for PATH.bin + PATH.idx), "
                    "optionally weighted; `primus-migrate train --mock-data` trains on synthetic tokens instead",
                )


def _prefixes(paths: Any) -> list[str]:
    """The dataset prefixes of a `--data-path` value: `[w1] p1 [w2] p2 ...`."""
    items = paths.split() if isinstance(paths, str) else [str(p) for p in paths]
    out = []
    for item in items:
        try:
            float(item)
        except ValueError:
            out.append(item)
    return out


def blend_of(paths: Any) -> tuple[list[str], list[float] | None]:
    """`[w1, p1, w2, p2]` or `[p1, p2]` -> (prefixes, weights), as Megatron's get_blend_from_list."""
    items = paths.split() if isinstance(paths, str) else [str(p) for p in paths]
    if len(items) == 1:
        return items, None
    try:
        weights = [float(w) for w in items[0::2]]
        return items[1::2], weights
    except ValueError:
        return items, None


def layer_pattern(value: Any) -> Any:
    """Megatron's `moe_freq_type`: an int, "N", or a list expression such as "([0]*3+[1]*58)".

    A namespace taken from YAML may still hold the command-line string; Megatron's parser
    would have turned it into the int or list. Only list/int literals, `+` and `*` are read.
    """
    import ast

    if value is None or isinstance(value, (int, list)):
        return value
    if isinstance(value, tuple):
        return list(value)
    text = str(value).strip()
    if "[" not in text:
        return int(text)

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(text)

    try:
        pattern = ev(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, TypeError):
        raise bad(f"moe_layer_freq {text!r} is not an int or a list pattern like ([0]*3+[1]*58)") from None
    if not isinstance(pattern, list):
        raise bad(f"moe_layer_freq {text!r} does not evaluate to a list")
    return pattern
