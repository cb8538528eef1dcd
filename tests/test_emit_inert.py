"""The inertness rules (migrate/primus/emit/inert.py), each both ways, and the experiment layout they drive.

Expected verdicts come from the Megatron semantics each rule cites, restated here for the case at
hand: a key is inert when the setting that gates its only reader is off, and affects the run as soon
as that setting is on, unknown or absent.
"""

from __future__ import annotations

import pytest
import yaml

from helpers_convert import SCRIPTS, compare, fixture_scripts, legacy_expected, resolve_written, script_args
from migrate.primus.emit.inert import RULE_NAMES, inert_reason


def _rule(key, *views):
    found = inert_reason(key, list(views))
    return found.rule if found else None


# (rule, key, a view where it is inert, a view where it is not): the second differs in the gating
# setting only, so the pair shows the rule turns on that setting.
PAIRS = [
    ("optimizer", "muon_momentum", {"optimizer": "adam"}, {"optimizer": "muon"}),
    ("optimizer", "muon_momentum", {"optimizer": "sgd"}, {"optimizer": "dist_muon"}),
    ("optimizer", "sgd_momentum", {"optimizer": "adam"}, {"optimizer": "sgd"}),
    ("optimizer", "adam_beta2", {"optimizer": "sgd"}, {"optimizer": "adam"}),
    # Muon uses Adam for the parameters it does not orthogonalise: Adam's keys matter under Muon
    ("optimizer", "adam_beta2", {"optimizer": "sgd"}, {"optimizer": "muon"}),
    # an optimizer the table does not know: nothing is inert
    ("optimizer", "sgd_momentum", {"optimizer": "adam"}, {"optimizer": "lion"}),
    ("fp8", "fp8_amax_history_len", {"fp8": None}, {"fp8": "hybrid"}),
    ("fp8", "fp8_amax_compute_algo", {"fp8": None, "fp8_param": False}, {"fp8": None, "fp8_param": True}),
    ("fp8", "fp8_margin", {"fp8": None}, {"fp8": "e4m3"}),
    ("legacy-rope-flag", "use_rotary_position_embeddings",
     {"position_embedding_type": "rope", "use_rotary_position_embeddings": False},
     {"position_embedding_type": "learned_absolute", "use_rotary_position_embeddings": False}),
    # a true flag may be what made the derived type 'rope': turning it off could change the model
    ("legacy-rope-flag", "use_rotary_position_embeddings",
     {"position_embedding_type": "rope", "use_rotary_position_embeddings": False},
     {"position_embedding_type": "rope", "use_rotary_position_embeddings": True}),
    ("no-rotary", "rotary_base", {"position_embedding_type": "learned_absolute", "multi_latent_attention": False},
     {"position_embedding_type": "rope", "multi_latent_attention": False}),
    # multi-latent attention reads rotary_base whatever the position embedding type
    ("no-rotary", "rotary_percent", {"position_embedding_type": "none", "multi_latent_attention": False},
     {"position_embedding_type": "none", "multi_latent_attention": True}),
    ("no-mla", "mscale_all_dim", {"multi_latent_attention": False}, {"multi_latent_attention": True}),
    ("no-mla", "rotary_scaling_factor", {"multi_latent_attention": False, "experimental_attention_variant": None},
     {"multi_latent_attention": False, "experimental_attention_variant": "dsa"}),
    ("no-moe", "moe_router_topk", {"num_experts": None}, {"num_experts": 8}),
    ("manual-gc", "manual_gc_interval", {"manual_gc": False}, {"manual_gc": True}),
    ("replication", "replication_factor", {"replication": False}, {"replication": True}),
    ("no-megatron-fsdp", "suggested_communication_unit_size", {"use_megatron_fsdp": False},
     {"use_megatron_fsdp": True}),
    ("no-megatron-fsdp", "suggested_communication_unit_size", {"use_custom_fsdp": False}, {"use_custom_fsdp": True}),
    ("no-context-parallel", "cp_comm_type", {"context_parallel_size": 1}, {"context_parallel_size": 2}),
    ("no-checkpoint", "async_save", {"save": None, "load": None}, {"save": "/ckpt", "load": None}),
    ("no-checkpoint", "finetune", {"save": None, "load": None}, {"save": None, "load": "/ckpt"}),
    ("no-checkpoint", "save_interval", {"save": None, "load": None}, {"save": "/ckpt", "load": None}),
    ("no-checkpoint", "exit_on_missing_checkpoint", {"save": None, "load": None, "pretrained_checkpoint": None},
     {"save": None, "load": None, "pretrained_checkpoint": "/base"}),
    ("no-tensorboard", "log_timers_to_tensorboard", {"tensorboard_dir": None}, {"tensorboard_dir": "tb"}),
    # a Primus switch that makes the trainer choose a TensorBoard folder itself
    ("no-tensorboard", "tensorboard_queue_size", {"tensorboard_dir": None, "disable_tensorboard": True},
     {"tensorboard_dir": None, "disable_tensorboard": False}),
]


@pytest.mark.parametrize("rule, key, inert, active", PAIRS, ids=[f"{p[0]}-{p[1]}-{i}" for i, p in enumerate(PAIRS)])
def test_each_rule_both_ways(rule, key, inert, active):
    assert _rule(key, inert) == rule
    assert _rule(key, active) is None


def test_every_rule_has_a_pair():
    assert set(RULE_NAMES) == {p[0] for p in PAIRS}


@pytest.mark.parametrize("key, view", [
    ("muon_momentum", {}),  # optimizer unknown
    ("fp8_amax_history_len", {"optimizer": "adam"}),  # fp8 not in the namespace
    ("cp_comm_type", {"tensor_model_parallel_size": 1}),
    ("manual_gc_eval", {}),
    ("async_save", {"save": None}),  # load unknown
    ("suggested_communication_unit_size", {}),
])
def test_an_absent_gating_setting_leaves_the_key_affecting_the_run(key, view):
    assert inert_reason(key, [view]) is None


def test_inert_only_when_every_view_agrees():
    # the legacy run uses Adam, the resolved Primus run would say Muon: the key may matter
    assert _rule("muon_momentum", {"optimizer": "adam"}, {"optimizer": "adam"}) == "optimizer"
    assert _rule("muon_momentum", {"optimizer": "adam"}, {"optimizer": "muon"}) is None
    assert inert_reason("muon_momentum", []) is None


@pytest.mark.parametrize("model", [{"model_type": "deepseek_v4"}, {"model_type": "flux"}, {"is_hybrid_model": True}])
def test_models_other_than_megatron_gpt_get_no_inert_keys(model):
    # Primus v26.5.1's DeepSeek V4 block reads rotary_scaling_factor with multi_latent_attention false
    # (primus/backends/megatron/core/models/deepseek_v4/deepseek_v4_block.py); Flux's FP8 linears read
    # fp8_amax_history_len: the rules, written for Megatron's GPT, do not apply there
    view = {"multi_latent_attention": False, "fp8": None, "optimizer": "adam", "model_type": "gpt"}
    assert _rule("rotary_scaling_factor", view) == "no-mla"
    for key in ("rotary_scaling_factor", "fp8_amax_history_len", "muon_momentum"):
        assert _rule(key, {**view, **model}) is None
        assert _rule(key, view, {**view, **model}) is None


def test_keys_no_rule_covers_affect_the_run():
    view = {"optimizer": "adam", "fp8": None, "num_experts": None, "save": None, "load": None}
    for key in ("lr", "seq_length", "num_experts", "optimizer", "fp8", "save", "moe_use_upcycling",
                "attention_softmax_in_fp32"):
        assert inert_reason(key, [view]) is None, key


# --- the layout on fixture conversions ---------------------------------------------------------------

LLAMA3 = SCRIPTS / "rocm" / "train_llama3.sh"
TITLE = "# inert in this run:"


def _convert(env, target, tmp_path):
    from migrate.output import OutputTree
    from migrate.pipeline import ConvertOptions, convert_script

    conversion = convert_script(LLAMA3, env, [], ConvertOptions(target=target))
    tree = OutputTree(tmp_path / "out")
    for rel, text in conversion.files.items():
        tree.add(rel, text)
    tree.commit()
    return conversion, tmp_path / "out"


def _override_lines(text):
    body = text.split("    overrides:\n", 1)[1]
    return [line for line in body.splitlines() if line.startswith("      ") and not line.strip().startswith("#")
            and line.strip()]


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_llama3_layout_puts_what_changes_the_run_first(target, tmp_path):
    conversion, out = _convert({"MODEL_SIZE": "8", "TP": "1"}, target, tmp_path)
    text = conversion.files[conversion.experiment_path]
    assert TITLE in text
    before, after = text.split(TITLE, 1)
    first = [line.split(":")[0].strip() for line in _override_lines(before + "\n")]
    last = [line.split(":")[0].strip() for line in after.splitlines()[3:] if line.strip()]
    # The script trains with Adam (Megatron's default optimizer), without FP8 (TE_FP8=0) and with RoPE
    # (--position-embedding-type rope): Muon's and FP8's knobs and the legacy RoPE flag cannot matter.
    assert "lr" in first and "seq_length" in first and "train_iters" in first
    for key in ("fp8_amax_history_len", "fp8_amax_compute_algo", "use_rotary_position_embeddings"):
        assert key in last and key not in first
    if target == "primus-26.5":
        assert "muon_momentum" in last  # Muon exists only at the 26.5 pin
    for line in after.splitlines()[3:]:
        if line.strip():
            assert "; inert: " in line, line
    # every key is still written exactly once, with the value the report records
    loaded = yaml.safe_load(text)["modules"]["pre_trainer"]["overrides"]
    assert sorted(loaded) == sorted(o["key"] for o in conversion.report["overrides"])
    assert len(first) + len(last) == len(loaded)
    # static parity, judged independently of the converter's own check
    assert conversion.parity.ok
    derived = resolve_written(out, conversion.experiment_path, conversion.model_path, target)
    assert compare(legacy_expected(LLAMA3, {"MODEL_SIZE": "8", "TP": "1"}, target), derived, target) == []


def test_fp8_run_keeps_its_fp8_knobs_with_the_keys_that_change_the_run(tmp_path):
    conversion, _ = _convert({"MODEL_SIZE": "70", "TP": "4", "TE_FP8": "1"}, "primus-26.5", tmp_path)
    text = conversion.files[conversion.experiment_path]
    inert_part = text.split(TITLE, 1)[1] if TITLE in text else ""
    assert "fp8_amax" not in inert_part  # FP8 is on: its recipe knobs are read
    fp8_keys = [o for o in conversion.report["overrides"] if o["key"].startswith("fp8")]
    assert fp8_keys and all(o["inert"] is None for o in fp8_keys)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
@pytest.mark.parametrize("script", fixture_scripts(), ids=lambda p: p.name)
def test_every_fixture_writes_each_key_once_inert_ones_last(script, target, tmp_path):
    from migrate.diagnostics import MigrateError
    from migrate.pipeline import ConvertOptions, convert_script

    try:
        conversion = convert_script(script, {}, script_args(script), ConvertOptions(target=target))
    except MigrateError:
        pytest.skip("refused as bad input (tests/test_emit_roundtrip.py checks the refusal)")
    text = conversion.files[conversion.experiment_path]
    before, _, after = text.partition(TITLE)
    inert = {o["key"] for o in conversion.report["overrides"] if o["inert"]}
    first = [line.split(":")[0].strip() for line in _override_lines(before + "\n")]
    last = [line.split(":")[0].strip() for line in after.splitlines()[3:] if line.strip()]
    assert set(last) == inert and not inert & set(first)
    loaded = yaml.safe_load(text)["modules"]["pre_trainer"]["overrides"]
    assert sorted(loaded) == sorted(first + last) == sorted(o["key"] for o in conversion.report["overrides"])


def test_the_inert_block_comes_last_and_says_how_many_pin_defaults():
    from migrate.primus.emit.files import experiment_yaml
    from migrate.primus.emit.inert import Inert
    from migrate.primus.emit.overrides import Override

    fp8 = Inert("fp8", "fp8 is unset")
    overrides = [Override("fp8_margin", 0, "Megatron default", inert=fp8), Override("lr", 3e-4, "t.sh:3"),
                 Override("fp8_interval", 1, "t.sh:9", inert=fp8), Override("muon_momentum", 0.9, "Megatron default",
                                                                         inert=Inert("optimizer", "adam"))]
    text = experiment_yaml("e", "m.yaml", overrides)
    lines = [line.strip() for line in text.splitlines()]
    title = lines.index(next(line for line in lines if line.startswith("# inert in this run:")))
    lr = next(i for i, line in enumerate(lines) if line.startswith("lr: 0.0003 ") and line.endswith("# t.sh:3"))
    assert lr < title
    # one block, by rule in the table's order (optimizer before fp8), each comment keeping its origin
    assert [line.split(":")[0] for line in lines[title + 3:] if line] == ["muon_momentum", "fp8_margin", "fp8_interval"]
    assert "fp8_interval: 1" in text and "# t.sh:9; inert: fp8 is unset" in text
    assert "# 2 of the 3 pin Megatron defaults the Primus presets change" in text
    only_defaults = experiment_yaml("e", "m.yaml", overrides[:1])
    assert "# all pin Megatron defaults" in only_defaults
    assert "inert" not in experiment_yaml("e", "m.yaml", overrides[1:2])


def test_the_layout_is_forecast_from_the_baseline_with_the_overrides_written_over_it():
    """The emitter lays the experiment out before the loader has read it: the baseline's views with the
    overrides applied, except where the baseline's trainer rewrites a key (it still will). Here the
    legacy RoPE flag: the preset leaves it unset, the override writes false, so it is inert once
    written (position_embedding_type is rope); TP=1 keeps turning sequence parallelism off."""
    from migrate.primus.emit.emitter import run_views
    from migrate.primus.resolved import ResolvedConfig

    values = {"position_embedding_type": "rope", "use_rotary_position_embeddings": None,
              "sequence_parallel": True, "optimizer": "adam"}
    baseline = ResolvedConfig(values, {}, {"model_type": "gpt"}, "primus-26.5", [], "exp.yaml",
                              {"sequence_parallel": (True, False, "TP=1")})
    expected = {**values, "use_rotary_position_embeddings": False, "sequence_parallel": False}
    assert inert_reason("use_rotary_position_embeddings", run_views(expected, baseline)) is None
    views = run_views(expected, baseline, {"use_rotary_position_embeddings": False, "sequence_parallel": True})
    assert [v["use_rotary_position_embeddings"] for v in views] == [False, False, False]
    assert [v["sequence_parallel"] for v in views] == [False, True, False]
    assert _rule("use_rotary_position_embeddings", *views) == "legacy-rope-flag"
