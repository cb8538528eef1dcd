"""Bash semantics where the evaluator used to differ from bash (issue #13, class 1).

Every expectation is what real bash does with the same snippet: each test runs the snippet under
bash (in a scratch directory with its own HOME and TMPDIR) and through the evaluator, and compares
the variables afterwards; the comments say what bash does and why.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers_shell import BASH, bash_launch, plan_words, run_bash

from migrate.diagnostics import MigrateError
from migrate.shell import EvalOptions, evaluate_script
from migrate.shell.evaluate import Evaluator, ExitScript
from migrate.shell.text import to_str

NAMES = ["A", "B", "C", "D", "X", "Y", "V", "S", "Q", "Z", "N", "M"]


def bash_vars(snippet: str, tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, str | None]:
    """The variables after running the snippet as a script under bash (None: unset)."""
    work = tmp_path / "bash"
    (work / "home").mkdir(parents=True, exist_ok=True)
    script = work / "snippet.sh"
    dump = "".join(f'\nif [ -n "${{{n}+x}}" ]; then printf "%s\\0%s\\0" {n} "${{{n}}}"; '
                   f'else printf "%s\\0\\1\\0" {n}; fi' for n in NAMES)
    script.write_text("trap '" + dump.replace("'", "'\\''") + "' EXIT\n" + snippet + "\n")
    proc = subprocess.run([BASH, str(script)], cwd=work, capture_output=True, timeout=10, check=False,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(work / "home"),
                               "TMPDIR": str(work), **(env or {})})
    items = proc.stdout.decode().split("\0")[:-1]
    return {k: (None if v == "\x01" else v) for k, v in zip(items[::2], items[1::2])}


def tool_vars(snippet: str, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[dict, Evaluator]:
    work = tmp_path / "tool"
    work.mkdir(parents=True, exist_ok=True)
    script = work / "snippet.sh"
    script.write_text("\n" + snippet + "\n")  # line 1 is the trap line on the bash side
    ev = Evaluator(str(script), str(script), dict(env or {}), [], EvalOptions(cwd=str(work)))
    try:
        ev.run_file(str(script), str(script))
    except ExitScript:
        pass
    values = {}
    for name in NAMES:
        var = ev.state.lookup(name)
        values[name] = None if var is None else to_str(var.scalar())
    return values, ev


def check_against_bash(snippet: str, tmp_path: Path, env: dict[str, str] | None = None) -> Evaluator:
    expected = bash_vars(snippet, tmp_path, env)
    got, ev = tool_vars(snippet, tmp_path, env)
    assert got == expected, f"\n{snippet}\nbash: {expected}\ntool: {got}"
    return ev


def error_lines(ev: Evaluator) -> list[int]:
    return [d.origin.line for d in ev.diags.warnings if d.code == "shell-error"]


# -- arithmetic errors: the failing assignment does not happen and the rest of the command is skipped
ABORTS = {
    # bash: "* 2 : syntax error: operand expected"; X is not assigned, `B=2` on that line is skipped
    "empty operand": 'E=""; A=1; X=$(( $E * 2 )); B=2\nC=3',
    "unset operand": "N=$((4*$UNSET)); B=2\nC=3",
    # inside an `if` body: the rest of the whole `if` (the top-level command) is skipped
    "if body": 'E=""\nif true; then\n  A=1\n  X=$(( $E * 2 ))\n  B=2\nfi; C=3\nD=4',
    # a function's error skips the rest of the line that called it
    "function": 'E=""\nf() { A=1; X=$(( $E * 2 )); B=2; }\nf; C=3\nD=4',
    "and list": 'E=""\ntrue && X=$(( $E * 2 )) && B=2; C=3\nD=4',
    # `set -e` does not turn it into an exit: bash goes on with the next line
    "set -e": 'set -e\nE=""\nX=$(( $E * 2 )); B=2\nC=3',
    # a subshell is a command of its own: only it stops
    "subshell": 'E=""\n( X=$(( $E * 2 )); B=2 ); C=3',
    # a command substitution's shell stops; what it printed so far is kept
    "command substitution": 'E=""\nV=$(echo a; X=$(( $E * 2 )); echo b); C=3',
    # eval reads its string line by line like a script; the eval itself returns 1
    "eval": "E=\"\"\neval 'A=1; X=$(( $E * 2 )); B=2\nC=3'; D=4",
    # a value that is not an expression, met while evaluating a variable
    "variable value": "V='1+'; X=$(( V + 1 )); B=2\nC=3",
    "division by zero": "Z=0; X=$(( 5 / Z )); B=2\nC=3",
    "bad number": "X=$(( 08 )); B=2\nC=3",
    "integer variable": "declare -i Q; Q='4*'; B=2\nC=3",
    "declare -i value": "declare -i Q='4*'; B=2\nC=3",
    "substring": "S=abc; V=${S:1:-5}; B=2\nC=3",
    "array index": "I=''; V=(1 2); Y=${V[$I*2]}; B=2\nC=3",
    "exit status": 'E=""\nX=$(( $E * 2 ))\nS=$?',
    "line continuation": 'E=""\nX=$(( $E * 2 )); \\\nB=2\nC=3',
}


@pytest.mark.parametrize("snippet", ABORTS.values(), ids=ABORTS.keys())
def test_arithmetic_error_skips_the_rest_of_the_command_like_bash(snippet: str, tmp_path: Path):
    ev = check_against_bash(snippet, tmp_path)
    assert error_lines(ev), "the error must be a warning at its line"


NOT_ABORTS = {
    # `(( ))`, `let` and `for (( ))` report the error and return status 1; the line goes on
    "(( ))": 'E=""; (( X = $E * 2 )); S=$?; B=2',
    "let": 'E=""; let "Y=4*$E"; S=$?; B=2',
    "for (( ))": 'E=""; for (( A = 0; A < $E * 2; A++ )); do B=1; done; S=$?; C=3',
    # an assignment's target is not evaluated, the branch not taken is not evaluated
    "assignment target": 'X="1+"; Y=$(( X = 5 ))',
    "short circuit": "V='1+'; X=$(( 0 && V )); Y=$(( 0 && 1/0 )); Z=$(( 1 || 1/0 ))",
    "conditional": "Y=$(( 0 ? Q = 1 : 2 ))",
    # `[ x -gt 1 ]` on a non-number is status 2, not an abort
    "test operand": 'E=""; [ "$E" -gt 1 ]; S=$?; B=2',
    # bash expands the words first, then parses: `$A * 3` with A=1+2 is 1+2*3
    "expand then parse": "A=1+2; X=$(( $A * 3 )); Y=$(( A * 3 ))",
    "empty operands that are fine": 'E=""; X=$(( E + 1 )); Y=$(( $E + 1 )); Z=$(( E * 2 ))',
    "operators": "X=$(( 2 ** 3 ** 2 )); Y=$(( -7 % 2 )), Z=$(( 7 / -2 )); A=$(( 1 ? 2 : 3 ? 4 : 5 ));"
                 " B=$(( 3 < 4 == 1 )); C=$(( -2 ** 2 )); D=$(( ~0 + !5 + - -3 ))",
    "increments": "X=5; Y=$(( X++ + ++X )); Z=7; Q=$(( Z-- - --Z ))",
    "bases": "X=$(( 010 + 0x1F + 2#11 + 36#z + 64#_ + 64#Z )); Y=$(( 0x ))",
}


@pytest.mark.parametrize("snippet", NOT_ABORTS.values(), ids=NOT_ABORTS.keys())
def test_arithmetic_without_abort_matches_bash(snippet: str, tmp_path: Path):
    check_against_bash(snippet, tmp_path)


def test_let_and_declare_keep_single_quoted_expansions_literal(tmp_path: Path):
    # bash: `${E:-5} + 1: syntax error: operand expected`; X stays unset, let returns 1
    ev = check_against_bash("declare -i X='${E:-5} + 1'; B=2\nlet 'Y=${E:-5} + 1'; S=$?\n"
                            'let "Z=${E:-5} + 1"; declare -i Q="${E:-5} + 1"', tmp_path)
    assert len(error_lines(ev)) == 2


@pytest.mark.parametrize("snippet", [
    "X=$(( 9223372036854775807 + 1 )); Y=$(( 99999999999999999999 )); Z=$(( 2 ** 64 + 5 ))",
    "let X=2**63; declare -i Y=9223372036854775808; Z=$(( -9223372036854775808 / -1 ))",
    "Q=$(( -9223372036854775808 % -1 )); X=$(( 1 << 65 )); Y=$(( 1 << -1 ))",
    # `[` rejects an operand outside 64 bits (status 2); `[[` evaluates it, wrapping
    "[ 9223372036854775808 -gt 1 ]; X=$?; [ 9223372036854775807 -gt 1 ]; Y=$?;"
    " [[ 9223372036854775808 -gt 1 ]]; Z=$?",
])
def test_integers_wrap_at_64_bits_like_bash(snippet: str, tmp_path: Path):
    check_against_bash(snippet, tmp_path)


@pytest.mark.parametrize("snippet", [
    'X=$(printf "%*s|" 4 ab); Y=$(printf "%-*s|" 4 ab); Z=$(printf "%.*f" 2 3.14159)',
    'X=$(printf "%*d|%.*s" -5 42 2 abcdef); Y=$(printf "%s" "a\\nb"); Z=$(printf "%b" "a\\tb")',
    'X=$(printf "%.16f" 3.14159); Y=$(printf "%.2f" 2.675); Z=$(printf "%05.1f|%+d|%x" -2.25 7 255)',
    'printf -v X "%*s" 3 a; printf -v Y "%d-%d," 1 2 3',
])
def test_printf_takes_widths_and_precisions_from_arguments(snippet: str, tmp_path: Path):
    check_against_bash(snippet, tmp_path)


def test_crlf_script_is_refused_with_the_fix(tmp_path: Path):
    script = tmp_path / "train.sh"
    script.write_bytes(b"#!/bin/bash\nTP=1\nif true; then\r\n  TP=2\r\nfi\r\ntorchrun pretrain_gpt.py --tp $TP\r\n")
    with pytest.raises(MigrateError) as info:
        evaluate_script(str(script), {}, [], EvalOptions(cwd=str(tmp_path)))
    assert info.value.origin.line == 3  # the first line that ends in CR LF
    assert "CRLF" in info.value.message and "dos2unix" in (info.value.hint or "")
    assert info.value.exit_code == 2
    # bash itself fails on it (`then\r` is not a keyword): nothing is launched
    assert bash_launch(run_bash("train.sh", tmp_path)) is None


def test_crlf_refusal_from_the_command_line(tmp_path: Path):
    import os
    import sys

    script = tmp_path / "train.sh"
    script.write_bytes(b"TP=1\r\ntorchrun pretrain_gpt.py --tp $TP\r\n")
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "migrate", "inspect", str(script)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(repo), "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "train.sh:1" in proc.stderr and "dos2unix" in proc.stderr


LAUNCH = "torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 2"


def _both(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    script = tmp_path / "train.sh"
    script.write_text(text)
    launch = bash_launch(run_bash("train.sh", tmp_path, env))
    try:
        plan = evaluate_script("train.sh", env or {}, [], EvalOptions(cwd=str(tmp_path)))
    except MigrateError:
        plan = None
    return launch, plan


def test_redirection_into_a_missing_directory_fails_like_bash(tmp_path: Path):
    # bash cannot open ./nodir/x.json: `cat` does not run, status 1, and `set -e` ends the script
    launch, plan = _both(tmp_path, f"set -e\ncat > ./nodir/x.json <<EOF\n{{}}\nEOF\n{LAUNCH}\n")
    assert launch is None and plan is None
    # after `mkdir -p` the same redirection works in both
    launch, plan = _both(tmp_path, f"set -e\nmkdir -p nodir\ncat > ./nodir/x.json <<EOF\n{{}}\nEOF\n{LAUNCH}\n")
    assert launch is not None and plan is not None and plan_words(plan) == launch.words
    assert not [d for d in plan.diagnostics.warnings if "x.json" in d.message]


def test_redirection_from_a_template_placeholder_fails_like_bash(tmp_path: Path):
    # `<PATH TO DATA>` re-parsed by `sh -c` reads the file `PATH`, which does not exist: no launch
    text = 'CMD="python pretrain_gpt.py --data-path <PATH TO DATA> --lr 1"\nsh -c "$CMD"\n'
    launch, plan = _both(tmp_path, text)
    assert launch is None and plan is None


def test_paths_the_script_did_not_create_are_flagged(tmp_path: Path):
    script = tmp_path / "train.sh"
    script.write_text(f"cat > /nonexistent-dir/cfg.json <<EOF\n{{}}\nEOF\n{LAUNCH} < /data/in.txt\n")
    plan = evaluate_script("train.sh", {}, [], EvalOptions(cwd=str(tmp_path)))
    lines = {d.origin.line: d.message for d in plan.diagnostics.warnings}
    assert "did not create" in lines.get(1, "") and "/nonexistent-dir" in lines[1]
    assert "did not create" in lines.get(4, "") and "/data/in.txt" in lines[4]


def test_home_is_assumed_and_stated_when_not_given(tmp_path: Path):
    script = tmp_path / "train.sh"
    script.write_text(f'D=$HOME/data\nT=~/tok\n{LAUNCH} --data-path $D --tokenizer $T\n')
    plan = evaluate_script("train.sh", {}, [], EvalOptions(cwd=str(tmp_path)))
    assert plan.argv_values()[-4:] == ["--data-path", "/root/data", "--tokenizer", "/root/tok"]
    notes = [d for d in plan.diagnostics if "HOME" in d.message and "assumed" in d.message]
    assert {d.origin.line for d in notes} == {1, 2}
    # a given HOME is used as it is, with no note; bash agrees
    launch, plan = _both(tmp_path, script.read_text(), {"HOME": str(tmp_path / "h")})
    assert plan_words(plan) == launch.words
    assert not [d for d in plan.diagnostics if "HOME" in d.message]


@pytest.mark.parametrize("snippet", [
    # an assignment's status is its last command substitution's: `set -e` stops at `X=$(false)`
    "set -e\nA=1\nX=$(false)\nB=2",
    "X=$(exit 3); S=$?; Y=$(true); Z=$?",
    "set -e\nV=$(printf '%d' abc)\nB=2",
    # "${X:-}" is one empty word, not none: `[ -n "${X:-}" ]` is false
    '[ -n "${X:-}" ] && A=1; [ -n "${X:+}" ] && B=1; set -- "${X:-}"; N=$#',
])
def test_found_by_the_differential_harness(snippet: str, tmp_path: Path):
    check_against_bash(snippet, tmp_path)


@pytest.mark.parametrize("snippet", [
    # `declare -i` gives the attribute even when its value fails; later values are evaluated
    "declare -i M='1+'\nM=' ab'; A=$M\nM=3+4",
    "f() { local -i Q; Q=3+4; A=$Q; }\nf\nQ=3+4",
    "declare -i M='1+'\n: ${M:=2*3}; A=$M",
    # `**` checks its exponent even in a branch that is not evaluated
    "X=$(( 1 || 2 ** -1 )); B=2\nC=3",
    # `set -u`: an unset variable in arithmetic ends the script (bare or with `$`)
    "set -u\nA=1\nX=$(( Y + 1 )); B=2\nC=3",
    "set -u\nA=1\nX=$(( $Y + 1 )); B=2\nC=3",
    "set -u\nA=${#ARR[@]}\nB=2",
    "set -u\nA=\"${ARR[@]}\"; S=${#ARR[*]}\nB=2",
    "set -u\nA=${#M}\nB=2",
])
def test_integer_attribute_and_exponent_like_bash(snippet: str, tmp_path: Path):
    check_against_bash(snippet, tmp_path)


@pytest.mark.parametrize("snippet", [
    # `set -u` with no arguments: bash says "$1: unbound variable" and ends the script, in every form
    # of expansion that reads the value ($1, ${1}, ${10}, ${#1}, ${1#x}, ${1:0:2})
    "set -u\nA=1\nB=$1\nC=3",
    "set -u\nA=1\nB=\"${1}x\"; C=3",
    "set -u\nA=1\nB=${10}\nC=3",
    "set -u\nA=${#1}\nB=2",
    "set -u\nA=1\nB=${1#x}; C=${1:0:2}\nD=4",
    # ... but not where bash tests or defaults it, nor $@, $*, $#, $0
    "set -u\nA=${1:-d}; B=${1-e}; C=${1:+x}; D=$#; N=\"$@\"; M=$*; X=${@:2}\nY=${0:+z}",
    # inside a function the function's own arguments count; a stop inside $( ) ends only the subshell
    "set -u\nf() { A=$1; }\nf a\nB=2\nf\nC=3",
    "set -u\nX=$(echo $1); A=after\nB=2",
])
def test_set_u_positional_parameters_like_bash(snippet: str, tmp_path: Path):
    check_against_bash(snippet, tmp_path)
