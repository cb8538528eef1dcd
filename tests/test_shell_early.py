"""The CLI's early shfmt start: which word it takes for the script, and that a parse is only
used for exactly the file (path, mtime, size) and display name it was started on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrate.shell import early, syntax


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIMUS_MIGRATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    yield tmp_path
    for _data, _tree, jobs, _cut, _found in early._STARTED.values():  # reap what a test left unused
        for job in jobs:
            early.finish(job)
    early._STARTED.clear()


def test_guess_takes_the_first_file_after_inspect_or_convert(in_tmp):
    Path("run.sh").write_text("X=1\n")
    Path("out").mkdir()
    assert early.guess_script(["inspect", "TP=2", "run.sh", "--json"]) == "run.sh"
    assert early.guess_script(["convert", "--force", "run.sh", "-o", "out"]) == "run.sh"
    assert early.guess_script(["run.sh", "TP=1"]) == "run.sh"  # the implicit convert


def test_guess_ignores_other_commands_missing_files_and_script_arguments(in_tmp):
    Path("model.yaml").write_text("a: 1\n")
    Path("run.sh").write_text("X=1\n")
    assert early.guess_script(["resolve", "model.yaml"]) is None
    assert early.guess_script(["inspect", "missing.sh"]) is None
    assert early.guess_script(["inspect", "--", "run.sh"]) is None
    assert early.guess_script(["--help"]) is None


def test_an_early_parse_is_used_for_the_same_file(in_tmp):
    script = Path("run.sh")
    script.write_text("X=1\necho \"$X\" | cat\n")
    early.start(["inspect", "run.sh"])
    assert early.started("run.sh", "run.sh")
    text, tree = syntax.parse_file(script, "run.sh")
    assert not early._STARTED  # consumed
    assert text == script.read_text()
    fresh = syntax.parse_text(text, "run.sh")
    assert {k: v for k, v in tree.items() if k != "_display"} == fresh


def test_an_early_parse_of_a_file_changed_since_is_not_used(in_tmp):
    script = Path("run.sh")
    script.write_text("X=1\necho a | cat\n")
    early.start(["inspect", "run.sh"])
    script.write_text("Y=22\necho bb | cat\n")
    text, tree = syntax.parse_file(script, "run.sh")
    assert text == "Y=22\necho bb | cat\n"
    assert tree["Stmts"][0]["Cmd"]["Assigns"][0]["Name"]["Value"] == "Y"


def test_an_early_parse_under_another_display_name_is_not_used(in_tmp):
    script = Path("run.sh")
    script.write_text("X=1\necho a | cat\n")
    early.start(["inspect", "./run.sh"])
    assert not early.started("run.sh", "run.sh")
    text, tree = syntax.parse_file(script, "run.sh")
    assert len(early._STARTED) == 1  # still waiting, unused
    assert tree["Stmts"][0]["Cmd"]["Assigns"][0]["Name"]["Value"] == "X"


def test_a_syntax_error_from_an_early_parse_is_reported_like_any_other(in_tmp):
    from migrate.diagnostics import MigrateError

    Path("bad.sh").write_text("X=1\nif then\n")
    early.start(["inspect", "bad.sh"])
    with pytest.raises(MigrateError) as caught:
        syntax.parse_file(Path("bad.sh"), "bad.sh")
    assert str(caught.value).startswith("bad.sh:2:1: error: cannot parse script:")
