"""`export X` / `declare -x X` / `readonly X` of a variable that already has a value: bash keeps the
value and adds the attribute. Checked against real bash (stubbed launcher), which records the
launch's argv and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_shell import bash_launch, plan_words, run_bash
from migrate.shell import EvalOptions, evaluate_script

SCRIPTS = {
    "export": 'X=1\nexport X\ntorchrun pretrain_gpt.py --a "$X"\n',
    "declare -x": 'X="a b"\ndeclare -x X\ntorchrun pretrain_gpt.py --a "$X"\n',
    "external": 'export TP\ntorchrun pretrain_gpt.py --tp "${TP:-1}"\n',  # TP comes from the environment
    "local -x": 'f() { local Y=2; local -x Y; torchrun pretrain_gpt.py --y "$Y"; }\nf\n',
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_exporting_a_set_variable_keeps_its_value(name, tmp_path: Path):
    (tmp_path / "run.sh").write_text(SCRIPTS[name])
    env = {"TP": "4"}
    launch = bash_launch(run_bash("run.sh", tmp_path, env))
    assert launch is not None
    plan = evaluate_script(tmp_path / "run.sh", env, (), EvalOptions(cwd=str(tmp_path)))
    assert plan_words(plan) == launch.words
    for var in ("X", "Y"):  # set by the script itself (an inherited knob is not its environment)
        if var in launch.env:
            assert plan.env[var].value == launch.env[var]
