"""The shfmt-free parse of plain one-line commands must be exactly shfmt's tree.

Every expectation here is shfmt's own output for the same text: the fast path
either reproduces it node for node (positions included) or declines.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.shell.plain_command import parse_plain_command
from migrate.shell.syntax import shfmt_binary

NAME = "train.sh:12:5 (eval)"


def shfmt_tree(text: str) -> dict | None:
    """shfmt's JSON for `text`, or None when shfmt rejects it."""
    proc = subprocess.run([shfmt_binary(), "--to-json", "-ln", "bash", "--filename", NAME],
                          input=text.encode(), capture_output=True, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


ACCEPTED = [
    "torchrun --nproc_per_node 8 --master_addr localhost pretrain_gpt.py --lr 1e-4 --bf16",
    "python pretrain_gpt.py --data-path /data/a_b.c --alt=ADAM --x,y +z @w 50%",
    "torchrun a.py |& tee experiment/run_1/output.log",
    "torchrun a.py | tee -a out.log | cat",
    "torchrun a.py >& out.log",
    "torchrun a.py > out.log 2>&1",
    "torchrun a.py 2>&1 | tee log",
    "torchrun a.py >>log 2>err <in",
    "torchrun a.py &> log",
    "torchrun a.py &>> log",
    "cmd  a\tb   c",
    "a>f",
    "a|b",
    "a 12>f",
    "a 3<&0",
    "x2>f",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_plain_commands_match_shfmt(text: str) -> None:
    tree = parse_plain_command(text, NAME)
    assert tree is not None, "the fast path should take this text"
    assert tree == shfmt_tree(text)


@pytest.mark.parametrize("text", [
    "", " a", "a ", "a\nb", "a; b", "a && b", "a || b", "a & ", "a &", "A=1 torchrun x.py", "export A=1",
    "local x", "time a", "if", "echo $HOME", "echo 'q'", 'echo "q"', "echo a*", "echo {a,b}", "echo ~/x",
    "echo #c", "a >", "a |", "| a", "a | | b", ">f a", "2>f a", "a <<EOF", "a <<< x", "a >| f", "a <> f",
    "a 2&>f", "a (b)", "échange", "a\\ b", "[ -f x ]", "! a", "a `b`",
])
def test_everything_else_is_left_to_shfmt(text: str) -> None:
    assert parse_plain_command(text, NAME) is None


def test_long_declined_text_is_declined_at_once() -> None:
    # a script file ends in a newline: the first check must reject it in linear time
    assert parse_plain_command("torchrun " + "--some-long-flag-name value " * 40 + "\n", NAME) is None


def test_a_nameless_parse_is_left_to_shfmt() -> None:
    assert parse_plain_command("a b", "") is None


_piece = st.one_of(
    st.text(alphabet="abcz019_./:=,+@%-", min_size=1, max_size=4),
    st.sampled_from([" ", "  ", "\t", "|", "|&", ">", ">>", ">&", "<&", "<", "&>", "&>>", "2", "&", "if", "=",
                     "'", "$x", "~", "#", "\n", ";"]),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(_piece, min_size=1, max_size=10).map("".join))
def test_random_commands_match_shfmt_or_are_declined(text: str) -> None:
    tree = parse_plain_command(text, NAME)
    if tree is not None:
        assert tree == shfmt_tree(text)
