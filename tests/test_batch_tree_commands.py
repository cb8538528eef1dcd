"""The batch output tree works with the tool's own commands and with its own launch scripts.

`resolve` and `train` find the shared model files of a batch tree (`models/megatron/` at the
tree's root, not beside the experiment), and each experiment's `<variant>.run.sh` refers only to
files that exist: run under real bash against a stand-in Primus checkout whose
`examples/run_pretrain.sh` records what it was handed, it installs the experiment's own model
file and launches the experiment itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from migrate.cli import main

REPO = Path(__file__).resolve().parent.parent
BATCH_REPO = REPO / "fixtures" / "batch_repo"

# A stand-in for Primus's launcher: it records the experiment it was handed, that file's model
# reference, whether that model is now among Primus's presets, and one exported variable.
FAKE_RUN_PRETRAIN = """#!/usr/bin/env bash
set -eu
test -f "$EXP"
model=$(sed -n 's/^ *model: *\\([^ #]*\\).*/\\1/p' "$EXP" | head -1)
{ echo "EXP=$EXP"; echo "MODEL=$model"; echo "PWD=$PWD"; echo "GPUS_PER_NODE=$GPUS_PER_NODE"
  test -f "primus/configs/models/megatron/$model" && echo "INSTALLED=yes"; } > "$RECORD"
"""


def _batch(tmp_path: Path, *extra: str) -> tuple[Path, dict]:
    out = tmp_path / "out"
    code = main(["batch", str(BATCH_REPO), "-o", str(out), "--jobs", "1", "--json", *extra])
    assert code in (0, 2, 4), code  # broken/train_broken.sh is a rejection (2) when included
    return out, json.loads((out / "batch_report.json").read_text())


def _converted(report: dict) -> list[dict]:
    return [v for s in report["scripts"] for v in s["variants"] if v["experiment"] and not v.get("same_as")]


def _fake_primus(root: Path) -> Path:
    primus = root / "Primus"
    (primus / "primus/configs/models/megatron").mkdir(parents=True)
    (primus / "examples").mkdir()
    (primus / "examples/run_pretrain.sh").write_text(FAKE_RUN_PRETRAIN)
    return primus


def _run_launch_script(out: Path, run_rel: str, tmp_path: Path) -> dict[str, str]:
    """`bash <run.sh>` as a user would, in a throwaway HOME/TMPDIR/working folder."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    primus = _fake_primus(tmp_path / f"p{len(list(tmp_path.iterdir()))}")
    record = tmp_path / "record.txt"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(home),
           "PRIMUS_PATH": str(primus), "RECORD": str(record)}
    done = subprocess.run(["bash", str(out / run_rel)], cwd=home, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in record.read_text().splitlines())


def test_one_script_tree_resolves_and_its_run_script_launches_it(tmp_path, capsys):
    out, report = _batch(tmp_path, "--include", "llama/train_llama3.sh", "--knobs", "MODEL_SIZE=8")
    (row,) = _converted(report)
    assert row["experiment"] == "exp/llama/train_llama3/MODEL_SIZE=8.yaml"
    assert row["run"] == "exp/llama/train_llama3/MODEL_SIZE=8.run.sh"
    assert row["model"].startswith("models/megatron/")  # shared: at the tree's root, not beside it
    capsys.readouterr()
    assert main(["resolve", str(out / row["experiment"]), "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert (values["num_layers"], values["hidden_size"]) == (32, 4096)  # train_llama3.sh's 8B branch

    seen = _run_launch_script(out, row["run"], tmp_path)
    assert seen["EXP"] == str(out / row["experiment"])
    assert seen["MODEL"] == Path(row["model"]).name and seen["INSTALLED"] == "yes"
    assert seen["PWD"].endswith("/Primus")  # Primus's launcher runs from its checkout
    assert seen["GPUS_PER_NODE"] == "8"


def test_the_models_folder_is_found_only_inside_the_batch_tree(tmp_path, capsys):
    """Moving an experiment out of its tree loses the model (nothing above a tree is searched)."""
    out, report = _batch(tmp_path, "--include", "llama/train_llama3.sh", "--knobs", "MODEL_SIZE=8")
    (row,) = _converted(report)
    moved = tmp_path / "elsewhere" / "exp" / "x.yaml"
    moved.parent.mkdir(parents=True)
    shutil.copyfile(out / row["experiment"], moved)
    shutil.copytree(out / "models", tmp_path / "elsewhere" / "models")  # a models folder, but no batch tree
    capsys.readouterr()
    assert main(["resolve", str(moved)]) == 2
    assert "not found in primus-26.5's models/megatron" in capsys.readouterr().err


@pytest.mark.slow  # converts the whole fixture repository (multi-second)
@pytest.mark.parametrize("target", ["primus-26.5", "primus-0.1"])
def test_every_experiment_of_the_tree_resolves_and_every_run_script_refers_to_its_files(tmp_path, capsys, target):
    out, report = _batch(tmp_path, "--target", target)
    rows = _converted(report)
    assert len(rows) >= 9
    for row in rows:
        capsys.readouterr()
        assert main(["resolve", str(out / row["experiment"]), "--target", target, "--json"]) == 0, row
        values = json.loads(capsys.readouterr().out)
        model = yaml.safe_load((out / row["model"]).read_text()) if row["model"] else {}
        # the model file's own architecture values are what resolve found
        for key in ("num_layers", "hidden_size", "num_experts"):
            if key in model:
                assert values[key] == model[key], (row["experiment"], key)
        seen = _run_launch_script(out, row["run"], tmp_path)
        assert seen["EXP"] == str(out / row["experiment"])
        assert "INSTALLED" in seen or not row["model"]


@pytest.mark.slow  # imports torch and trains one iteration
def test_train_runs_an_experiment_of_the_tree(tmp_path, capsys):
    out, report = _batch(tmp_path, "--include", "llama/train_llama3.sh", "--knobs", "MODEL_SIZE=8")
    (row,) = _converted(report)
    capsys.readouterr()
    code = main(["train", str(out / row["experiment"]), "--proxy", "--mock-data", "--iters", "1",
                 "--device", "cpu", "--out", str(tmp_path / "run")])
    assert code == 0
    assert "trained 1 iterations" in capsys.readouterr().out


def test_the_printed_run_command_names_an_existing_launch_script(tmp_path, capsys):
    import shlex

    out = tmp_path / "out"
    main(["batch", str(BATCH_REPO), "-o", str(out), "--jobs", "1", "--include", "llama/train_llama3.sh",
          "--knobs", "MODEL_SIZE=8"])
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("run: ")]
    words = shlex.split(line.split(" (each", 1)[0])
    assert words[:3] == ["run:", "PRIMUS_PATH=/path/to/Primus", "bash"]
    assert Path(words[3]) == out / "exp/llama/train_llama3/MODEL_SIZE=8.run.sh" and Path(words[3]).is_file()
    markdown = (out / "batch_report.md").read_text()
    assert "`PRIMUS_PATH=/path/to/Primus bash exp/<script>/<variant>.run.sh`" in markdown
