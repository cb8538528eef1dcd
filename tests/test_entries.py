"""The entry-script registry (migrate.entries): the entry decides the model, and what Primus cannot
build is refused at the launch's line.

Expected values come from reading the upstream entry scripts at the pinned commits (ROCm rocm_dev
f712ab84, NVIDIA 5a676b36 and d3528a21) and Primus's trainers (v0.1.0-rc1, v26.5.1); the reasoning
sits beside each assertion.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_convert import SCRIPTS

from migrate.diagnostics import MigrateError
from migrate.entries import BY_KEY, ENTRY_AS_CHOICES, REGISTRY, decide_entry, match
from migrate.megatron import load_schema

BAD = SCRIPTS / "bad"
DEEPSEEK_V2 = SCRIPTS / "rocm" / "train_deepseekv2.sh"


def _line_of(script: Path, text: str) -> int:
    return next(i for i, line in enumerate(script.read_text().splitlines(), 1) if text in line)


# ---- the registry against the upstream trees

def test_every_registered_entry_exists_upstream():
    """Each registered path is an entry script of a pinned checkout: our schema extractor found it
    passing args_defaults or an extra_args_provider (an independent reading of the upstream tree)."""
    upstream = set()
    for name in ("rocm_dev", "5a676b36", "d3528a21"):
        schema = load_schema(name)
        upstream |= set(schema.entries) | set(schema.args_defaults)
    registered = {path for kind in REGISTRY for path in kind.paths}
    assert registered - upstream == set()


def test_every_pretraining_entry_upstream_is_registered():
    """The model-building entries the extractor found (pretrain_*.py and */train*.py files that pass
    args_defaults) are all classified: none falls through to 'unknown'."""
    for name in ("rocm_dev", "5a676b36", "d3528a21"):
        for path in load_schema(name).args_defaults:
            base = path.rsplit("/", 1)[-1]
            if base.startswith(("pretrain_", "train")) or "/train" in path:
                assert match(path) is not None, (name, path)


@pytest.mark.parametrize("program,key", [
    ("pretrain_gpt.py", "gpt"),
    ("/opt/Megatron-LM/pretrain_gpt.py", "gpt"),
    ("./pretrain_mamba.py", "mamba"),
    ("pretrain_bert.py", "bert"),
    ("${MEGATRON}/pretrain_t5.py", "t5"),
    ("pretrain_deepseek.py", "rocm_deepseek_v2"),  # the only registered file of that name
    ("Megatron-LM/examples/deepseek_v2/pretrain_deepseek.py", "rocm_deepseek_v2"),
    ("examples/multimodal/train.py", "multimodal"),
    ("pretrain_vision_dino.py", "vision_dino"),
    ("../../pretrain_bert.py", "bert"),
    ("../examples/deepseek_v2/pretrain_deepseek.py", "rocm_deepseek_v2"),
])
def test_match_by_path_tail(program, key):
    found = match(program)
    assert found is not None and found[0].key == key


@pytest.mark.parametrize("program", ["train.py", "tools/team_pretrain_lm.py", "pretrain_llama.py", "", None,
                                     "../deepseek_v3/pretrain_deepseek.py", "my_repo/multimodal/train.py"])
def test_unknown_or_ambiguous_programs_match_nothing(program):
    # train.py: both examples/multimodal/train.py and examples/mimo/train.py end so: ambiguous;
    # deepseek_v3/pretrain_deepseek.py (Pai-Megatron-Patch has one) is another program than
    # ROCm's examples/deepseek_v2/pretrain_deepseek.py: the folders differ
    assert match(program) is None


def test_entry_as_names_only_families_primus_builds():
    # Primus v0.1.0-rc1 builds pretrain_gpt's model; v26.5.1 also pretrain_mamba's (model_type mamba)
    assert set(ENTRY_AS_CHOICES) == {"gpt", "mamba"}


# ---- decisions per target

@pytest.mark.parametrize("key", sorted(k.key for k in REGISTRY if k.family is None))
@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_entries_primus_cannot_build_are_refused_at_both_targets(key, target):
    kind = BY_KEY[key]
    with pytest.raises(MigrateError) as err:
        decide_entry(kind.paths[0], target)
    assert err.value.exit_code == 2
    assert kind.paths[0] in err.value.message and kind.builds in err.value.message
    assert target in err.value.message


def test_mamba_is_refused_at_primus_0_1_and_kept_at_26_5():
    # v0.1.0-rc1's trainer imports pretrain_gpt's model_provider only: it cannot build MambaModel
    with pytest.raises(MigrateError) as err:
        decide_entry("pretrain_mamba.py", "primus-0.1")
    assert "primus-26.5" in err.value.message
    assert decide_entry("pretrain_mamba.py", "primus-26.5").family == "mamba"


# Read at each tag: v0.1.0-rc1..v0.3.0's trainer.py imports pretrain_gpt's model_provider; v0.4.0..v0.7.0's
# import_utils.get_model_provider() takes no model type (model_provider + gpt_builder; MambaModel only in a
# type annotation of primus_model_provider); from v26.2 megatron_pretrain_trainer.py and trainer.py pick
# pretrain_mamba's components and mamba_builder on `model_type: mamba` (mamba_base.yaml, mamba_370M.yaml).
GPT_ONLY = ("primus-0.1", "primus-0.2.0", "primus-0.3.0", "primus-0.4.0", "primus-0.5.0", "primus-0.6.0",
            "primus-0.7.0")
GPT_AND_MAMBA = ("primus-26.2", "primus-26.2.1", "primus-26.3", "primus-26.3.1", "primus-26.4.0", "primus-26.5.0",
                 "primus-26.5")


@pytest.mark.parametrize("target", GPT_ONLY + GPT_AND_MAMBA)
def test_mamba_converts_exactly_where_the_release_builds_it(target):
    assert decide_entry("pretrain_gpt.py", target).family == "gpt"
    if target in GPT_AND_MAMBA:
        assert decide_entry("pretrain_mamba.py", target).family == "mamba"
        return
    with pytest.raises(MigrateError) as err:
        decide_entry("pretrain_mamba.py", target)
    assert err.value.exit_code == 2 and target in err.value.message


def test_gpt_converts_at_both_targets():
    for target in ("primus-0.1", "primus-26.5"):
        decision = decide_entry("pretrain_gpt.py", target)
        assert (decision.family, decision.accepted_as, decision.program_as) == ("gpt", None, "pretrain_gpt.py")


def test_unknown_entry_is_refused_unless_accepted():
    with pytest.raises(MigrateError) as err:
        decide_entry("tools/team_pretrain_lm.py", "primus-0.1")
    assert "--entry-as gpt" in (err.value.hint or "")
    decision = decide_entry("tools/team_pretrain_lm.py", "primus-0.1", entry_as="gpt")
    # accepted as pretrain_gpt.py: its parser options and args_defaults are the run's
    assert (decision.accepted_as, decision.program_as, decision.family) == ("gpt", "pretrain_gpt.py", "gpt")


def test_entry_as_cannot_override_a_known_entry():
    with pytest.raises(MigrateError) as err:
        decide_entry("pretrain_bert.py", "primus-26.5", entry_as="gpt")
    assert "known entry script" in err.value.message
    with pytest.raises(MigrateError):
        decide_entry("tools/x_train.py", "primus-26.5", entry_as="bert")  # not a family Primus builds


# ---- the ROCm DeepSeek-V2 entry

def test_deepseek_v2_entry_builds_mla_whatever_the_flags_say():
    """rocm_dev f712ab84, examples/deepseek_v2/pretrain_deepseek.py: the layer spec is always
    MLASelfAttention with qk_layernorm=True and one spec for every layer; MLA reads --qk-head-dim /
    --qk-pos-emb-head-dim (defaults 128 / 64), not the entry's --qk-nope/--qk-rope-head-dim;
    shared experts come only from --moe-shared-expert-intermediate-size, which the fixture does not
    set, so its --enable-shared-expert --num-shared-experts 2 build none."""
    from migrate.entries import entry_summary
    from migrate.megatron.view import args_view
    from migrate.shell import evaluate_script

    plan = evaluate_script(DEEPSEEK_V2, {}, [])
    view = args_view(plan)
    assert view["args"]["multi_latent_attention"] is False  # the script never asks for MLA ...
    entry = entry_summary(plan.entry, view["args"])
    built = entry["built_options"]
    assert built["multi_latent_attention"] is True  # ... the entry builds it anyway
    assert built["qk_layernorm"] is True
    assert (built["kv_lora_rank"], built["qk_head_dim"], built["qk_pos_emb_head_dim"], built["v_head_dim"]) \
        == (512, 128, 64, 128)
    assert built["q_lora_rank"] is None  # MODEL_SIZE 16B passes no --q-lora-rank
    assert built["moe_shared_expert_intermediate_size"] is None
    assert built["moe_layer_freq"] == 1
    assert set(entry["targets"].values()) != {"converts"}


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_deepseek_v2_fixture_is_refused_at_the_launch_never_converted(cli, tmp_path, target):
    out = tmp_path / "out"
    r = cli(DEEPSEEK_V2, "-o", out, "--target", target)
    assert r.code == 2, r.err
    line = _line_of(DEEPSEEK_V2, "torchrun --nproc_per_node")
    assert f"{DEEPSEEK_V2.name}:{line}: error: entry script pretrain_deepseek.py" in r.err
    assert "no layer norm before it" in r.err and "deepseek_v2 preset" in r.err
    assert not out.exists()  # nothing written, no llama-like model either


# ---- the CLI: refusals located at the launch, --entry-as recorded

@pytest.mark.parametrize("fixture,words", [("entry_bert.sh", "BERT"), ("entry_t5.sh", "T5")])
def test_refused_entry_fixtures(cli, tmp_path, fixture, words):
    script = BAD / fixture
    out = tmp_path / "out"
    r = cli(script, "-o", out)
    assert r.code == 2
    line = _line_of(script, "torch")  # the launcher's first word
    assert f"{script.name}:{line}: error: entry script" in r.err and words in r.err
    assert "decoder-only" in r.err and not out.exists()


def test_parity_refuses_a_bert_entry_too(cli):
    r = cli("parity", BAD / "entry_bert.sh", "--static")
    assert r.code == 2 and "BERT" in r.err and "Traceback" not in r.err


def test_unknown_entry_fixture_refused_then_accepted_with_entry_as(cli, tmp_path):
    script = BAD / "entry_unknown.sh"
    r = cli(script, "-o", tmp_path / "refused", "--target", "primus-0.1")
    assert r.code == 2 and "unknown entry script tools/team_pretrain_lm.py" in r.err
    assert f"{script.name}:{_line_of(script, 'torchrun')}:" in r.err
    assert not (tmp_path / "refused").exists()

    out = tmp_path / "out"
    r = cli(script, "-o", out, "--target", "primus-0.1", "--entry-as", "gpt")
    assert r.code == 0, r.err
    experiment = next(out.glob("*.yaml"))
    header = [line for line in experiment.read_text().splitlines() if line.startswith("#")]
    assert any("tools/team_pretrain_lm.py" in line and "--entry-as gpt" in line for line in header)
    report = json.loads((out / "report.json").read_text())
    assert report["entry"] == {"program": "tools/team_pretrain_lm.py", "kind": "gpt", "matched": None,
                               "builds": BY_KEY["gpt"].builds, "accepted_as": "gpt"}
    assert "--entry-as gpt" in (out / "report.md").read_text()


def test_parity_static_takes_entry_as(cli):
    script = BAD / "entry_unknown.sh"
    assert cli("parity", script, "--static", "--target", "primus-0.1").code == 2
    r = cli("parity", script, "--static", "--target", "primus-0.1", "--entry-as", "gpt")
    assert r.code == 0, r.err


def test_known_entry_reports_what_it_builds(cli, tmp_path):
    out = tmp_path / "out"
    r = cli(SCRIPTS / "rocm" / "train_llama3.sh", "-o", out, "--target", "primus-0.1")
    assert r.code in (0, 4), r.err
    entry = json.loads((out / "report.json").read_text())["entry"]
    assert (entry["kind"], entry["matched"], entry["accepted_as"]) == ("gpt", "pretrain_gpt.py", None)
    header = "".join(line for line in next(out.glob("*.yaml")).read_text().splitlines() if line.startswith("#"))
    assert "--entry-as" not in header  # only an accepted unknown entry is called out


def test_batch_rejects_unknown_entries_unless_entry_as(cli, tmp_path):
    repo = tmp_path / "repo"
    (repo / "team").mkdir(parents=True)
    (repo / "team" / "train_team.sh").write_text((BAD / "entry_unknown.sh").read_text())
    r = cli("batch", repo, "-o", tmp_path / "out1", "--jobs", "1", "--target", "primus-0.1")
    assert r.code == 2
    rows = json.loads((tmp_path / "out1" / "batch_report.json").read_text())["scripts"]
    assert rows[0]["status"] == "rejected" and "unknown entry script" in json.dumps(rows[0])
    r = cli("batch", repo, "-o", tmp_path / "out2", "--jobs", "1", "--target", "primus-0.1", "--entry-as", "gpt")
    assert r.code == 0, r.err
    report = json.loads((tmp_path / "out2" / "batch_report.json").read_text())
    assert report["entry_as"] == "gpt" and report["scripts"][0]["status"].startswith("converted")
    experiments = list((tmp_path / "out2").rglob("exp/**/*.yaml"))
    assert experiments and all("--entry-as gpt" in p.read_text() for p in experiments)


def test_inspect_args_shows_the_entry_verdict(cli):
    r = cli("inspect", BAD / "entry_bert.sh", "--args")
    assert r.code == 0
    assert "Entry pretrain_bert.py: builds BERT" in r.out
