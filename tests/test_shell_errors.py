"""Bad and hostile input: located errors, bounded evaluation, no side effects, no tracebacks."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.diagnostics import MigrateError
from migrate.shell import EvalOptions, evaluate_script

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "scripts"


def write(tmp_path: Path, text: str, name: str = "s.sh") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_canary_has_no_side_effects(tmp_path):
    shutil.copy(FIXTURES / "bad" / "canary.sh", tmp_path / "canary.sh")
    (tmp_path / "precious_dir").mkdir()
    (tmp_path / "precious_dir" / "keep.txt").write_text("keep")
    plan = evaluate_script("canary.sh", options=EvalOptions(cwd=str(tmp_path)))
    assert not (tmp_path / "canary_marker").exists()
    assert (tmp_path / "precious_dir" / "keep.txt").read_text() == "keep"
    assert not (tmp_path / "payload.bin").exists()
    # `touch` has no model: the substitution is unknown, flagged on the token and in a warning
    stamp = plan.argv[plan.argv_values().index("--stamp") + 1]
    tokens = plan.argv[plan.argv_values().index("--tokens") + 1]
    assert stamp.unknown and tokens.unknown
    lines = {d.origin.line for d in plan.diagnostics.warnings if d.code == "shell-unknown"}
    assert {3, 7} <= lines


def test_unparsable_script_is_located(tmp_path):
    shutil.copy(FIXTURES / "bad" / "broken.sh", tmp_path / "broken.sh")
    with pytest.raises(MigrateError) as info:
        evaluate_script(tmp_path / "broken.sh")
    err = info.value
    assert err.exit_code == 2
    assert err.origin.file.endswith("broken.sh") and err.origin.line >= 1 and err.origin.col >= 1
    assert "quote" in err.message  # shfmt's own message


def test_a_function_with_no_name_is_a_located_parse_error(tmp_path):
    """`():` parses in shfmt as a function with no name; bash refuses the line (`bash -n`: syntax
    error near unexpected token `)'), so it is bad input at its line, not a crash (hypothesis found it)."""
    with pytest.raises(MigrateError) as info:
        evaluate_script(write(tmp_path, "#!/bin/bash\necho hi\n():\n"))
    assert info.value.exit_code == 2 and info.value.origin.line == 3
    assert "function definition with no name" in info.value.message


def test_no_launch_lists_commands_seen(tmp_path):
    shutil.copy(FIXTURES / "bad" / "no_launch.sh", tmp_path / "no_launch.sh")
    with pytest.raises(MigrateError) as info:
        evaluate_script("no_launch.sh", options=EvalOptions(cwd=str(tmp_path)))
    message = info.value.message
    assert "no training launch" in message
    for seen in ("mkdir", "wget", "python"):
        assert seen in message


def test_exit_before_launch_is_named(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "f")
    with pytest.raises(MigrateError) as info:
        evaluate_script("rocm/train_llama3.sh", {"MODEL_SIZE": "13"}, options=EvalOptions(cwd=str(tmp_path / "f")))
    text = (tmp_path / "f/rocm/train_llama3.sh").read_text().splitlines()
    line = int(info.value.message.split("exits at rocm/train_llama3.sh:")[1].split(";")[0])
    assert text[line - 1].strip() == "exit 1"


def test_unknown_substitution_is_a_warning_and_unknown_value(tmp_path):
    path = write(tmp_path, 'N=$(nproc)\nX=$(some_tool --flag)\ntorchrun pretrain_gpt.py --workers $N --x "$X"\n')
    plan = evaluate_script(path)
    assert [t.unknown for t in plan.argv] == [False, True, False, True]
    warned = {d.origin.line for d in plan.diagnostics.warnings}
    assert {1, 2} <= warned


def test_unknown_condition_takes_else_branch(tmp_path):
    path = write(tmp_path, 'if [ "$(nproc)" -gt 4 ]; then A=then; else A=else; fi\ntorchrun pretrain_gpt.py --a $A\n')
    plan = evaluate_script(path)
    assert plan.argv_values() == ["--a", "else"]
    assert any("else branch" in d.message and d.origin.line == 1 for d in plan.diagnostics.warnings)


def test_file_tests_assume_absence_outside_the_script_dir(tmp_path):
    (tmp_path / "conf.sh").write_text("X=from_conf\n")
    path = write(tmp_path, '[ -f "$(dirname $0)/conf.sh" ] && source "$(dirname $0)/conf.sh"\n'
                           'if [ -d /definitely/not/here ]; then Y=1; else Y=0; fi\n'
                           'torchrun pretrain_gpt.py --x $X --y $Y\n')
    plan = evaluate_script(path)
    assert plan.argv_values() == ["--x", "from_conf", "--y", "0"]
    assert any("/definitely/not/here" in d.message for d in plan.diagnostics.warnings)


def test_infinite_loop_is_bounded_with_a_located_warning(tmp_path):
    path = write(tmp_path, "n=0\nwhile true; do\n  n=$((n+1))\ndone\ntorchrun pretrain_gpt.py --n $n\n")
    plan = evaluate_script(path, options=EvalOptions(max_loop_iterations=50))
    assert plan.argv_values() == ["--n", "50"]
    assert any(d.code == "shell-loop-bound" and d.origin.line == 2 for d in plan.diagnostics.warnings)


def test_runaway_recursion_is_a_located_error(tmp_path):
    path = write(tmp_path, "f() {\n  f\n}\nf\ntorchrun pretrain_gpt.py\n")
    with pytest.raises(MigrateError) as info:
        evaluate_script(path, options=EvalOptions(max_call_depth=20))
    assert info.value.origin.line == 2 and "recursed" in info.value.message


def test_eval_keeps_origins_of_the_original_lines(tmp_path):
    path = write(tmp_path, 'A="--lr 1e-4"\nB="--bf16"\ncmd="torchrun pretrain_gpt.py $A $B"\neval $cmd\n')
    plan = evaluate_script(path)
    assert [(t.value, t.origin.line) for t in plan.argv] == [("--lr", 1), ("1e-4", 1), ("--bf16", 2)]


def test_missing_script(tmp_path):
    with pytest.raises(MigrateError) as info:
        evaluate_script(tmp_path / "nope.sh")
    assert info.value.exit_code == 2


_WORDS = ["echo", "X=1", "$X", "${X:-d}", '"$@"', "$(date)", "$((1+2))", "[", "]", "-eq", "if", "then", "fi",
          "for", "in", "do", "done", "case", "esac", ";;", ")", "(", "{", "}", ";", "&&", "||", "|", "\n",
          "torchrun", "pretrain_gpt.py", "--tp", "eval", "export", "local", "shift", "while", "'q'", '"a b"',
          "${#X}", "${X/a/b}", "arr=(a b)", "${arr[@]}", "source", "exit", "return", "f()", "$1", "=", "<<", "EOF"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_WORDS) | st.text(string.ascii_letters + "$={}[]()#%/:-_'\" ", max_size=6),
                max_size=14))
def test_random_snippets_only_raise_migrate_error(tmp_path, words):
    path = tmp_path / "fuzz.sh"
    path.write_text(" ".join(words) + "\n")
    try:
        evaluate_script(path, options=EvalOptions(max_loop_iterations=20, max_call_depth=8, max_steps=5000))
    except MigrateError:
        pass


def test_unknown_value_is_inert_through_eval(tmp_path):
    path = write(tmp_path, 'PORT=$(shuf -n 1 -i 10000-65535)\n'
                           'cmd="torchrun --master_port $PORT pretrain_gpt.py --x 1"\neval $cmd\n')
    plan = evaluate_script(path)
    port = plan.launcher.argv[2]
    assert port.unknown and " " not in port.value and plan.launcher.options()["master_port"] == port.value
    assert len([d for d in plan.diagnostics.warnings if d.code == "shell-unknown"]) == 1
    assert plan.argv_values() == ["--x", "1"]


def test_training_entry_is_assumed_to_exist(tmp_path):
    path = write(tmp_path, 'ENTRY=${MEGATRON:-/opt/Megatron-LM}/pretrain_gpt.py\n'
                           'if [ ! -f "$ENTRY" ]; then echo missing; exit 1; fi\n'
                           '[ -f /opt/other/tool.py ] || NOTOOL=1\n'
                           'torchrun "$ENTRY" --no-tool ${NOTOOL}\n')
    plan = evaluate_script(path)
    assert plan.entry == "/opt/Megatron-LM/pretrain_gpt.py" and plan.argv_values() == ["--no-tool", "1"]
    messages = [d.message for d in plan.diagnostics.warnings]
    assert any("assumed the training entry" in m for m in messages)
    assert any("/opt/other/tool.py" in m and "does not exist" in m for m in messages)


_TEMPLATES = [
    "{v}={val}", "{v}=${{{w}:-{val}}}", 'export {v}="${w}"', 'if [ "${v}" -eq {n} ]; then {v}={val}; else {w}={val}; fi',
    "for i in {val} {val}; do {v}+=$i; done", "case ${v} in {val}) {w}=1;; *) ;; esac",
    "{v}=$(( {n} {op} ${{{w}:-0}} ))", "f() {{ local {v}=$1; echo ${v}; }}", "{v}=$(f {val})",
    "arr=({val} ${v}); {w}=${{arr[@]}}", 'eval "{v}={val}"', "while [ ${{#{v}}} -lt {n} ]; do {v}+=x; done",
    "{v}=${{{w}//{val}/x}}", "shift", "set -- {val} {val}", "(( {v} = {n} {op} 2 ))", "[[ ${v} == {val}* ]] && {w}=1",
    "source ./missing.sh", "exit {n}", "return", "break", "continue", "{v}=${{{w}:{n}:{n}}}", "read {v} <<< {val}",
    "{v}=$(echo ${w} | cut -d{val} -f{n})", "g() {{ g; }}", "g", "set -e", "false", "{v}=$(nproc)",
    "torchrun pretrain_gpt.py --{v} ${v} ${w}", "eval $({v})", "{v}=( $(seq {n}) )", "let {v}={n}{op}{n}",
    "declare -i {v}={val}", "printf -v {v} '%s' {val}", "cd {val}", "unset {v}", "{v}=${{!{w}}}",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(_TEMPLATES), st.sampled_from(["A", "B", "C", "MODEL_SIZE"]),
                          st.sampled_from(["A", "B", "C", "X"]), st.sampled_from(["0", "1", "8", "a b", "x", "''", "-1"]),
                          st.integers(min_value=-2, max_value=12), st.sampled_from(["+", "-", "*", "/", "%", "**"])),
                max_size=12))
def test_random_valid_scripts_only_raise_migrate_error(tmp_path, statements):
    lines = [t.format(v=v, w=w, val=val, n=n, op=op) for t, v, w, val, n, op in statements]
    path = tmp_path / "gen.sh"
    path.write_text("\n".join(lines) + "\n")
    try:
        evaluate_script(path, options=EvalOptions(max_loop_iterations=50, max_call_depth=8, max_steps=20000))
    except MigrateError:
        pass


def test_each_file_is_parsed_once(tmp_path, monkeypatch):
    import migrate.shell.syntax as syntax

    calls = []
    real = syntax._parse_bytes
    monkeypatch.setattr(syntax, "_parse_bytes", lambda data, name: calls.append(name) or real(data, name))
    path = write(tmp_path, "torchrun pretrain_gpt.py --tp ${TP:-1}\n", name="once.sh")
    assert evaluate_script(path, {"TP": "2"}).argv_values() == ["--tp", "2"]
    assert evaluate_script(path, {"TP": "4"}).argv_values() == ["--tp", "4"]
    assert calls == [str(path)]
