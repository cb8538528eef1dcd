"""`primus-migrate inspect`: tables, --json, KEY=VALUE vs `-- ARGS`, errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "scripts"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "scripts")
    monkeypatch.chdir(tmp_path / "scripts")
    return tmp_path / "scripts"


def test_json_output(cli, tree):
    result = cli("inspect", "rocm/train_llama3.sh", "TP=1", "MBS=2", "BS=256", "TE_FP8=1", "MODEL_SIZE=8", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["launcher"]["kind"] == "torchrun"
    assert data["entry"] == "pretrain_gpt.py"
    argv = data["argv"]
    assert argv[argv.index("--global-batch-size") + 1] == "256"
    assert argv[argv.index("--num-layers") + 1] == "32"
    assert "--fp8-format=hybrid" in argv
    assert data["env"]["CUDA_DEVICE_MAX_CONNECTIONS"] == "1"
    assert data["knobs"]["MODEL_SIZE"]["value"] == "8" and data["knobs"]["MODEL_SIZE"]["source"] == "env"


def test_pairs_after_double_dash_are_script_arguments(cli, tree):
    result = cli("inspect", "rocm/train_llama3.sh", "TP=2", "--json", "--", "MODEL_SIZE=8", "FSDP=1")
    data = json.loads(result.out)
    assert data["knobs"]["MODEL_SIZE"]["source"] == "arg"
    assert data["knobs"]["TP"]["source"] == "env"
    assert "--use-torch-fsdp2" in data["argv"]
    positional = cli("inspect", "nvidia/train_gpt3_distributed.sh", "--json", "--", "ck", "tb", "v", "m", "d")
    argv = json.loads(positional.out)["argv"]
    assert argv[argv.index("--save") + 1] == "ck" and argv[argv.index("--data-path") + 1] == "d"


def test_gpus_per_node_flag(cli, tree):
    data = json.loads(cli("inspect", "rocm/train_llama3.sh", "--gpus-per-node", "4", "--json").out)
    assert data["launcher"]["options"]["nproc_per_node"] == "4"


def test_tables(cli, tree):
    result = cli("inspect", "rocm/train_llama3.sh", "MODEL_SIZE=8")
    assert result.code == 0, result.err
    for heading in ("Knobs of rocm/train_llama3.sh", "Environment exported at the launch", "Training arguments"):
        assert heading in result.out
    assert "--num-query-groups" in result.out and "MODEL_SIZE" in result.out


def test_parse_error_exit_2_with_location(cli, tree):
    result = cli("inspect", "bad/broken.sh")
    assert result.code == 2
    first = result.err.splitlines()[0]
    file_part, line, col, rest = first.split(":", 3)
    assert file_part == "bad/broken.sh" and line.isdigit() and col.isdigit()
    assert "error: cannot parse script" in rest and "Traceback" not in result.err


def test_no_launch_exit_2(cli, tree):
    result = cli("inspect", "bad/no_launch.sh")
    assert result.code == 2 and "no training launch found" in result.err and "wget" in result.err


def test_bad_pair_is_bad_input(cli, tree):
    result = cli("inspect", "rocm/train_llama3.sh", "not-a-pair")
    assert result.code == 2 and "KEY=VALUE" in result.err


def test_inspect_imports_no_torch_or_megatron(tree):
    code = (
        "import sys\n"
        "from migrate.cli import main\n"
        "rc = main(['inspect', 'rocm/train_llama3.sh', '--json'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'megatron'))\n"
        "print('RC', rc, 'HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert "RC 0 HEAVY []" in proc.stderr, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["entry"] == "pretrain_gpt.py"


@pytest.mark.parametrize("argv, code", [(["inspect", "rocm/train_llama3.sh", "--json"], 0),
                                        (["inspect", "missing.sh"], 2)])
def test_the_module_entry_prints_everything_and_keeps_the_exit_code(tree, argv, code):
    proc = subprocess.run([sys.executable, "-m", "migrate", *argv], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert json.loads(proc.stdout)["argv"]  # the whole document arrived
    else:
        assert proc.stderr.startswith("missing.sh: error: script not found")


def test_args_view_seam(cli, tree):
    result = cli("inspect", "rocm/train_llama3.sh", "MODEL_SIZE=8", "--args", "--json")
    assert result.code == 0, result.err
    megatron = json.loads(result.out)
    assert megatron["argv"] and megatron["entry"]  # the plan's keys stay beside the argument view
    # the duplicated --eval-iters: argparse keeps the last one
    assert megatron["args"]["eval_iters"] == -1
    assert megatron["args"]["num_layers"] == 32
    assert megatron["explicit"]["micro_batch_size"].startswith("rocm/train_llama3.sh:")
    table = cli("inspect", "rocm/train_llama3.sh", "--args")
    assert table.code == 0 and "Megatron arguments" in table.out


def test_args_view_with_a_schema_file(cli, tree, tmp_path):
    """`--megatron-schema PATH` reads a schema JSON (as `primus-migrate schema` writes it)."""
    from migrate.megatron.schema import SCHEMA_DIR

    fork = tmp_path / "my_fork.json"
    fork.write_text((SCHEMA_DIR / "rocm_dev.json").read_text())
    result = cli("inspect", "rocm/train_llama3.sh", "MODEL_SIZE=8", "--args", "--json", "--megatron-schema", str(fork))
    assert result.code == 0, result.err
    view = json.loads(result.out)
    assert view["explicit"]["norm_epsilon"].startswith("rocm/train_llama3.sh:")
    # the script's --no-async-tensor-model-parallel-allreduce no longer exists at d3528a21
    newer = cli("inspect", "rocm/train_llama3.sh", "--args", "--megatron-schema", "d3528a21")
    assert newer.code == 2
    assert "rocm/train_llama3.sh:" in newer.err and "--no-async-tensor-model-parallel-allreduce" in newer.err
    missing = cli("inspect", "rocm/train_llama3.sh", "--args", "--megatron-schema", "no_such_schema")
    assert missing.code == 2 and "unknown Megatron schema" in missing.err
