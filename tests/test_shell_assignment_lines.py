"""The statements built without shfmt must leave exactly shfmt's tree of the whole file.

Every expectation is shfmt's own output for the original text: scanning, masking,
shfmt on the masked text and `restore` either give that tree node for node
(positions, key order, comments) or `restore` says the placeholders did not come
back as statements.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.shell import assignment_lines, syntax
from migrate.shell.syntax import shfmt_binary

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_inspect import long_script  # noqa: E402

FIXTURES = sorted(str(p.relative_to(REPO)) for p in (REPO / "fixtures").rglob("*.sh") if "broken" not in p.name)


def shfmt_tree(data: bytes, name: str = "t.sh") -> dict | None:
    proc = subprocess.run([shfmt_binary(), "--to-json", "-ln", "bash", "--filename", name], input=data,
                          capture_output=True, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def via_masking(data: bytes, name: str = "t.sh") -> tuple[dict | None, int]:
    """(the tree assembled from shfmt's parse of the masked file, or None; statements built here)."""
    found = assignment_lines.scan(data)
    tree = shfmt_tree(assignment_lines.mask(data, found), name)
    built = sum(len(hit.stmts) for hit in found)
    if tree is None or not assignment_lines.restore(tree, found):
        return None, built
    return tree, built


def assert_same_json(ours: dict, theirs: dict) -> None:
    """Equal as data and in key order (what a JSON dump of either would show)."""
    assert ours == theirs
    assert json.dumps(ours) == json.dumps(theirs)


@pytest.mark.parametrize("script", FIXTURES)
def test_every_fixture_assembles_to_shfmts_own_tree(script):
    data = (REPO / script).read_bytes()
    tree, built = via_masking(data, script)
    assert tree is not None, "a placeholder did not come back as a statement"
    assert_same_json(tree, shfmt_tree(data, script))


def test_most_of_a_long_launch_script_is_built_here_and_the_rest_is_exact():
    data = long_script().encode()
    tree, built = via_masking(data)
    assert built >= 120  # assignments, exports, `[ ... ]` conditions, plain commands
    assert_same_json(tree, shfmt_tree(data))
    found = assignment_lines.scan(data)
    assert len(found) < 0.7 * built  # runs of consecutive lines share one placeholder
    masked = assignment_lines.mask(data, found)
    assert len(masked) == len(data) and masked.count(b"\n") == data.count(b"\n")
    assert len(json.dumps(shfmt_tree(masked))) < 0.6 * len(json.dumps(shfmt_tree(data)))  # shfmt encodes less


def test_a_block_of_lines_is_one_placeholder_its_comments_go_first_and_a_line_with_more_stands_alone():
    data = b"# about the block\nA=1\n  B=\"$A x\"\nexport C=2 >/dev/null; echo done\n"
    found = assignment_lines.scan(data)
    assert [len(hit.stmts) for hit in found] == [2, 1]
    tree, _ = via_masking(data)
    assert_same_json(tree, shfmt_tree(data))
    first, third = tree["Stmts"][0], tree["Stmts"][2]
    assert first["Comments"][0]["Text"] == " about the block" and "Redirs" in third and "Semicolon" in third


# Lines inside the grammar, in the idioms launch scripts use; each followed by what may come after it.
STATEMENTS = [
    "TP=1", "TP=${TP:-1}", 'MBS="${MBS:-2}"', "export NCCL_IB_DISABLE=1", "export A B=2 C", "local v=$1",
    'ARGS="$ARGS --tensor-model-parallel-size ${TP} --seq-length $SEQ_LENGTH"', "ARGS+=\" --bf16\"",
    'DATA="${DATA_DIR:-/data}/${NAME:=x}_${1:-a}${10}"', "A='single quoted $x'", "A=''", 'A=""', "A=",
    "Q=${X:-\"$HOME/dir\"}", 'Q="${X:-"a b"}"', "Q=${X:-'lit'}", "Q=${X-}${Y:+set}${Z?}", "K=a=b:c,d@e%f+g",
    'ARGS="--lr 1e-4 \\\n    --min-lr 1e-5 \\\n    --weight-decay 0.1"', 'M="\n  --a 1\n  --b $B\n"',
    'E="a \\"quoted\\" \\$ \\\\ back"', 'E="a\\\n\\\nb\\\n$D"', "A=1 B=$A C=\"$B\"", "declare A=1", "readonly R=1",
    "[ \"$FSDP\" -eq 1 ]", "[ -n \"$X\" ]", "mkdir -p $EXPERIMENT_DIR/logs", "echo \"TP=$TP\" done",
    "cd ${WORK:-/tmp}", "source ./common.sh", ". ./env.sh", "shift", "set -ex", "HIP=1 torchrun a.py --x=1",
    "eval $run_cmd", "cut -f1 -d=",
]
TAILS = ["", " # note", "  ;", ";", " && true", " || exit 1", " | tee log", " > /dev/null", " 2>&1", " &",
         "; echo after", " <<EOF\nA=1 body\nEOF"]


@pytest.mark.parametrize("tail", TAILS)
@pytest.mark.parametrize("statement", STATEMENTS)
def test_a_statement_then_what_may_follow_it_is_shfmts_tree(statement, tail):
    data = f"# lead\n{statement}{tail}\nZ=1\n".encode()
    reference = shfmt_tree(data)
    assert reference is not None
    # refused: too short for a placeholder; a comment after a statement over several lines
    if statement != "A=" and not ("\n" in statement and "#" in tail):
        assert any(hit.start == len("# lead\n") for hit in assignment_lines.scan(data)), "not built here"
    tree, _ = via_masking(data)
    assert tree is not None
    assert_same_json(tree, reference)


# Where the same text is not a statement, or is a statement in a construct: shfmt decides which.
CONTEXTS = [
    "cat <<EOF\n{s}\nEOF", "cat <<-'EOF'\n\t{s}\n\tEOF", 'X="\n{s}\n"', "X='\n{s}\n'", "ARR=(\n{s}\n)",
    "echo a \\\n{s}", "if true; then\n{s}\nfi", "if {s}; then\n  :\nelif {s}; then :; fi", "while {s}; do break; done",
    "f() {{\n  {s}\n}}", "case $x in\n  a)\n    {s}\n    ;;\n  *)\n{s}\nesac", "true &&\n{s}", "true |\n{s}",
    "X=$(\n{s}\n)", "{{\n{s}\n}}", "(\n{s}\n)", "for i in 1 2; do\n{s}\ndone", "# {s}", ": <<'X'\n{s}\nX",
    "if [ 1 ]\nthen\n{s}\nfi", "until {s}\ndo :; done", "{s}\n{s}", "if true; then\n  {s}\n  # c\nfi",
    "{s} # c1\n# c2", "# c0\n\n{s}\n# c3", "case $x in a) {s};; esac", "{s}; {s}", "{s} &&\n{s}",
]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("statement", ["A=1", 'ARGS="$ARGS --x $Y"', 'M="\n  --a 1\n"', "[ \"$X\" -eq 1 ]",
                                       "export N=1", "echo hi"])
def test_statements_in_every_context_are_shfmts_tree_or_refused(context, statement):
    data = (context.format(s=statement) + "\n").encode()
    reference = shfmt_tree(data)
    if reference is None:
        pytest.skip("not bash")
    tree, _ = via_masking(data)
    if tree is not None:
        assert_same_json(tree, reference)


def _forced(data: bytes, needle: bytes) -> list:
    """A statement found at `needle` whatever its context (the scan's own heuristics bypassed)."""
    text = data.decode("latin-1")
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    hit = assignment_lines._Lexer(text, starts).statement(data.index(needle))
    assert hit is not None
    return [hit]


@pytest.mark.parametrize("data, needle", [
    (b"cat <<EOF\nA=1\nEOF\n", b"A=1"),  # a heredoc line
    (b'X="\nA=1\n"\n', b"A=1"),  # inside a string
    (b"ARR=(\nA=1\n)\n", b"A=1"),  # an array element
    (b"echo a \\\nA=1\n", b"A=1"),  # an argument on a continued line
    (b"echo a \\\nB=\"$X\nY\"\n", b"B="),  # the same, over two lines
])
def test_restore_refuses_a_placeholder_that_is_not_a_statement(data, needle):
    found = _forced(data, needle)
    tree = shfmt_tree(assignment_lines.mask(data, found))
    assert tree is None or not assignment_lines.restore(tree, found)


def test_a_refused_mask_is_parsed_whole_by_the_cli_path(tmp_path, monkeypatch):
    data = b"cat <<EOF\nA=1\nEOF\nB=2\n"
    monkeypatch.setattr(assignment_lines, "scan", lambda d: _forced(d, b"A=1") if d == data else [])
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    monkeypatch.setenv("PRIMUS_MIGRATE_NO_CACHE", "1")
    script = tmp_path / "h.sh"
    script.write_bytes(data)
    _, tree = syntax.parse_file(script, "h.sh")
    assert {k: v for k, v in tree.items() if k != "_display"} == shfmt_tree(data, "h.sh")


def test_a_script_with_a_syntax_error_reports_shfmts_error_for_the_original(tmp_path, monkeypatch):
    from migrate.diagnostics import MigrateError

    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    monkeypatch.setenv("PRIMUS_MIGRATE_NO_CACHE", "1")
    script = tmp_path / "bad.sh"
    script.write_text('A=1\nB="$A --x"\nif [ "$A" -eq 1 ]; then\n  C=2\n')
    with pytest.raises(MigrateError) as caught:
        syntax.parse_file(script, "bad.sh")
    assert str(caught.value).startswith("bad.sh:3:1: error: cannot parse script:")


def test_lines_outside_the_grammar_are_left_to_shfmt():
    for line in ["A=$(date)", "A=`pwd`", "A=$((1+2))", "A=(a b)", "A=~/x", "A=*.sh", "A={a,b}", "A=${#B}",
                 "A=${B%x}", "A=${B[0]}", "A=\"$(x)\"", "A=$@", "A=a\\ b", "A=é", "A=1\r", "if x; then",
                 "local -r A=1", "for i in 1; do", "[[ $A -eq 1 ]]", "$CMD arg", "A[0]=1", "echo a>b",
                 "echo {a,b}", "time x", "! x", "A=1#c", "echo $@"]:
        assert assignment_lines.scan(line.encode() + b"\n") == [], line


_pieces = st.sampled_from([
    "A", "_b9", "=", "+=", "1", "x.y", "-", ":", ",", "/", "@", "%", "$A", "$1", "${A}", "${A:-", "${A-", "${A:=",
    "${A:+", "${A?", "}", '"', "'", " ", "\t", "#", "\\", "\n", "\\\n", "$", "{", "[", "]", ";", "|", "&", ">",
    "export ", "local ", "echo ", "if ", "~", "*", "!", "(", ")",
])


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, min_size=1, max_size=14).map("".join))
def test_random_text_assembles_to_shfmts_tree_or_is_refused(text):
    data = (text + "\n").encode()
    reference = shfmt_tree(data)
    tree, _ = via_masking(data)
    if reference is None:
        return  # not bash: the CLI reparses the original and reports shfmt's error
    if tree is not None:
        assert_same_json(tree, reference)


_lit = st.text(alphabet="aZ09_-./:,+@%=", min_size=1, max_size=3)
_name = st.sampled_from(["A", "_x", "B2", "1", "10", "TP"])
_param = st.one_of(
    _name.map(lambda n: f"${n}" if n[0].isalpha() or n[0] == "_" else f"${n[0]}"),
    _name.map(lambda n: f"${{{n}}}"),
    st.tuples(_name, st.sampled_from([":-", "-", ":=", "=", ":+", "+", ":?", "?"]),
              st.lists(st.one_of(_lit, st.just('"q $A"'), st.just("'s'")), max_size=2).map("".join))
    .map(lambda t: f"${{{t[0]}{t[1]}{t[2]}}}"),
)
_in_double = st.lists(st.one_of(_lit, _param, st.sampled_from([" ", "\n", "\\\n", '\\"', "\\$", "\\\\", "#", "!",
                                                               "'", "(", ")", "*", "~", "\t"])), max_size=6)
_value = st.lists(st.one_of(_lit, _param, _in_double.map(lambda p: '"' + "".join(p) + '"'),
                            st.text(alphabet="a $\n\"", max_size=4).map(lambda t: f"'{t}'")), max_size=4).map("".join)
_statement = st.one_of(
    st.tuples(st.sampled_from(["", "export ", "local ", "declare "]), _name.filter(lambda n: not n[0].isdigit()),
              st.sampled_from(["=", "+="]), _value).map("".join),
    st.tuples(st.sampled_from(["echo", "[", "mkdir", "cut"]), st.lists(_value.filter(bool), max_size=3))
    .map(lambda t: " ".join([t[0], *t[1]]) + (" ]" if t[0] == "[" else "")),
)
_around = st.sampled_from(["{s}", "{s} # c", "{s};", "{s} && x", "{s} > f", "if {s}; then :; fi", "f() {{\n {s}\n}}",
                           "cat <<E\n{s}\nE", 'X="\n{s}\n"', "a \\\n{s}", "{s}\n# c", "case $x in *) {s} ;; esac"])


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_around, _statement).map(lambda t: t[0].format(s=t[1])), min_size=1, max_size=4)
       .map("\n".join))
def test_generated_statements_in_context_assemble_to_shfmts_tree_or_are_refused(text):
    data = (text + "\n").encode()
    reference = shfmt_tree(data)
    tree, _ = via_masking(data)
    if reference is not None and tree is not None:
        assert_same_json(tree, reference)
