"""Finding launch scripts: suffixes and shebangs, the text pre-filter, include/exclude globs."""

from __future__ import annotations

import pytest

from migrate.batch.discover import discover, matches, prefilter


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "torchrun --nproc_per_node 8 pretrain_gpt.py $ARGS",
        "python -m torch.distributed.run pretrain_gpt.py",
        "python3 ${MEGATRON}/pretrain_gpt.py --tp 1",
        "bash examples/llama/train_llama3.sh",                 # a SLURM wrapper calling the real script
        "srun --nodes 2 ./launch.sh",
        "source ./common.sh\nlaunch",
        ". ./env.sh",
    ],
)
def test_prefilter_keeps_anything_that_may_launch(text):
    assert prefilter("#!/bin/bash\n" + text + "\n") is None


@pytest.mark.parametrize(
    "text",
    [
        "python tools/preprocess_data.py --input data.json --tokenizer-type GPT2BPETokenizer",
        "wget https://example.com/vocab.json\nmkdir -p data",
        "# torchrun pretrain_gpt.py (commented out)\necho done.",
        "echo done. Next step",
    ],
)
def test_prefilter_skips_helpers_with_a_reason(text):
    reason = prefilter("#!/bin/bash\n" + text + "\n")
    assert reason and reason.startswith("helper:")


def test_discover_sorted_with_suffixes_shebangs_and_skips(tmp_path):
    _write(tmp_path, {
        "b/train.sh": "torchrun pretrain_gpt.py\n",
        "a/launch": "#!/usr/bin/env bash\ntorchrun pretrain_gpt.py\n",
        "a/README.md": "torchrun pretrain_gpt.py\n",
        "a/run.py": "#!/bin/bash\n",
        "c/job.sbatch": "srun torchrun pretrain_gpt.py\n",
        "data/prep.sh": "python tools/preprocess_data.py\n",
        ".git/hooks/pre-commit.sh": "torchrun x\n",
    })
    (tmp_path / "b/link.sh").symlink_to(tmp_path / "b/train.sh")
    found = discover(tmp_path)
    assert [c.relpath for c in found] == ["a/launch", "b/train.sh", "c/job.sbatch", "data/prep.sh"]
    assert [c.relpath for c in found if c.skip_reason] == ["data/prep.sh"]


def test_include_and_exclude_globs(tmp_path):
    _write(tmp_path, {f"{d}/train_{m}.sh": "torchrun pretrain_gpt.py\n"
                      for d, m in [("llama", "llama2"), ("llama", "llama3"), ("mixtral", "mixtral"),
                                   ("forks/team_a", "llama3")]})
    rels = lambda **kw: [c.relpath for c in discover(tmp_path, **kw)]  # noqa: E731
    assert rels(include=["llama/*"]) == ["llama/train_llama2.sh", "llama/train_llama3.sh"]
    assert rels(include=["train_llama3.sh"]) == ["forks/team_a/train_llama3.sh", "llama/train_llama3.sh"]
    assert rels(exclude=["forks/"]) == ["llama/train_llama2.sh", "llama/train_llama3.sh",
                                         "mixtral/train_mixtral.sh"]
    assert rels(include=["llama", "mixtral"]) == ["llama/train_llama2.sh", "llama/train_llama3.sh",
                                                  "mixtral/train_mixtral.sh"]
    assert rels(exclude=["team_a"]) == rels(exclude=["forks"])
    assert rels(include=["*llama*"], exclude=["*llama2*"]) == ["forks/team_a/train_llama3.sh",
                                                              "llama/train_llama3.sh"]


def test_patterns_without_slash_match_any_component_with_slash_a_prefix():
    assert matches("a/b/train.sh", ["train.sh"])
    assert matches("a/b/train.sh", ["b"])                # a folder name: the whole subtree
    assert matches("a/b/train.sh", ["b/"])
    assert not matches("a/b/train.sh", ["b/train.sh"])   # with a slash: from the root
    assert matches("a/b/train.sh", ["a/b"])
    assert matches("a/b/train.sh", ["a/*/train.sh", "zzz"])
    assert matches("a/b/train.sh", ["./a/*"])
    assert not matches("a/b/train.sh", ["a/c"])
    assert not matches("a/b/train.sh", [""])
