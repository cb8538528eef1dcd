"""Values that exist only at run time ($(date), $(hostname), $HOSTNAME, $(whoami)) never reach a
config silently: they vary at run time where the release's YAML can say so, else they are marked.

Reasoning for the expected values: the evaluator assumes `date` prints 2024-01-01 00:00:00 UTC,
`hostname`/$HOSTNAME `localhost` and `whoami` `user`. Both releases substitute `${VAR:default}`
anywhere inside a YAML string value (primus/core/utils/yaml_utils.py@v0.1.0-rc1 `parse_yaml`:
`pattern.sub(replace_match, config)`; primus/core/config/yaml_loader.py@v26.5.1), so a path written
`/tb/${PRIMUS_RUN_DATE:20240101_000000}` loads as `/tb/20240101_000000` with the variable unset and
as `/tb/<value>` with it set. primus-0.1 then turns any all-digit string into an int, primus-26.5
a substituted one, so a value that is the stamp alone (`$(date +%s)`) cannot be a reference.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from migrate.primus.emit.runtime import RuntimeRef, runtime_exports, runtime_text

LAUNCH = ("torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
          "--seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 "
          "--train-iters 10 --lr 1e-4 --mock-data --tokenizer-type NullTokenizer --vocab-size 1000")


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "train.sh"
    path.write_text("#!/bin/bash\n" + body)
    return path


def test_plan_carries_the_run_time_values_that_reach_the_launch(tmp_path):
    from migrate.shell import evaluate_script

    script = _script(tmp_path, 'TS=$(date +%Y%m%d_%H%M%S)\nUNUSED=$(date +%s)\nexport RUN_HOST=$(hostname)\n'
                               f'{LAUNCH} --tensorboard-dir /tb/$TS --save /ckpt/$(whoami)/$HOSTNAME --save-interval 5\n')
    plan = evaluate_script(script, {}, [])
    got = {(r.command, r.assumed): sorted(r.used_in) for r in plan.runtime}
    assert got == {("date +%Y%m%d_%H%M%S", "20240101_000000"): ["argv"],
                   ("hostname", "localhost"): ["env:RUN_HOST"],
                   ("whoami", "user"): ["argv"],
                   ("$HOSTNAME", "localhost"): ["argv"]}
    assert "/tb/20240101_000000" in plan.argv_values()  # evaluation still sees the assumed value
    assert plan.runtime[0].origin.line == 2 and plan.runtime[0].origin.col > 0


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_config_varies_at_run_time_and_resolves_to_the_evaluated_run(target, tmp_path):
    from migrate.pipeline import ConvertOptions, convert_script
    from migrate.primus.loader import resolve_experiment_text

    script = _script(tmp_path, f'TS=$(date +%Y%m%d_%H%M%S)\n{LAUNCH} --save /ckpt/run_$TS --save-interval 5 '
                               f'--tensorboard-dir /tb/$TS --wandb-project proj_$TS\n')
    conversion = convert_script(script, {}, [], ConvertOptions(target=target))
    assert conversion.parity.ok, conversion.parity.format()  # static parity with the mark understood
    text = conversion.files[conversion.experiment_path]
    values = "\n".join(line.split(" #")[0] for line in text.split("overrides:")[1].splitlines())
    assert "20240101_000000" not in values.replace("${PRIMUS_RUN_DATE:20240101_000000}", "")
    assert "`date +%Y%m%d_%H%M%S` (evaluated as 20240101_000000)" in text  # the header names it
    resolved = resolve_experiment_text(conversion.files, conversion.experiment_path, conversion.profile,
                                       env={"PRIMUS_RUN_DATE": "20991231_235959"})
    assert "wandb_project: proj_${PRIMUS_RUN_DATE:20240101_000000}" in text
    assert resolved.values["wandb_project"] == "proj_20991231_235959"
    if target == "primus-26.5":  # 26.5 keeps the configured tensorboard_dir (TensorBoard "disabled")
        assert "tensorboard_dir: /tb/${PRIMUS_RUN_DATE:20240101_000000}" in text
        assert resolved.values["tensorboard_dir"] == "/tb/20991231_235959"
    else:  # 0.1 sets save and tensorboard_dir itself: the legacy paths are documented differences
        assert {d["dest"] for d in conversion.report["documented_differences"]} >= {"save", "tensorboard_dir"}
    run_sh = conversion.files["run.sh"]
    assert 'export PRIMUS_RUN_DATE="${PRIMUS_RUN_DATE:-$(date +%Y%m%d_%H%M%S)}"' in run_sh
    [entry] = conversion.report["runtime_values"]
    assert entry["assumed"] == "20240101_000000" and "PRIMUS_RUN_DATE" in entry["written_as"]


def test_run_sh_computes_the_value_as_the_script_did(tmp_path):
    """Real bash runs run.sh's export line with `date` stubbed on PATH: the variable is what it printed."""
    from migrate.pipeline import ConvertOptions, convert_script

    script = _script(tmp_path, f'{LAUNCH} --tensorboard-dir "/tb/$(date "+%Y %m")"\n')
    conversion = convert_script(script, {}, [], ConvertOptions(target="primus-26.5"))
    [line] = [x for x in conversion.files["run.sh"].splitlines() if x.startswith("export PRIMUS_RUN_DATE")]
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "date").write_text('#!/bin/sh\necho "args:$*"\n')
    (stub / "date").chmod(0o755)
    env = {"PATH": f"{stub}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path)}
    out = subprocess.run(["bash", "-c", line + '\nprintf %s "$PRIMUS_RUN_DATE"'], capture_output=True, text=True,
                         env=env, cwd=tmp_path, check=True).stdout
    assert out == "args:+%Y %m"  # one argument, as the script passed it
    out = subprocess.run(["bash", "-c", line + '\nprintf %s "$PRIMUS_RUN_DATE"'], capture_output=True, text=True,
                         env={**env, "PRIMUS_RUN_DATE": "given"}, cwd=tmp_path, check=True).stdout
    assert out == "given"  # a value already in the environment wins


def test_a_value_the_release_would_coerce_is_marked_not_referenced():
    ref = RuntimeRef("date +%s", "1704067200", "t.sh:2:4", "PRIMUS_RUN_DATE", dests={"wandb_exp_name"})
    from migrate.primus.releases import release

    v01, v26 = release("v0.1.0-rc1").interpolation, release("v26.5.1").interpolation
    for interpolation in (v01, v26):
        text, comment, inside, usable = runtime_text("wandb_exp_name", "1704067200", [ref], interpolation)
        assert not usable and text == "1704067200" and "written as evaluated" in comment
        text, _, _, usable = runtime_text("wandb_exp_name", "/tb/1704067200", [ref], interpolation)
        assert usable and text == "/tb/${PRIMUS_RUN_DATE:1704067200}"
    assert runtime_text("wandb_exp_name", "/tb/x", [ref], v01) is None
    assert runtime_text("tensorboard_dir", "/tb/1704067200", [ref], v01) is None  # not that flag's value
    assert runtime_exports([ref]) == []  # nothing written with the reference: no export


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_random_and_pid_vary_at_run_time_and_literals_stay(target, tmp_path):
    """`--seed $RANDOM` is an int read from a run-time value: `${PRIMUS_RUN_RANDOM:16384}` loads as the int
    16384 at both releases (v0.1 coerces every digit string; 26.5 every substituted one). The literal
    `--save-interval 12345` equals the value assumed for `$$` but came from no run-time value: unchanged."""
    from migrate.pipeline import ConvertOptions, convert_script
    from migrate.primus.loader import resolve_experiment_text

    script = _script(tmp_path, f'{LAUNCH} --seed $RANDOM --wandb-project p$$ --save /ckpt --save-interval 12345\n')
    conversion = convert_script(script, {}, [], ConvertOptions(target=target))
    assert conversion.parity.ok, conversion.parity.format()
    text = conversion.files[conversion.experiment_path]
    assert "seed: ${PRIMUS_RUN_RANDOM:16384}" in text and "wandb_project: p${PRIMUS_RUN_PID:12345}" in text
    assert "save_interval: 12345 " in text
    resolved = resolve_experiment_text(conversion.files, conversion.experiment_path, conversion.profile,
                                       env={"PRIMUS_RUN_RANDOM": "77", "PRIMUS_RUN_PID": "9"})
    assert resolved.values["seed"] == 77 and resolved.values["wandb_project"] == "p9"
    run_sh = conversion.files["run.sh"]
    assert 'export PRIMUS_RUN_RANDOM="${PRIMUS_RUN_RANDOM:-$RANDOM}"' in run_sh
    warned = [d.message for d in conversion.diagnostics if d.code == "shell-runtime"]
    assert any("$RANDOM" in m and "16384" in m for m in warned)
