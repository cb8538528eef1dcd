"""Development-time check: every fixture conversion, for every bundled target, judged by that
release's own code through the product's `verify` (migrate/verify/).

Skipped unless PRIMUS_GIT is a Primus git dir (bare works): each target's release tag
(`get_profile(target).release`) is exported into a temporary folder. MEGATRON_NVIDIA_GIT
(optional, a Megatron-LM git dir) puts the tag's pinned megatron/ under the export's
third_party/Megatron-LM, as a real checkout has it: the release's side then takes Megatron's argparse
defaults from that source (a wrong pin in our model shows) and the legacy trainers' moe_freq_type is
Megatron's own; without it both sides use our bundled table and moe_layer_freq is not judged.

For each fixture script and knob variant (tests/helpers_convert.py), converted at the target,
`verify_experiments` runs the release's loader and trainer-side argument updates in a confined
subprocess and compares with our `resolve` for that checkout on every Megatron dest. Besides, the
release's namespace must pass Megatron's validate_args assertion on save/save_interval.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers_convert import fixture_scripts, knob_variants, script_args
from migrate.primus import TARGETS

# Run-time values as run.sh would export them: the configs' ${PRIMUS_RUN_...:assumed} references
# must give the same value under the release's own interpolation as under ours.
RUN_ENV = {"PRIMUS_RUN_DATE": "20991231_235959", "PRIMUS_RUN_HOST": "node7", "PRIMUS_RUN_USER": "alice"}


def release_tag(target: str) -> str:
    """The target's Primus tag: its configs/<target>/target.json `release` (generated targets), else
    the profile's release."""
    import json

    from migrate.primus import get_profile

    profile = get_profile(target)
    facts = profile.configs_dir / "target.json"
    if facts.is_file():
        return str(json.loads(facts.read_text())["release"])
    return profile.release


def export_release(target: str, tmp: Path) -> Path:
    """The release's `primus/` package exported from PRIMUS_GIT (with Megatron's megatron/ at its pin
    when MEGATRON_NVIDIA_GIT is set)."""
    repo = os.environ.get("PRIMUS_GIT")
    if not repo:
        pytest.skip("set PRIMUS_GIT to a Primus git dir to run each release's own code")
    rev = f"refs/tags/{release_tag(target)}"
    tree = tmp / f"primus-{release_tag(target)}"
    tree.mkdir()
    archive = subprocess.run(["git", f"--git-dir={repo}", "archive", rev, "primus"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    megatron = os.environ.get("MEGATRON_NVIDIA_GIT")
    if megatron:
        pin = subprocess.run(["git", f"--git-dir={repo}", "rev-parse", f"{rev}:third_party/Megatron-LM"],
                             check=True, capture_output=True, text=True).stdout.strip()
        megatron_tree = tree / "third_party" / "Megatron-LM"
        megatron_tree.mkdir(parents=True)
        archive = subprocess.run(["git", f"--git-dir={megatron}", "archive", pin, "megatron"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(megatron_tree)], input=archive, check=True)
    return tree


# Launches the fixtures lack, for the rules they would not reach: W&B, profiling, weighted data
# paths, batch-size ramp-up, run-time values. Written to a temporary folder by the test.
_BASE = ("torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
         "--seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 "
         "--lr 1e-4 --tokenizer-type NullTokenizer --vocab-size 1000 --bf16")
EXTRA_SCRIPTS = {
    "outputs_on.sh": ('TS=$(date +%Y%m%d_%H%M%S)\n' + _BASE + ' --train-iters 10 --mock-data --save /ckpt/$(whoami) '
                      '--save-interval 5 --tensorboard-dir /tb/$(hostname)/$TS --wandb-project proj_$$ '
                      '--profile --use-pytorch-profiler --seed $RANDOM\n'),
    "weighted_data.sh": (_BASE + ' --train-iters 10 --data-path 0.3 /d/a_text_document 0.7 /d/b_text_document '
                         '--split 98,2,0\n'),
    "rampup_no_save.sh": (_BASE.replace("--global-batch-size 8", "--global-batch-size 32") + ' --train-samples 6400 '
                          '--lr-decay-samples 6400 --rampup-batch-size 8 8 640 --mock-data\n'),
}


def _scripts(folder: Path) -> list[Path]:
    folder.mkdir()
    for name, body in EXTRA_SCRIPTS.items():
        (folder / name).write_text("#!/bin/bash\n" + body)
    return list(fixture_scripts()) + [folder / name for name in EXTRA_SCRIPTS]


def conversions(target: str, out: Path) -> tuple[list[Path], list[str]]:
    """Every fixture conversion at `target`, written as `convert` writes it (experiment + model file)."""
    from migrate.diagnostics import MigrateError
    from migrate.pipeline import ConvertOptions, convert_script

    written, refused = [], []
    for script in _scripts(out.parent / "extra"):
        for env in (knob_variants(script) if script.parent.name != "extra" else [{}]):
            folder = out / f"{len(written) + len(refused):03d}"
            try:
                conversion = convert_script(script, env, script_args(script),
                                            ConvertOptions(target=target, accept_null_tokenizer=True))
            except MigrateError as exc:
                refused.append(f"{script.name} {env}: {exc.message}")
                continue
            if not conversion.parity.ok:
                refused.append(f"{script.name} {env}: parity failed")
                continue
            for rel, text in conversion.files.items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_text(text)
            written.append(folder / conversion.experiment_path)
    return written, refused


def problems_of(report) -> list[str]:
    """Every way the release's own code disagrees with our model, in words; [] when none."""
    from migrate.primus.handoff import validate_args_refusals

    problems = []
    for verdict in report.verdicts:
        name = f"{Path(verdict.experiment).parent.name}/{Path(verdict.experiment).name}"
        if verdict.theirs_error or verdict.ours_error:
            problems.append(f"{name}: theirs {verdict.theirs_error or 'ok'} {verdict.theirs_where}; "
                            f"ours {verdict.ours_error or 'ok'}")
            continue
        if verdict.trainer_skipped:
            problems.append(f"{name}: the release's trainer was not run: {verdict.trainer_skipped}")
        for difference in verdict.comparison.differences:
            problems.append(f"{name}: {difference.dest}: ours {difference.ours!r}, the release's {difference.theirs!r}")
        problems += [f"{name}: {note}" for note in verdict.comparison.notes]
        problems += [f"{name}: {why}" for why in validate_args_refusals(verdict.theirs_values)]
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_every_fixture_conversion_runs_like_the_release_says(target, tmp_path):
    from migrate.verify import verify_experiments

    tree = export_release(target, tmp_path)
    experiments, refused = conversions(target, tmp_path / "out")
    assert experiments, refused
    env = {"PATH": os.environ.get("PATH", os.defpath), **RUN_ENV}
    report = verify_experiments(experiments, tree, env=env)
    problems = problems_of(report)
    compared = sum(v.comparison.compared for v in report.verdicts if v.comparison)
    print(f"{target} ({release_tag(target)}, {report.runtime} runtime; ours as {report.target}): "
          f"{len(experiments)} conversions, {compared} dests compared, {len(refused)} refused by the converter, "
          f"{len(problems)} difference(s)")
    print("\n".join(problems))
    assert problems == []
