"""Translation from the legacy (rocm_dev) schema to the Primus pins: every difference has a rule."""

from __future__ import annotations

import shlex

import pytest

from migrate.diagnostics import Diagnostics, Origin
from migrate.megatron import load_schema, parse_argv
from migrate.megatron.translate import RULES, rule_covers, schema_differences, translate, uncovered_differences
from migrate.shell.plan import Token

PINS = ["5a676b36", "84778176", "3bec9aa9", "d3528a21"]


def tr(argv: str, target: str = "d3528a21"):
    diags = Diagnostics()
    legacy = parse_argv(load_schema("rocm_dev"), [Token(w, Origin("train.sh", i + 1)) for i, w in enumerate(shlex.split(argv))])
    return translate(legacy, load_schema(target), diags), diags


@pytest.mark.parametrize("target", PINS)
def test_every_difference_is_covered_by_a_rule(target):
    assert uncovered_differences(load_schema("rocm_dev"), load_schema(target)) == []


@pytest.mark.parametrize("target", PINS)
def test_every_rule_answers_a_real_difference(target):
    # rules answer differences of the base table or of an entry's table (base + its extra_args_provider)
    from migrate.megatron.translate import PROVIDER_ORIGINS

    legacy = load_schema("rocm_dev")
    tables = [legacy, *(legacy.with_providers([p]) for p in PROVIDER_ORIGINS)]
    diffs = {(d.dest, d.kind) for table in tables for d in schema_differences(table, load_schema(target))}
    for dest, rules in RULES[target].items():
        for rule in rules:
            assert any((dest, kind) in diffs for kind in rule_covers(rule)), (dest, rule.kind)


def test_known_differences_are_found():
    diffs = {(d.kind, d.dest) for d in schema_differences(load_schema("rocm_dev"), load_schema("d3528a21"))}
    assert ("renamed", "norm_epsilon") in diffs
    assert ("removed", "async_tensor_model_parallel_allreduce") in diffs
    assert ("redefaulted", "eval_interval") in diffs
    assert ("choices_narrowed", "ckpt_format") in diffs


@pytest.mark.parametrize("target", PINS)
def test_result_has_exactly_the_target_dests(target):
    out, _ = tr("--num-layers 2", target)
    assert out.schema == target
    assert set(out.args) == set(load_schema(target).by_dest)


# ---- rename


def test_rename_norm_epsilon_explicit():
    out, diags = tr("--norm-epsilon 1e-6")
    assert out.args["layernorm_epsilon"] == 1e-6 and "norm_epsilon" not in out.args
    assert out.explicit["layernorm_epsilon"] == Origin("train.sh", 1)
    assert "megatron-option-renamed" in [d.code for d in diags]


def test_rename_norm_epsilon_default_carries_legacy_default():
    out, _ = tr("")
    assert out.args["layernorm_epsilon"] == 1e-5


def test_rename_apply_layernorm_1p():
    out, _ = tr("--apply-layernorm-1p")
    assert out.args["layernorm_zero_centered_gamma"] is True


def test_norm_epsilon_unchanged_at_5a676b36():
    out, _ = tr("--norm-epsilon 1e-6", "5a676b36")
    assert out.args["norm_epsilon"] == 1e-6


# ---- removed


def _non_default_argv(spec) -> list[str] | None:
    opt = spec.option_strings[0]
    if spec.action in ("store_true", "store_false"):
        return [opt]
    if spec.choices:
        other = [c for c in spec.choices if c != spec.default and c is not None]
        return [opt, str(other[0])] if other else None
    value = {"int": "7", "float": "0.5"}.get(spec.type or "str", "x")
    return [opt, value] if spec.nargs in (None, "?", "+", "*") else None


REMOVED = [(t, dest) for t in PINS for dest, rules in RULES[t].items()
           if any(r.kind == "removed" and not r.inert for r in rules)]
INERT = [(t, dest) for t in PINS for dest, rules in RULES[t].items() if any(r.kind == "removed" and r.inert for r in rules)]


@pytest.mark.parametrize("target,dest", REMOVED)
def test_removed_option_set_by_the_script_is_reported(target, dest):
    spec = load_schema("rocm_dev").by_dest[dest][0]
    argv = _non_default_argv(spec)
    assert argv is not None
    out, diags = tr(shlex.join(argv), target)
    warnings = [d for d in diags if d.code == "megatron-option-removed" and d.severity == "warning"]
    assert len(warnings) == 1 and spec.option_strings[0] in warnings[0].message
    assert warnings[0].origin == Origin("train.sh", 1)
    assert dest in out.dropped and dest not in out.args


@pytest.mark.parametrize("target,dest", INERT)
def test_removed_option_the_legacy_run_never_read_is_only_noted(target, dest):
    spec = load_schema("rocm_dev").by_dest[dest][0]
    out, diags = tr(shlex.join(_non_default_argv(spec)), target)
    notes = [d for d in diags if d.code == "megatron-option-removed"]
    assert [d.severity for d in notes] == ["note"] and notes[0].origin == Origin("train.sh", 1)
    assert out.dropped == {} and dest not in out.args


def test_removed_option_at_its_default_is_only_noted():
    out, diags = tr("--encoder-pipeline-model-parallel-size 0")
    assert [d.severity for d in diags if d.code == "megatron-option-removed"] == ["note"]
    assert out.dropped == {}


def test_removed_option_not_given_is_silent():
    _, diags = tr("--num-layers 2")
    assert not [d for d in diags if d.code == "megatron-option-removed"]


# ---- re-defaulted


@pytest.mark.parametrize("dest,legacy", [("eval_interval", 1000), ("rerun_mode", "disabled"), ("profile_ranks", [0])])
def test_keep_legacy_default(dest, legacy):
    out, diags = tr("")
    assert out.args[dest] == legacy
    assert any(d.code == "megatron-default-kept" and d.message.startswith(dest) for d in diags)


def test_explicit_value_wins_over_kept_default():
    out, _ = tr("--eval-interval 500")
    assert out.args["eval_interval"] == 500 and "eval_interval" in out.explicit


@pytest.mark.parametrize("dest", ["async_save", "lazy_mpu_init", "wandb_project"])
def test_equivalent_default_takes_target_default(dest):
    out, diags = tr("")
    assert out.args[dest] == load_schema("d3528a21").by_dest[dest][0].default
    assert not any(d.code == "megatron-default-kept" and d.message.startswith(dest) for d in diags)


def test_wandb_names_equivalent_only_while_wandb_is_off():
    out, _ = tr("")
    assert out.args["wandb_exp_name"] is None and out.args["wandb_save_dir"] is None
    out, _ = tr("--wandb-project p")
    assert out.args["wandb_exp_name"] == "" and out.args["wandb_save_dir"] == ""


def test_lazy_mpu_init_becomes_a_flag():
    out, _ = tr("--lazy-mpu-init 1")
    assert out.args["lazy_mpu_init"] is True


# ---- kind changes


def test_convert_rampup_batch_size_to_ints():
    out, _ = tr("--rampup-batch-size 16 8 300000")
    assert out.args["rampup_batch_size"] == [16, 8, 300000]


@pytest.mark.parametrize("flag,value,expected", [
    ("--moe-router-load-balancing-type", "aux_loss", ["aux_loss"]),
    ("--moe-aux-loss-coeff", "0.01", [0.01]),
])
def test_convert_scalar_to_list(flag, value, expected):
    out, _ = tr(f"{flag} {value}")
    assert out.args[flag[2:].replace("-", "_")] == expected


@pytest.mark.parametrize("argv,dest,value", [
    ("--normalization RMSNorm", "normalization", "RMSNorm"),
    ("--fp8-format hybrid", "fp8", "hybrid"),
    ("--transformer-impl local", "transformer_impl", "local"),
    ("--distributed-backend gloo", "distributed_backend", "gloo"),
    ("--fp8-amax-compute-algo max", "fp8_amax_compute_algo", "max"),
    ("--ckpt-format torch", "ckpt_format", "torch"),
    ("--ckpt-convert-save x", "ckpt_convert_save", "x"),
    ("--ckpt-convert-format torch", "ckpt_convert_format", "torch"),
])
def test_same_values(argv, dest, value):
    out, diags = tr(argv)
    assert out.args[dest] == value and not diags.warnings


# ---- values no longer accepted


@pytest.mark.parametrize("target,argv", [
    ("d3528a21", "--ckpt-format zarr"),
    ("d3528a21", "--ckpt-convert-format zarr"),
    ("d3528a21", "--moe-token-dispatcher-type alltoall_seq"),
    ("d3528a21", "--tokenizer-type DeepSeekV2Tokenizer"),
    ("5a676b36", "--tokenizer-type DeepSeekV2Tokenizer"),
])
def test_report_values(target, argv):
    out, diags = tr(argv, target)
    assert [d.code for d in diags.warnings] == ["megatron-value-unsupported"]
    assert diags.warnings[0].origin == Origin("train.sh", 1)
    assert out.dropped


def test_non_persistent_ckpt_type_default_none_is_fine():
    out, diags = tr("")
    assert out.args["non_persistent_ckpt_type"] is None and not diags.warnings


def test_same_schema_is_identity():
    legacy = parse_argv(load_schema("rocm_dev"), ["--bf16"])
    out = translate(legacy, load_schema("rocm_dev"), Diagnostics())
    assert out.args == legacy.args and out.explicit == legacy.explicit


def test_typical_llama_argv_translates_without_warnings():
    from test_megatron_argv import LLAMA_ARGV

    out, diags = tr(LLAMA_ARGV.replace("--no-position-embedding", ""))
    assert not diags.warnings
    assert out.args["layernorm_epsilon"] == 1e-5 and out.args["num_query_groups"] == 8
    assert out.args["eval_interval"] == 1000


def test_custom_legacy_schema_loaded_from_a_file(tmp_path):
    import json

    from migrate.megatron.schema import Schema

    data = load_schema("rocm_dev").to_json()
    data["name"] = "my_fork"
    data["options"] = [o for o in data["options"] if o["dest"] != "swiglu"]
    path = tmp_path / "my_fork.json"
    path.write_text(json.dumps(data))
    fork = load_schema(str(path))
    assert isinstance(fork, Schema) and fork.name == "my_fork"
    legacy = parse_argv(fork, ["--norm-epsilon", "1e-6"])
    out = translate(legacy, load_schema("d3528a21"), Diagnostics())
    assert out.args["layernorm_epsilon"] == 1e-6  # renamed by option string, without a rule table


@pytest.mark.parametrize("given", [False, True])
def test_a_flag_whose_dest_changed_polarity_keeps_its_meaning(given):
    # --disable-mamba-mem-eff-path: store_false to use_mamba_mem_eff_path (default True) at d3528a21,
    # store_true to disable_mamba_mem_eff_path (default False) at 5a676b36 (the bundled tables say so)
    newer, older = load_schema("d3528a21"), load_schema("5a676b36")
    argv = ["--disable-mamba-mem-eff-path"] if given else []
    back = translate(parse_argv(newer, argv), older, Diagnostics())
    assert back.args["disable_mamba_mem_eff_path"] is given
    forth = translate(parse_argv(older, argv), newer, Diagnostics())
    assert forth.args["use_mamba_mem_eff_path"] is (not given)
