"""A conversion is a function of the scripts and the options: folders and files that sit beside the
scripts (data, checkpoints, logs of an earlier run, a tokenizer folder) change nothing.

The same repository is converted twice, once bare and once with such things created next to every
script (and at the paths the scripts test), and the two output trees must be byte-identical. The
script below tests for each of them the ways real launch scripts do: before the file system was
kept out, `[ -d checkpoints ]` added `--load`, `[ -f data/...bin ]` replaced `--mock-data` by a data
path, and `cd` warned or not depending on the machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from migrate.cli import main

REPO = Path(__file__).resolve().parent.parent

NEIGHBOURS_SH = """#!/bin/bash
HERE="$(cd "$(dirname "$0")" && pwd)"
LOAD=""
if [ -d "$HERE/checkpoints" ]; then LOAD="--load $HERE/checkpoints"; fi
if [ -f data/corpus_text_document.bin ]; then
  DATA="--data-path data/corpus_text_document"
else
  DATA="--mock-data"
fi
[ -e "$HERE/logs" ] || mkdir -p "$HERE/logs"
[ -s "$HERE/hostfile" ] && NODES=2 || NODES=1
cd "$HERE/work"
torchrun --nnodes $NODES pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 \\
  --seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 \\
  --train-iters 10 --lr 1e-4 --tokenizer-type GPT2BPETokenizer --vocab-file gpt2-vocab.json \\
  --merge-file gpt2-merges.txt $LOAD $DATA
"""

# What a user's checkout accumulates beside its scripts (relative to each folder holding a script).
CLUTTER_DIRS = ("checkpoints", "data", "logs", "work", "tokenizer_llama3", "Megatron-LM/megatron/core")
CLUTTER_FILES = {"data/corpus_text_document.bin": b"\0" * 64, "hostfile": b"node1\nnode2\n",
                 "checkpoints/latest_checkpointed_iteration.txt": b"1000\n",
                 "gpt2-vocab.json": b"{}", "tokenizer.model": b"\x0a\x03\x0a\x01a"}


# A site file outside the folder converted (a cluster's /etc/profile.d/... or ~/.bashrc): never read.
SITE_SH = """#!/bin/bash
source {site}
torchrun pretrain_gpt.py --num-layers ${{LAYERS:-2}} --hidden-size 64 --num-attention-heads 4 \\
  --seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 \\
  --train-iters 10 --lr 1e-4 --tokenizer-type GPT2BPETokenizer --vocab-file v.json --merge-file m.txt --mock-data
"""


def _repo(root: Path, *fixture_dirs: Path) -> Path:
    root.mkdir(parents=True)
    (root / "mine").mkdir()
    (root / "mine" / "neighbours.sh").write_text(NEIGHBOURS_SH)
    (root / "mine" / "site.sh").write_text(SITE_SH.format(site=root.parent.parent / "site" / "env.sh"))
    for src in fixture_dirs:
        shutil.copytree(src, root / src.name)
    return root


def _clutter(root: Path) -> int:
    folders = {p.parent for p in root.rglob("*") if p.is_file()} | {root}
    for folder in sorted(folders):
        for name in CLUTTER_DIRS:
            (folder / name).mkdir(parents=True, exist_ok=True)
        for name, data in CLUTTER_FILES.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    return len(folders)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _both(tmp_path: Path, *fixture_dirs: Path) -> tuple[dict, dict]:
    trees = []
    for name, cluttered in (("bare", False), ("cluttered", True)):
        # the same folder names both times: the report names the source folder
        repo = _repo(tmp_path / "run" / "repo", *fixture_dirs)
        if cluttered:
            assert _clutter(repo) >= 2
            (tmp_path / "site").mkdir()
            (tmp_path / "site" / "env.sh").write_text("LAYERS=8\n")
        out = tmp_path / "run" / "out"
        code = main(["batch", str(repo), "-o", str(out), "--jobs", "1", "--accept-null-tokenizer"])
        assert code in (0, 2, 3, 4)
        trees.append(_tree(out))
        shutil.rmtree(tmp_path / "run")
    return trees[0], trees[1]


def test_folders_beside_a_script_change_nothing(tmp_path):
    bare, cluttered = _both(tmp_path)
    assert "exp/mine/neighbours/default.yaml" in bare  # it converted, with --mock-data and no --load
    experiment = bare["exp/mine/neighbours/default.yaml"].decode()
    assert "mock_data: true" in experiment and "load:" not in experiment
    site = yaml.safe_load(bare["exp/mine/site/default.yaml"])  # LAYERS from the site file would make 8
    assert yaml.safe_load(bare[f"models/megatron/{site['modules']['pre_trainer']['model']}"])["num_layers"] == 2
    assert sorted(bare) == sorted(cluttered)
    for path in bare:
        assert bare[path] == cluttered[path], path


@pytest.mark.slow  # converts the fixture repository and the ROCm fixture scripts twice
def test_fixture_repositories_convert_the_same_with_clutter_beside_them(tmp_path):
    bare, cluttered = _both(tmp_path, REPO / "fixtures" / "batch_repo", REPO / "fixtures" / "scripts" / "rocm")
    assert sum(p.endswith(".yaml") and p.startswith("exp/") for p in bare) >= 10
    assert sorted(bare) == sorted(cluttered)
    for path in bare:
        assert bare[path] == cluttered[path], path
