"""Training scripts that stop at a file test or at `${1:?usage}` / `${VAR:?message}` are training
scripts that need something: the report says what, in the script's own words, and the next command
(`--assume-exists`, `--script-args`, `VAR=...`) really gets them converted.

Expected values are read off the scripts below: each stops at the line named, and bash itself would
print the quoted message there (`${1:?usage: ...}` prints its word; the `echo` runs just before the
`exit`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrate.cli import main
from migrate.shell import evaluate_script
from migrate.shell.gates import GatedScript

LAUNCH = ("torchrun pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 128 "
          "--max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 --train-iters 10 --lr 1e-4 "
          "--tokenizer-type GPT2BPETokenizer --vocab-file v.json --merge-file m.txt")

SCRIPTS = {
    # line 3 tests a checkpoint that exists only on the cluster
    "ckpt.sh": f"#!/bin/bash\nCKPT=/data/ckpt\n[ -f $CKPT/latest ] || exit 1\n{LAUNCH} --mock-data --load $CKPT\n",
    # line 3: an echo, then exit (status 0, as `exit` after echo has)
    "data.sh": ('#!/bin/bash\nDATA=${DATA_DIR:-/data/wiki}\nif [ ! -d "$DATA" ]; then echo "data folder $DATA missing: '
                'run prepare_data.sh"; exit; fi\n' f"{LAUNCH} --data-path $DATA/text_document\n"),
    # line 2 needs $1, line 3 needs $2
    "usage.sh": ("#!/bin/bash\nCKPT=${1:?usage: usage.sh CHECKPOINT_DIR DATA_PATH}\n"
                 "DATA=${2:?usage: usage.sh CHECKPOINT_DIR DATA_PATH}\n"
                 f"{LAUNCH} --data-path $DATA --save $CKPT --save-interval 5\n"),
    # `set -u`: line 3 reads $1, which bash reports as unbound and stops at
    "nounset.sh": f"#!/bin/bash\nset -u\nDATA=$1\n{LAUNCH} --data-path $DATA\n",
    "addr.sh": f"#!/bin/bash\n: ${{MASTER_ADDR:?set MASTER_ADDR to the first node}}\n{LAUNCH} --mock-data\n",
}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name, text in SCRIPTS.items():
        (root / name).write_text(text)
    return root


def _gate(repo: Path, name: str) -> GatedScript:
    with pytest.raises(GatedScript) as info:
        evaluate_script(repo / name)
    return info.value


def test_a_file_test_before_exit_is_a_need_with_the_scripts_message(repo):
    gated = _gate(repo, "data.sh")
    assert gated.gate is not None and gated.gate.exit_at.line == 3
    (need,) = gated.gate.requirements
    assert (need.kind, need.name) == ("exists", "/data/wiki")
    assert need.message == "data folder /data/wiki missing: run prepare_data.sh"
    assert "--assume-exists /data/wiki" in (gated.hint or "")
    # told that it exists, the script launches
    assert evaluate_script(repo / "data.sh", options=_assume("/data/wiki")).argv_values()[-1] == "/data/wiki/text_document"


def _assume(*paths: str):
    from migrate.shell import EvalOptions

    return EvalOptions(assume_exists=paths)


def test_positional_arguments_behind_colon_question_are_counted_by_trying_them(repo):
    gated = _gate(repo, "usage.sh")
    (need,) = gated.gate.requirements
    assert (need.kind, need.name) == ("arguments", "2")  # $1 stops it at line 2; with $1 only, $2 at line 3
    assert need.message == "usage: usage.sh CHECKPOINT_DIR DATA_PATH"
    assert gated.gate.reason().startswith("needs arguments $1 $2 ")


def test_a_positional_read_under_set_u_is_an_arguments_need_not_an_empty_value(repo):
    gated = _gate(repo, "nounset.sh")
    assert gated.gate is not None and gated.gate.exit_at.line == 3
    (need,) = gated.gate.requirements
    assert (need.kind, need.name) == ("arguments", "1")
    given = evaluate_script(repo / "nounset.sh", args=["/data/text_document"])
    assert given.argv_values()[-1] == "/data/text_document"


def test_a_variable_behind_colon_question_is_named_with_the_message(repo):
    gated = _gate(repo, "addr.sh")
    (need,) = gated.gate.requirements
    assert (need.kind, need.name, need.message) == ("set", "MASTER_ADDR", "set MASTER_ADDR to the first node")


def test_batch_reports_each_need_with_its_category_and_next_command(repo, tmp_path):
    out = tmp_path / "out"
    assert main(["batch", str(repo), "-o", str(out), "--jobs", "1", "--target", "primus-0.1", "--json"]) == 2
    rows = {s["script"]: s for s in json.loads((out / "batch_report.json").read_text())["scripts"]}
    assert {name: rows[name]["category"] for name in SCRIPTS} == {
        "ckpt.sh": "needs-file", "data.sh": "needs-file", "usage.sh": "needs-arguments",
        "nounset.sh": "needs-arguments", "addr.sh": "needs-environment"}
    assert all(rows[name]["status"] == "rejected" for name in SCRIPTS)  # never "helper" / no-launch
    assert rows["ckpt.sh"]["location"] == "ckpt.sh:3" and rows["usage.sh"]["location"] == "usage.sh:2"
    assert rows["data.sh"]["next_step"].endswith("--target primus-0.1 --assume-exists /data/wiki")
    assert rows["usage.sh"]["next_step"].endswith("--script-args 'usage.sh=ARG1 ARG2'")
    assert '"usage: usage.sh CHECKPOINT_DIR DATA_PATH"' in rows["usage.sh"]["reason"]
    assert '"set MASTER_ADDR to the first node"' in rows["addr.sh"]["reason"]
    assert rows["addr.sh"]["next_step"] == "primus-migrate DIR/addr.sh MASTER_ADDR=VALUE -o OUT"

    # the next commands work: every script converts with what its row asked for
    again = tmp_path / "again"
    code = main(["batch", str(repo), "-o", str(again), "--jobs", "1", "--target", "primus-0.1", "--json",
                 "--assume-exists", "/data/wiki", "--assume-exists", "/data/ckpt/latest",
                 "--script-args", "usage.sh=/ckpt /data/text_document",
                 "--script-args", "nounset.sh=/data/text_document", "--exclude", "addr.sh"])
    rows = {s["script"]: s for s in json.loads((again / "batch_report.json").read_text())["scripts"]}
    assert code in (0, 4), rows
    assert all(rows[name]["status"].startswith("converted") for name in ("ckpt.sh", "data.sh", "usage.sh", "nounset.sh")), rows
    assert main(["convert", str(repo / "addr.sh"), "MASTER_ADDR=node0", "-o", str(tmp_path / "addr"),
                 "--target", "primus-0.1"]) in (0, 4)
