"""A script run without the positional arguments it reads (Pai-Megatron-Patch style
`run_mcore_llama3.sh ENV MODEL_SIZE BATCH_SIZE ... LR ...`).

Real bash expands a missing `$5` to nothing, so `--lr ${LR}` becomes `--lr --min-lr ...`
(tests/test_shell_oracle.py checks the evaluator gives bash's argv for this fixture), and
Megatron's argparse rejects `--lr` with no value. The converter must say so at the flag's
line and name the arguments that were not given.
"""

from __future__ import annotations

import argparse

import pytest

from helpers_convert import SCRIPTS
from migrate.shell import evaluate_script

PAI = SCRIPTS / "pai" / "run_mcore_llama3.sh"


def _codes(plan):
    return [(d.code, d.message, d.origin.line if d.origin else None) for d in plan.diagnostics]


def test_unset_positional_parameter_is_noted(tmp_path):
    script = tmp_path / "s.sh"
    script.write_text('A=$1\nB=$3\nC=${4:-x}\nD="$@"\ntorchrun pretrain_gpt.py --lr "$A" --seed 1\n')
    plan = evaluate_script(script, {}, ["1e-4"])
    missing = [(m, line) for code, m, line in _codes(plan) if code == "shell-missing-argument"]
    # $3 has no default and was not given; $1 was given, ${4:-x} has a default, $@ is a list
    assert missing == [("$3 expands to nothing: the script was given 1 argument(s)", 2)]


def test_argparse_itself_refuses_an_option_followed_by_an_option():
    """The oracle for the parser's behaviour: argparse takes `--min-lr` as the next option, not as a value."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--min-lr", type=float)
    with pytest.raises(argparse.ArgumentError, match="expected one argument"):
        parser.parse_args(["--lr", "--min-lr", "1e-6"])


def test_script_without_its_arguments_fails_at_the_flag_naming_them(cli, tmp_path):
    out = tmp_path / "out"
    result = cli("convert", PAI, "-o", out)
    assert result.code == 2 and not out.exists()
    assert "run_mcore_llama3.sh:72: error: option --lr expects a value" in result.err
    # LR=$5 is line 27 of the fixture; the hint says how to pass the arguments
    assert "$5 (line 27)" in result.err and "after `--`" in result.err
    assert "Traceback" not in result.err


def test_script_with_its_arguments_converts(cli, tmp_path):
    result = cli("convert", PAI, "-o", tmp_path / "out", "--", "dsw", "8B", "1", "32", "1e-5", "1e-6", "8192")
    assert result.code == 0, result.err
