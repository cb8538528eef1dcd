"""`batch --script-args`: positional arguments per script, by glob; scripts missing them say which and how."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from migrate.batch.runner import args_for
from migrate.batch.script_args import parse_script_args
from migrate.diagnostics import MigrateError

# Our own launcher in the style of the upstream examples that take their paths as $1..$3 (with
# --save-interval: Megatron's validate_args asserts it whenever --save is given).
NEEDS_ARGS = """#!/bin/bash
if [ "$#" -lt 3 ]; then
  echo "Usage: $0 CHECKPOINT_DIR TENSORBOARD_DIR DATA_PREFIX"
fi
CHECKPOINT_PATH=$1
TENSORBOARD_LOGS_PATH=$2
DATA_PATH=$3
ARGS="--num-layers 4 --hidden-size 256 --num-attention-heads 8 --seq-length 128 \\
  --max-position-embeddings 128 --micro-batch-size 2 --global-batch-size 16 \\
  --lr 3e-4 --min-lr 1e-5 --train-iters 20 --bf16 --tokenizer-type GPT2BPETokenizer \\
  --vocab-file vocab.json --merge-file merges.txt --save-interval 10"
torchrun --nproc_per_node 8 pretrain_gpt.py $ARGS --save $CHECKPOINT_PATH \\
  --tensorboard-dir $TENSORBOARD_LOGS_PATH --data-path $DATA_PATH
"""


def test_items_and_files_in_order(tmp_path):
    listed = tmp_path / "args.txt"
    listed.write_text("# paths of the cluster\nexamples/*.sh = /ckpt '/tb dir' /data/x\n\nother.sh=1\n")
    mapping = parse_script_args(["gpt/train.sh=a b", f"@{listed}"])
    assert mapping == [("gpt/train.sh", ("a", "b")), ("examples/*.sh", ("/ckpt", "/tb dir", "/data/x")),
                       ("other.sh", ("1",))]
    assert args_for("examples/train.sh", mapping) == ("/ckpt", "/tb dir", "/data/x")
    assert args_for("gpt/train.sh", mapping) == ("a", "b")  # the first matching glob wins
    assert args_for("elsewhere/run.sh", mapping) == ()


@pytest.mark.parametrize("item", ["no-equals-sign", "=a b", "x.sh='unclosed"])
def test_bad_items_are_refused(item):
    with pytest.raises(MigrateError, match="--script-args"):
        parse_script_args([item])


def test_a_bad_line_in_a_file_is_located(tmp_path):
    listed = tmp_path / "args.txt"
    listed.write_text("a.sh=1\nbroken line\n")
    with pytest.raises(MigrateError) as caught:
        parse_script_args([f"@{listed}"])
    assert caught.value.origin.line == 2
    with pytest.raises(MigrateError, match="cannot read"):
        parse_script_args([f"@{tmp_path / 'absent.txt'}"])


@pytest.fixture
def repo(tmp_path):
    folder = tmp_path / "repo" / "examples"
    folder.mkdir(parents=True)
    (folder / "train_small.sh").write_text(NEEDS_ARGS)
    return tmp_path / "repo"


def test_missing_arguments_name_the_usage_and_the_batch_option(cli, repo, tmp_path):
    out = tmp_path / "out"
    result = cli("batch", repo, "-o", out, "--jobs", "1", "--json")
    assert result.code == 2
    [row] = json.loads((out / "batch_report.json").read_text())["scripts"]
    assert row["status"] == "rejected"
    assert "$1 (line 5), $2 (line 6), $3 (line 7)" in row["reason"]
    assert 'echo "Usage: $0 CHECKPOINT_DIR TENSORBOARD_DIR DATA_PREFIX"' in row["reason"]
    assert "--script-args 'examples/train_small.sh=ARG1 ARG2 ...'" in row["reason"]
    assert "primus-migrate SCRIPT -o OUT --" not in row["reason"]  # that is convert's way, not batch's


def test_given_arguments_reach_the_script(cli, repo, tmp_path):
    out = tmp_path / "out"
    # primus-26.5 keeps the configured tensorboard_dir (primus-0.1's trainer sets its own, so the key is not written)
    result = cli("batch", repo, "-o", out, "--jobs", "1", "--target", "primus-26.5",
                 "--script-args", "examples/*.sh=/ckpt/run1 /tb/run1 /data/text_document")
    assert result.code in (0, 4), result.err
    [row] = json.loads((out / "batch_report.json").read_text())["scripts"]
    [variant] = row["variants"]
    experiment = yaml.safe_load((out / variant["experiment"]).read_text())
    overrides = experiment["modules"]["pre_trainer"]["overrides"]
    # $1 -> --save, $2 -> --tensorboard-dir, $3 -> --data-path (the script's own wiring)
    assert overrides.get("tensorboard_dir") == "/tb/run1"
    assert "/data/text_document" in str(overrides.get("data_path"))
