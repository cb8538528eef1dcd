"""`primus-migrate verify` as a user runs it, on a tiny fake Primus checkout of our own.

The fake release's "own code" (primus/core/launcher/parser.py + the legacy trainer module) hands
Megatron whatever `namespace.json` beside its parser says, so each test decides what the release
builds: the namespace `resolve --trainer --json` prints (they agree), one dest changed (they differ),
or a misbehaving release (hangs, writes outside its scratch folder, imports a missing module, raises).
Whether our model matches real Primus releases is judged by tests/test_verify_releases.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

PARSER = '''
import json, os, types

HERE = os.path.dirname(os.path.abspath(__file__))


class _Config:
    def __init__(self, values):
        self.values = values
        self.exp_meta_info = {}
        self.exp_root_path = os.path.join("output", "amd", "root", "exp")
        os.makedirs(self.exp_root_path, exist_ok=True)

    def get_module_config(self, name):
        return types.SimpleNamespace(**self.values)


class PrimusParser:
    def parse(self, cli_args):
        with open(os.path.join(HERE, "namespace.json")) as file:
            job = json.load(file)
        if job.get("hang"):
            while True:
                pass
        if job.get("write"):
            with open(job["write"], "w") as file:
                file.write("escaped")
        if job.get("exit"):
            os._exit(job["exit"])
        if job.get("spawn"):
            import subprocess
            subprocess.run(["touch", job["spawn"]])
        if job.get("allocate"):
            hog = [bytearray(1 << 20) for _ in range(job["allocate"])]
        if job.get("raise"):
            raise ValueError(job["raise"])
        if job.get("need_model") and not os.path.isfile(os.path.join(HERE, "..", "..", "configs", "models",
                                                                      "megatron", job["need_model"])):
            raise FileNotFoundError(job["need_model"] + " was not installed among the model presets")
        return _Config(job["values"])
'''
TRAINER = '''
{imports}

class MegatronTrainer:
    def update_primus_config(self, args, exp_meta_info, exp_root_path):
        args.rank = self.module_rank
'''
PRE_TRAINER = "seed: 1234\nlr: 1.0e-4\ntokenizer_type: GPT2BPETokenizer\n"
MODEL = "num_layers: 2\nhidden_size: 64\nnum_attention_heads: 4\n"
EXPERIMENT = """work_group: amd
user_name: root
exp_name: exp
workspace: ./output
modules:
  pre_trainer:
    framework: megatron
    config: pre_trainer.yaml
    model: tiny_model.yaml
    overrides:
      lr: 2.0e-4
"""


def fake_checkout(root: Path, imports: str = "") -> Path:
    files = {
        "primus/__init__.py": "", "primus/core/__init__.py": "", "primus/core/utils/__init__.py": "",
        "primus/core/utils/logger.py": "_logger = None\n", "primus/core/launcher/__init__.py": "",
        "primus/core/launcher/parser.py": PARSER, "primus/modules/__init__.py": "",
        "primus/modules/trainer/__init__.py": "", "primus/modules/trainer/megatron/__init__.py": "",
        "primus/modules/trainer/megatron/trainer.py": TRAINER.format(imports=imports),
        "primus/configs/modules/megatron/pre_trainer.yaml": PRE_TRAINER,
        "primus/configs/models/megatron/other_model.yaml": MODEL,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def release_builds(checkout: Path, **job) -> None:
    (checkout / "primus" / "core" / "launcher" / "namespace.json").write_text(json.dumps(job))


@pytest.fixture
def setup(tmp_path, cli):
    """(checkout, experiment, ours): the fake checkout, an experiment whose model file sits in
    models/megatron/ beside it (as `convert` writes it), and our resolve of it."""
    checkout = fake_checkout(tmp_path / "Primus")
    exp = tmp_path / "out" / "exp.yaml"
    (exp.parent / "models" / "megatron").mkdir(parents=True)
    exp.write_text(EXPERIMENT)
    (exp.parent / "models" / "megatron" / "tiny_model.yaml").write_text(MODEL)
    res = cli("resolve", exp, "--primus-path", checkout, "--trainer", "--json")
    assert res.code == 0, res.err
    return checkout, exp, json.loads(res.out)


def _dests(checkout: Path) -> set[str]:
    from migrate.primus import get_profile

    return set(get_profile(None, str(checkout)).schema().defaults())


def test_agreement_is_exit_0_with_one_line(setup, cli):
    checkout, exp, ours = setup
    release_builds(checkout, values=ours, need_model="tiny_model.yaml")
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 0, res.out + res.err
    # every Megatron dest of the namespace but the launcher's rank/world size (the machine decides them)
    compared = len(set(ours) & _dests(checkout) - {"rank", "world_size", "local_rank"})
    assert res.out.splitlines() == [res.out.strip()] and res.out.startswith(f"ok: {compared} Megatron dests")
    assert "legacy runtime" in res.out
    assert "tiny_model.yaml among the checkout's model presets" in res.err
    # the user's checkout is read, never written: no model installed, no byte code, no experiment folder
    assert not (checkout / "primus" / "configs" / "models" / "megatron" / "tiny_model.yaml").exists()
    assert not list(checkout.rglob("__pycache__")) and not (checkout / "output").exists()


def test_a_difference_is_exit_3_with_dest_ours_theirs(setup, cli):
    checkout, exp, ours = setup
    theirs = dict(ours, lr=0.5, seed=None)
    theirs.pop("num_layers")
    release_builds(checkout, values=theirs)
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 3, res.out + res.err
    lines = res.out.splitlines()
    assert "3 of" in lines[0] and "Megatron dests differ" in lines[0]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["dest"] == ["ours", "theirs"]
    assert rows["lr"] == ["0.0002", "0.5"] and rows["seed"] == ["1234", "null"]
    assert rows["num_layers"] == ["2", "<absent>"]
    machine = json.loads(cli("verify", exp, "--primus-path", checkout, "--json").out)
    assert machine["agree"] is False and machine["runtime"] == "legacy"
    assert {d["dest"]: (d["ours"], d["theirs"]) for d in machine["differences"]} == {
        "lr": (2e-4, 0.5), "seed": (1234, None), "num_layers": (2, "<absent>")}


def test_not_a_checkout_is_exit_2(setup, cli, tmp_path):
    _, exp, _ = setup
    res = cli("verify", exp, "--primus-path", tmp_path / "out")
    assert res.code == 2 and "is not a Primus checkout" in res.err and "Traceback" not in res.err


def test_a_missing_import_in_the_loader_is_exit_2_naming_the_module(setup, cli):
    checkout, exp, _ = setup
    parser = checkout / "primus" / "core" / "launcher" / "parser.py"
    parser.write_text("import no_such_module_for_verify\n" + parser.read_text())
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2, res.out + res.err
    assert "module 'no_such_module_for_verify' could not be imported" in res.err
    assert "parser.py" in res.err and str(checkout) in res.err  # where, in the user's checkout's paths


def test_a_trainer_that_cannot_import_leaves_the_loader_compared(tmp_path, cli):
    """Its argument updates cannot be run: the loader's namespace is compared with ours before the
    trainer's rewrites, and the summary says so (never a plain ok)."""
    checkout = fake_checkout(tmp_path / "Primus", imports="import no_such_module_for_verify")
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.replace("tiny_model.yaml", "other_model.yaml"))
    res = cli("resolve", exp, "--primus-path", checkout, "--json")  # no --trainer
    release_builds(checkout, values=json.loads(res.out))
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 0, res.out + res.err
    assert "(loader only: the trainer's argument updates could not be run)" in res.out
    assert "no_such_module_for_verify" in res.err
    machine = json.loads(cli("verify", exp, "--primus-path", checkout, "--json").out)
    assert machine["agree"] is True and machine["trainer_updates_compared"] is False


def test_a_hanging_checkout_is_stopped_at_the_time_limit(setup, cli, monkeypatch):
    checkout, exp, _ = setup
    release_builds(checkout, hang=True)
    monkeypatch.setenv("PRIMUS_MIGRATE_LIMITS", "verify_seconds=3")
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2 and "verify_seconds" in res.err, res.err


def test_a_write_outside_the_scratch_folder_is_refused(setup, cli, tmp_path):
    checkout, exp, _ = setup
    target = tmp_path / "escaped.txt"
    release_builds(checkout, write=str(target))
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2 and "outside verify's scratch folder" in res.err, res.err
    assert not target.exists()


def test_a_checkout_that_dies_is_exit_2_with_its_status(setup, cli):
    checkout, exp, _ = setup
    release_builds(checkout, exit=7)
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2 and "ended without an answer (exit code 7)" in res.err, res.err


def test_a_new_process_is_refused(setup, cli, tmp_path):
    checkout, exp, _ = setup
    target = tmp_path / "spawned.txt"
    release_builds(checkout, spawn=str(target))
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2 and "allows no process" in res.err, res.err
    assert not target.exists()


def test_the_release_refusing_what_we_accept_is_exit_3(setup, cli):
    checkout, exp, _ = setup
    release_builds(checkout, **{"raise": "unknown key lr_typo"})
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 3 and "ValueError: unknown key lr_typo" in res.out, res.out + res.err


def test_a_bad_experiment_is_exit_2(setup, cli):
    checkout, exp, ours = setup
    release_builds(checkout, values=ours)
    exp.write_text(EXPERIMENT.replace("work_group: amd\n", ""))
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2 and "work_group" in res.err, res.err


def test_the_scratch_folder_is_removed(setup, cli, tmp_path, monkeypatch):
    checkout, exp, ours = setup
    release_builds(checkout, values=ours)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert cli("verify", exp, "--primus-path", checkout).code == 0
    assert os.listdir(scratch) == []


def test_running_out_of_memory_is_exit_2_naming_the_limit(setup, cli, monkeypatch):
    checkout, exp, _ = setup
    release_builds(checkout, allocate=2048)  # 2 GiB, past a 256 MiB cap
    monkeypatch.setenv("PRIMUS_MIGRATE_LIMITS", "verify_memory=256M")
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2 and "verify_memory" in res.err, res.out + res.err


def test_a_runtime_the_checkout_lacks_is_exit_2(setup, cli):
    checkout, exp, ours = setup
    release_builds(checkout, values=ours)
    res = cli("verify", exp, "--primus-path", checkout, "--runtime", "core")
    assert res.code == 2 and "has no core runtime" in res.err, res.err
    assert cli("verify", exp, "--primus-path", checkout, "--runtime", "legacy").code == 0


def test_a_torchtitan_experiment_is_refused(setup, cli, tmp_path):
    checkout, _, _ = setup
    exp = tmp_path / "titan.yaml"
    exp.write_text(EXPERIMENT.replace("framework: megatron", "framework: torchtitan"))
    res = cli("verify", exp, "--primus-path", checkout)
    assert res.code == 2 and "torchtitan experiment" in res.err
