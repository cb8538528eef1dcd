"""Generated launch scripts, each run under real bash (stubbed launchers, sandboxed) and through the
evaluator: the launch argv must be the same, or the evaluator must say why it may not be (a refusal,
or a warning at a line of the script). A difference with neither is a silent wrong answer: a failure.

The fast suite runs a few hundred cases; the `slow` tests bring the total to 10,000+ (each slow test
a separate seed range, so they can run in parallel and a failure names its seed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_differential import describe, generate_many, run_cases

VARIANTS = 5  # knob sets per generated script (they share its parse)


def _check(tmp_path: Path, first_seed: int, scripts: int) -> None:
    outcomes = run_cases(tmp_path, generate_many(first_seed, scripts, VARIANTS))
    silent = [o for o in outcomes if o.silent]
    assert not silent, f"{len(silent)} silent mismatches of {len(outcomes)}; first:\n" + describe(silent[0])
    # the harness itself must be doing something: most cases launch in both and agree
    launched = [o for o in outcomes if o.bash_argv is not None]
    assert len(launched) > 0.7 * len(outcomes)
    assert sum(o.same for o in outcomes) > 0.8 * len(outcomes)


def test_generated_scripts_match_bash_fast(tmp_path: Path):
    _check(tmp_path, first_seed=0, scripts=40)  # 200 cases


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(5))
def test_generated_scripts_match_bash_slow(tmp_path: Path, chunk: int):
    _check(tmp_path, first_seed=100_000 + chunk * 400, scripts=400)  # 5 x 2,000 cases


def test_harness_sees_a_silent_mismatch(tmp_path: Path, monkeypatch):
    """The comparison can fail: with `$(( ))` errors evaluated to 0 again (the old behaviour, no
    warning), a script whose knob is empty gives a different argv and it is reported as silent."""
    from helpers_differential import Case

    from migrate.shell import evaluate

    monkeypatch.setattr(evaluate.Evaluator, "abort", lambda self, node, message: None)
    monkeypatch.setattr(evaluate.Evaluator, "arith_expansion",
                        lambda self, x, node: _zero_on_error(self, x))
    script = 'L=$(( $LAYERS * 2 )); ARGS="--num-layers $L"\ntorchrun pretrain_gpt.py $ARGS --x 1\n'
    [outcome] = run_cases(tmp_path, [Case(0, script, {"LAYERS": ""})])
    assert outcome.bash_argv == ["torchrun", "pretrain_gpt.py", "--x", "1"]
    assert outcome.tool_argv == ["torchrun", "pretrain_gpt.py", "--num-layers", "0", "--x", "1"]
    assert outcome.silent


def _zero_on_error(ev, xnode):
    from migrate.shell.arith import ArithError

    try:
        return ev.arith_value(xnode)
    except ArithError:
        return 0
