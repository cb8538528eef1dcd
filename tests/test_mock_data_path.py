"""A launch giving both --mock-data and --data-path: refused with its cause, not as a conversion bug.

Facts: Megatron-LM's pretrain_gpt.py at rocm_dev and the Primus pins hands GPTDatasetConfig the
--data-path blend and picks MockGPTDataset for --mock-data; with a blend the mock dataset is split by
--split (only with no path is it "mock", split 1,1,1). Primus's trainer (both bundled releases) sets
the data paths to None under mock_data (migrate/primus/handoff.py), so the two runs draw other samples.
"""

from __future__ import annotations

import json
from pathlib import Path

from migrate.cli import main

SCRIPT = """#!/bin/bash
# a throughput run on synthetic data that still names the corpus it was prepared for
DATA=/datasets/wiki_text_document
torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 \\
  --seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 \\
  --train-iters 10 --lr 1e-4 --tokenizer-type GPT2BPETokenizer --vocab-file v.json --merge-file m.txt \\
  --data-path $DATA --split 98,2,0 --mock-data
"""


def test_mock_data_with_a_data_path_is_refused_with_its_cause(tmp_path: Path, capsys):
    script = tmp_path / "repo" / "train_mock.sh"
    script.parent.mkdir()
    script.write_text(SCRIPT)
    assert main(["convert", str(script), "-o", str(tmp_path / "one"), "--target", "primus-0.1"]) == 3
    assert "trainer clears data paths under --mock-data" in capsys.readouterr().err

    out = tmp_path / "out"
    main(["batch", str(script.parent), "-o", str(out), "--jobs", "1", "--target", "primus-0.1", "--json"])
    [row] = json.loads((out / "batch_report.json").read_text())["scripts"]
    [variant] = row["variants"] or [row]
    assert variant["category"] == "mock-data-path", variant
    assert "remove --data-path" in variant["reason"]
