"""`primus-migrate resolve` and `to-megatron` as a user runs them."""

import json
import shlex

import pytest

from helpers_primus import FIXTURES, write_tree


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("PRIMUS_TEAM", "PRIMUS_USER", "PRIMUS_EXP_NAME", "TRAIN_ITERS"):
        monkeypatch.delenv(var, raising=False)


def fixture(target):
    return str(FIXTURES / "primus" / target / "llama3_8B-pretrain.yaml")


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_resolve_json(cli, target):
    res = cli("resolve", fixture(target), "--target", target, "--json")
    assert res.code == 0, res.err
    values = json.loads(res.out)
    assert values["lr_warmup_iters"] == 40 and values["rotary_base"] == 500000
    assert values["micro_batch_size"] == 2
    assert "trainable" not in values  # Primus-only keys are not printed as Megatron values


def test_resolve_reads_environment(cli, monkeypatch):
    monkeypatch.setenv("TRAIN_ITERS", "77")
    values = json.loads(cli("resolve", fixture("primus-26.5"), "--json").out)
    assert values["train_iters"] == 77


def test_resolve_table(cli):
    res = cli("resolve", fixture("primus-26.5"))
    assert res.code == 0
    line = next(l for l in res.out.splitlines() if l.startswith("rotary_base "))
    # value, Megatron default (--rotary-base default=10000), and the preset line that set it
    assert line.split()[1:3] == ["500000", "10000"]
    # rotary_base is on line 6 of primus/configs/models/megatron/llama3_base.yaml@v26.5.1, and the
    # snapshot keeps every key on its upstream line
    assert line.endswith("<presets>/primus-26.5/models/megatron/llama3_base.yaml:6")
    assert not any(l.startswith("seed ") for l in res.out.splitlines())  # at the default: only with --all
    assert "Primus-only keys" in res.out and "norm_epsilon" in res.out
    assert "the primus-26.5 trainer then rewrites" in res.out
    trainer = cli("resolve", fixture("primus-26.5"), "--trainer").out
    assert "trainer then rewrites" not in trainer
    assert next(l for l in trainer.splitlines() if l.startswith("tokenizer_type ")).split()[1] == "'NullTokenizer'"
    full = cli("resolve", fixture("primus-26.5"), "--all").out
    seed = next(l for l in full.splitlines() if l.startswith("seed "))
    assert seed.split()[1:3] == ["1234", "="]


def test_to_megatron(cli):
    res = cli("to-megatron", fixture("primus-26.5"))
    assert res.code == 0, res.err
    argv = shlex.split(res.out)
    assert argv[argv.index("--rotary-base") + 1] == "500000"
    assert argv[argv.index("--lr-warmup-iters") + 1] == "40"
    assert "--sequence-parallel" in argv  # language_model.yaml's value, as the config system hands it over
    rewritten = shlex.split(cli("to-megatron", fixture("primus-26.5"), "--trainer").out)
    assert "--sequence-parallel" not in rewritten  # TP=1: the trainer turns it off
    assert argv[argv.index("--eval-iters") + 1] == "0"
    assert "--mock-data" in argv


def test_to_megatron_lines(cli):
    res = cli("to-megatron", fixture("primus-0.1"), "--target", "primus-0.1", "--lines")
    assert res.code == 0
    assert all(l.rstrip(" \\").startswith("--") for l in res.out.splitlines())
    assert "--norm-epsilon" not in res.out  # 1e-05 is Megatron's own default at 5a676b36


# line 9: model, line 11: the override
BASE = """
work_group: amd
user_name: root
exp_name: t
workspace: ./out
modules:
  pre_trainer:
    framework: megatron
    config: pre_trainer.yaml
    model: {model}
    overrides:
      {override}
"""


@pytest.mark.parametrize("target,model,override,extra,needle,where", [
    ("primus-0.1", "llama3_8B.yaml", "no_such_key: 1", {}, "no_such_key", "exp.yaml:11"),
    ("primus-0.1", "mine.yaml", "lr: 1.0e-04", {"mine.yaml": "bases: [llama3_8B.yaml]\nnot_in_base: 1\n"},
     "not_in_base", "mine.yaml:2"),
    ("primus-0.1", "mine.yaml", "lr: 1.0e-04", {"mine.yaml": "includes: [llama3_8B.yaml]\ntrain_iters: 5\n"},
     "'train_iters'", "mine.yaml:2"),
    ("primus-26.5", "mine.yaml", "lr: 1.0e-04", {"mine.yaml": "extends: [gone.yaml]\n"}, "gone.yaml", "mine.yaml:1"),
    ("primus-26.5", "mine.yaml", "lr: 1.0e-04", {"mine.yaml": "extends: [mine.yaml]\n"}, "cycle", "mine.yaml:1"),
    ("primus-26.5", "llama3_8B", "lr: [1, 2", {}, "malformed YAML", "exp.yaml:"),
    ("primus-26.5", "llama3_8B", "train_iters: ${NOT_SET_ANYWHERE}", {}, "NOT_SET_ANYWHERE", "exp.yaml:11"),
    ("primus-26.5", "nope", "lr: 1.0e-04", {}, "nope", "exp.yaml:9"),
])
def test_bad_input_is_exit_2_with_file_and_line(cli, tmp_path, target, model, override, extra, needle, where):
    write_tree(tmp_path, {"exp.yaml": BASE.format(model=model, override=override), **extra})
    res = cli("resolve", str(tmp_path / "exp.yaml"), "--target", target, "--json")
    assert res.code == 2
    assert res.out == ""
    assert needle in res.err and "error:" in res.err
    assert where in res.err
    assert "Traceback" not in res.err


def test_missing_experiment_file(cli, tmp_path):
    res = cli("resolve", str(tmp_path / "none.yaml"))
    assert res.code == 2 and "not found" in res.err


def test_primus_path_checkout(cli, tmp_path):
    root = write_tree(tmp_path / "Primus", {
        "primus/configs/modules/megatron/pre_trainer.yaml": "extends: [../module_base.yaml]\nlr: 1.0e-04\n",
        "primus/configs/modules/module_base.yaml": "trainable: false\n",
        "primus/configs/models/megatron/tiny.yaml": "num_layers: 3\n",
    })
    write_tree(tmp_path, {"exp.yaml": BASE.format(model="tiny", override="hidden_size: 64")})
    res = cli("resolve", str(tmp_path / "exp.yaml"), "--primus-path", str(root), "--json")
    assert res.code == 0, res.err
    values = json.loads(res.out)
    assert (values["num_layers"], values["hidden_size"], values["lr"]) == (3, 64, 1.0e-04)
