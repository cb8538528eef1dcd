"""Two-part parsing gives exactly shfmt's whole-file tree, or no tree at all.

The invariant `merge` relies on: when shfmt accepts the head and the blanked-head copy, the head
does not end in a line continuation and has no trailing comments, the concatenated statements are
the whole file's. It is checked at *every* line boundary (not only at the cuts `cut_point` would
choose) of a script built to put constructs across the cut, and of every fixture (slow run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.shell import early, split_parse, syntax
from migrate.shell.syntax import shfmt_binary

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_inspect import long_script  # noqa: E402  (the benchmark's 394-line script)

# every construct spans lines whose start looks like a new command at column 0
TRICKY = r"""#!/bin/bash
# a comment block
X=1
cat <<EOF > /dev/null
fi
Y=2
EOF
Z='single
W=3
quoted'
A="double \" escaped
B=4
"
C=$(echo a
D=5
)
case "$X" in
E) echo e ;;
F=*) echo f ;;
esac
f() {
G=6
}
if [ "$X" = 1 ]
then
H=7
fi
for i in 1 2
do
I=8
done
J=9 \
K=10
L=11 &&
M=12
N=(a
O=13
)
# trailing comment before a command
P=14
cat <<-'QUOTED'
	Q=15
	QUOTED
R=16 # same-line comment
torchrun pretrain_gpt.py --tp "$X"
"""


def _parse(data: bytes, name: str) -> dict | None:
    proc = subprocess.run([shfmt_binary(), "--to-json", "-ln", "bash", "--filename", name], input=data,
                          capture_output=True, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _check_every_cut(data: bytes, name: str) -> tuple[int, int]:
    whole = _parse(data, name)
    assert whole is not None
    merged_count = refused = 0
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 10]
    for at in starts[1:-1]:
        head, tail = _parse(data[:at], name), _parse(split_parse.blank_before(data, at), name)
        merged = None if head is None or tail is None else split_parse.merge(data, at, head, tail)
        if merged is None:
            refused += 1
            continue
        line = data[:at].count(b"\n") + 1
        assert merged == whole, f"{name}: cut before line {line}"
        merged_count += 1
    return merged_count, refused


def test_blanking_keeps_every_offset_line_and_column():
    data = "α=1\r\nb=2\n\tc=3\n".encode()
    blanked = split_parse.blank_before(data, 7)
    assert len(blanked) == len(data) and blanked.count(b"\n") == data.count(b"\n")
    assert blanked[7:] == data[7:] and set(blanked[:7]) <= {ord(" "), ord("\n")}


def test_every_cut_of_a_script_with_constructs_across_lines_merges_to_the_whole_tree_or_not_at_all():
    merged, refused = _check_every_cut(TRICKY.encode(), "tricky.sh")
    assert merged >= 10 and refused >= 15  # both outcomes were exercised


def test_a_cut_after_a_line_continuation_is_refused_even_though_shfmt_accepts_the_head():
    data = b"J=9 \\\nK=10\necho $J $K\n"
    at = data.index(b"K=10")
    head, tail = _parse(data[:at], "c.sh"), _parse(split_parse.blank_before(data, at), "c.sh")
    assert head is not None and tail is not None  # shfmt alone would not notice
    assert split_parse.merge(data, at, head, tail) is None


def test_the_chosen_cut_of_a_long_script_merges():
    data = long_script().encode()
    at = split_parse.cut_point(data)
    assert at is not None and 0.25 * len(data) < at < 0.75 * len(data)
    head, tail = _parse(data[:at], "long.sh"), _parse(split_parse.blank_before(data, at), "long.sh")
    assert split_parse.merge(data, at, head, tail) == _parse(data, "long.sh")


def test_short_scripts_are_not_cut():
    assert split_parse.cut_point(b"X=1\n" * 100) is None


def test_the_cli_parse_of_a_long_script_is_the_whole_file_tree_from_two_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIMUS_MIGRATE_NO_CACHE", "1")
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    Path("long.sh").write_text(long_script())
    early.start(["inspect", "long.sh"])
    (entry,) = early._STARTED.values()
    assert len(entry[2]) == 2 and entry[3] is not None  # two shfmt processes, cut at entry[3]

    def no_whole_parse(*_args, **_kwargs):
        raise AssertionError("fell back to a whole-file parse")

    monkeypatch.setattr(syntax, "_start", no_whole_parse)
    _, tree = syntax.parse_file(Path("long.sh"), "long.sh")
    assert {k: v for k, v in tree.items() if k != "_display"} == _parse(Path("long.sh").read_bytes(), "long.sh")


def test_a_failed_cut_falls_back_to_the_whole_file_and_reports_its_errors(tmp_path, monkeypatch):
    from migrate.diagnostics import MigrateError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIMUS_MIGRATE_NO_CACHE", "1")
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    broken = long_script() + "if [ 1 ]; then\n"  # the tail fails; the error is the whole file's
    Path("long.sh").write_text(broken)
    early.start(["inspect", "long.sh"])
    with pytest.raises(MigrateError) as caught:
        syntax.parse_file(Path("long.sh"), "long.sh")
    whole = subprocess.run([shfmt_binary(), "--to-json", "--filename", "long.sh"], input=broken.encode(),
                           capture_output=True, check=False).stderr.decode().strip()  # long.sh:L:C: message
    where, message = whole.rsplit(": ", 1)[0], whole.split(": ", 1)[1]
    assert str(caught.value) == f"{where}: error: cannot parse script: {message}"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(str(p.relative_to(REPO)) for p in (REPO / "fixtures").rglob("*.sh")
                                          if "broken" not in p.name))
def test_every_cut_of_every_fixture_merges_to_the_whole_tree_or_not_at_all(script):
    _check_every_cut((REPO / script).read_bytes(), script)

