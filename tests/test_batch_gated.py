"""Scripts that stop before their launch unless the environment sets something (fixtures/gated_repo).

Each fixture is a training script that does not launch with its defaults:
- train_arch_gated.sh: `exit 1` unless ARCH is gfx942 (TP=1) or gfx950 (TP=2);
- train_model_size.sh: default MODEL_SIZE=4, branches for 7, 13, 20 and 70 only, else `exit 1`;
- train_needs_master.sh: `set -u`, then `$MASTER_NODE` in the torchrun line, never assigned;
- train_arch_then_master.sh: `set -u`, a `case` exiting unless ARCH is gfx942|gfx950 (default
  `unknown`), then `$MASTER_NODE` in the launch: two gates in a row;
- train_missing_source.sh: `set -e`, sources ./cluster_env.sh (not in the folder), whose
  `launch_training` function would run the launch.
What bash does with them is checked with real bash first (stubbed launchers, sandboxed HOME,
TMPDIR and working directory), then `convert`'s error and `batch`'s rows are checked against it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers_shell import bash_launch, run_bash
from migrate.batch.runner import BatchOptions, run_batch
from migrate.shell import EvalOptions, evaluate_script
from migrate.shell.gates import GatedScript

GATED_REPO = Path(__file__).resolve().parent.parent / "fixtures" / "gated_repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A private copy: real bash runs in it (and may write there), never in the checkout."""
    target = tmp_path / "repo"
    shutil.copytree(GATED_REPO, target)
    return target


def _refusal(repo: Path, script: str, env: dict[str, str] | None = None) -> GatedScript:
    with pytest.raises(GatedScript) as info:
        evaluate_script(script, env or {}, [], EvalOptions(cwd=str(repo)))
    return info.value


# --- bash semantics: what the fixtures do under real bash -------------------------------------

def test_bash_arch_gate(repo: Path):
    assert bash_launch(run_bash("train_arch_gated.sh", repo)) is None            # `else ... exit 1`
    assert bash_launch(run_bash("train_arch_gated.sh", repo, {"ARCH": "gfx90a"})) is None
    for arch, tp in (("gfx942", "1"), ("gfx950", "2")):
        call = bash_launch(run_bash("train_arch_gated.sh", repo, {"ARCH": arch}))
        assert call is not None and call.words[-2:] == ["--tensor-model-parallel-size", tp]


def test_bash_model_size_gate(repo: Path):
    assert bash_launch(run_bash("train_model_size.sh", repo)) is None            # 4 falls into `else`
    for size, layers in (("7", "32"), ("13", "40"), ("20", "44"), ("70", "80")):
        call = bash_launch(run_bash("train_model_size.sh", repo, {"MODEL_SIZE": size}))
        assert call is not None and call.words[call.words.index("--num-layers") + 1] == layers


def test_bash_set_u_and_missing_source(repo: Path):
    assert bash_launch(run_bash("train_needs_master.sh", repo)) is None          # unbound variable: exit
    call = bash_launch(run_bash("train_needs_master.sh", repo, {"MASTER_NODE": "node0"}))
    assert call is not None and "node0" in call.words
    assert bash_launch(run_bash("train_missing_source.sh", repo)) is None        # set -e: source fails
    (repo / "cluster_env.sh").write_text('launch_training() { torchrun --nproc_per_node=8 "$@"; }\n')
    assert bash_launch(run_bash("train_missing_source.sh", repo)) is not None    # the file was all it needed


def test_bash_two_gates_in_a_row(repo: Path):
    assert bash_launch(run_bash("train_arch_then_master.sh", repo)) is None                     # case: exit 1
    assert bash_launch(run_bash("train_arch_then_master.sh", repo, {"ARCH": "gfx950"})) is None  # unbound
    assert bash_launch(run_bash("train_arch_then_master.sh", repo, {"ARCH": "gfx950", "MASTER_NODE": "n0"}))


# --- convert: the error says what the script needs ---------------------------------------------

def test_convert_names_the_values_that_open_the_gate(repo: Path):
    exc = _refusal(repo, "train_arch_gated.sh")
    # line 10 is the `exit 1` of the else branch; the two compared values both launch (bash above)
    assert "exits at train_arch_gated.sh:10 unless ARCH is one of gfx942, gfx950" in exc.message
    assert exc.hint == "pass ARCH=gfx942"
    assert exc.gate is not None and exc.gate.launching == ((("ARCH", "gfx942"),), (("ARCH", "gfx950"),))
    assert exc.gate.reason() == "needs ARCH (one of gfx942, gfx950)"


def test_convert_unsupported_default_model_size(repo: Path):
    exc = _refusal(repo, "train_model_size.sh")
    assert "exits at train_model_size.sh:13 unless MODEL_SIZE is one of 7, 13, 20, 70" in exc.message
    assert exc.gate is not None and [a[0][1] for a in exc.gate.launching] == ["7", "13", "20", "70"]


def test_convert_set_u_names_the_unset_variable(repo: Path):
    exc = _refusal(repo, "train_needs_master.sh")
    assert "exits at train_needs_master.sh:6 because MASTER_NODE is unset under `set -u`" in exc.message
    assert exc.gate is not None and exc.gate.launching == ()
    assert exc.gate.reason().startswith("needs MASTER_NODE")


def test_convert_follows_the_second_gate(repo: Path):
    exc = _refusal(repo, "train_arch_then_master.sh")
    # line 7 is the `*)` branch's exit; line 11 the launch reading $MASTER_NODE
    assert ("exits at train_arch_then_master.sh:7 unless ARCH is one of gfx942, gfx950, then at "
            "train_arch_then_master.sh:11 because MASTER_NODE is unset under `set -u`") in exc.message
    assert exc.gate is not None and exc.gate.launching == ()
    assert exc.gate.reason() == ("needs ARCH (one of gfx942, gfx950); MASTER_NODE (unset under set -u at "
                                 "train_arch_then_master.sh:11)")


def test_convert_missing_source_names_the_file(repo: Path):
    exc = _refusal(repo, "train_missing_source.sh")
    assert "sources ./cluster_env.sh" in exc.message and "does not exist" in exc.message
    assert exc.gate is not None and exc.gate.reason().startswith("needs file ./cluster_env.sh")


def test_a_value_the_user_chose_still_says_supported_values(repo: Path):
    # cli18's message for a user's own unsupported choice is kept (not probed again)
    with pytest.raises(Exception) as info:
        evaluate_script("train_model_size.sh", {"MODEL_SIZE": "9"}, [], EvalOptions(cwd=str(repo)))
    assert "supported values: 7, 13, 20, 70" in str(info.value)


def test_a_helper_with_an_exit_stays_a_helper(tmp_path: Path):
    # an `exit` that no compared value avoids, and no launch anywhere: the old message
    (tmp_path / "check.sh").write_text('#!/bin/bash\nif [ "$MODE" = a ]; then echo a; fi\nexit 1\n')
    with pytest.raises(Exception) as info:
        evaluate_script("check.sh", {}, [], EvalOptions(cwd=str(tmp_path)))
    assert not isinstance(info.value, GatedScript)
    assert "no training launch found" in str(info.value)


# --- batch: converted per gate value, or rejected with "needs ..." ------------------------------

@pytest.mark.slow
def test_batch_converts_behind_gates_and_rejects_with_needs(repo: Path):
    # a data-prep helper under `set -u` with an unset variable: no launch in its text, still a helper
    (repo / "prep.sh").write_text('#!/bin/bash\nset -u\nbash ./tokenize.sh "$DATA_DIR"\n')
    rows = {r.script: r for r in run_batch(repo, BatchOptions(jobs=1))}
    arch = rows["train_arch_gated.sh"]
    assert [v.label for v in arch.variants] == ["ARCH=gfx942", "ARCH=gfx950"]
    assert all(v.status in ("converted", "converted_with_warnings") for v in arch.variants)
    assert any("needs ARCH (one of gfx942, gfx950)" in n for n in arch.notes)
    size = rows["train_model_size.sh"]
    assert [v.label for v in size.variants] == ["MODEL_SIZE=7", "MODEL_SIZE=13", "MODEL_SIZE=20", "MODEL_SIZE=70"]
    assert all(v.status != "rejected" for v in size.variants)
    assert rows["train_arch_then_master.sh"].status == "rejected"
    assert (rows["train_arch_then_master.sh"].reason or "").startswith("needs ARCH (one of gfx942, gfx950); MASTER")
    master = rows["train_needs_master.sh"]
    assert master.status == "rejected" and master.reason is not None
    assert master.reason.startswith("needs MASTER_NODE") and master.location == "train_needs_master.sh:6"
    missing = rows["train_missing_source.sh"]
    assert missing.status == "rejected" and missing.reason is not None
    assert missing.reason.startswith("needs file ./cluster_env.sh")
    assert rows["prep.sh"].status == "skipped" and (rows["prep.sh"].reason or "").startswith("helper")


@pytest.mark.slow
def test_batch_with_knobs_reads_them_behind_the_gate(repo: Path):
    # --knobs: the knobs are read from the evaluation with the gate's first value (MODEL_SIZE=7)
    rows = {r.script: r for r in run_batch(repo, BatchOptions(jobs=1, include=["train_model_size.sh"],
                                                              knobs={"MODEL_SIZE": ["13", "70"]}))}
    size = rows["train_model_size.sh"]
    assert [v.label for v in size.variants] == ["MODEL_SIZE=13", "MODEL_SIZE=70"]
    assert all(v.status != "rejected" for v in size.variants)


def test_a_variable_only_tested_for_emptiness(tmp_path: Path):
    # `[ -z "$MASTER_ADDR" ] && exit 1`: bash launches with any value and exits without one
    (tmp_path / "train.sh").write_text('#!/bin/bash\nif [ -z "$MASTER_ADDR" ]; then echo need it; exit 1; fi\n'
                                       'torchrun --master_addr "$MASTER_ADDR" pretrain_gpt.py --num-layers 2\n')
    assert bash_launch(run_bash("train.sh", tmp_path)) is None
    assert bash_launch(run_bash("train.sh", tmp_path, {"MASTER_ADDR": "node7"})) is not None
    exc = _refusal(tmp_path, "train.sh")
    assert "exits at train.sh:2 unless MASTER_ADDR is set" in exc.message
    assert exc.gate is not None and exc.gate.launching == ()  # a made-up value is never converted
    assert exc.gate.reason().startswith("needs MASTER_ADDR (any value")


def test_two_choice_gates_give_launching_pairs(repo: Path):
    # ARCH must be gfx942|gfx950, then MODEL_SIZE (default 4) must be 7 or 70: every launching
    # assignment found carries the first ARCH value that got past the first exit
    (repo / "train_two.sh").write_text(
        '#!/bin/bash\ncase "$ARCH" in gfx942|gfx950) ;; *) exit 1 ;; esac\nMODEL_SIZE=${MODEL_SIZE:-4}\n'
        'if [ "$MODEL_SIZE" = 7 ]; then L=32; elif [ "$MODEL_SIZE" = 70 ]; then L=80; else exit 1; fi\n'
        'torchrun pretrain_gpt.py --num-layers $L\n')
    assert bash_launch(run_bash("train_two.sh", repo, {"ARCH": "gfx950"})) is None
    assert bash_launch(run_bash("train_two.sh", repo, {"ARCH": "gfx942", "MODEL_SIZE": "70"})) is not None
    exc = _refusal(repo, "train_two.sh")
    assert exc.gate is not None
    assert exc.gate.launching == ((("ARCH", "gfx942"), ("MODEL_SIZE", "7")), (("ARCH", "gfx942"), ("MODEL_SIZE", "70")))
    assert exc.gate.reason() == "needs ARCH (one of gfx942, gfx950); MODEL_SIZE (one of 7, 70)"
