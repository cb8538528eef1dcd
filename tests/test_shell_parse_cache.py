"""The parse cache: a script's tree comes back from disk only for the same bytes, file name and
shfmt binary, and nothing about the cache (corrupt, unwritable, switched off) can fail a parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrate.shell import parse_cache, syntax

SCRIPT = 'TP="${TP:-1}"\nif [ "$TP" -gt 1 ]; then X=1; fi\ntorchrun pretrain_gpt.py --tp "$TP"\n'


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PRIMUS_MIGRATE_CACHE_DIR", str(folder))
    monkeypatch.delenv("PRIMUS_MIGRATE_NO_CACHE", raising=False)
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    monkeypatch.chdir(tmp_path)
    return folder / "shfmt"


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.tree")) if folder.is_dir() else []


def _no_shfmt(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("shfmt was started although the tree was cached")

    monkeypatch.setattr(syntax, "_run_shfmt", refuse)


def _parse(path: Path, display: str | None = None):
    syntax._FILE_CACHE.clear()  # the in-process cache would hide the disk cache
    text, tree = syntax.parse_file(path, display or path.name)
    return text, {k: v for k, v in tree.items() if k != "_display"}


def test_a_second_parse_of_the_same_bytes_reads_the_tree_without_shfmt(cache, monkeypatch):
    script = Path("run.sh")
    script.write_text(SCRIPT)
    _, first = _parse(script)
    assert len(_entries(cache)) == 1
    _no_shfmt(monkeypatch)
    _, second = _parse(script)
    assert second == first


def test_the_cached_tree_equals_a_fresh_shfmt_parse(cache):
    script = Path("run.sh")
    script.write_text(SCRIPT)
    _parse(script)
    cached = parse_cache.load(SCRIPT.encode(), "run.sh", syntax.shfmt_binary())
    fresh = syntax._run_shfmt(SCRIPT.encode(), "run.sh")
    assert cached == fresh


def test_changed_bytes_or_another_file_name_are_parsed_again(cache):
    script = Path("run.sh")
    script.write_text(SCRIPT)
    _parse(script)
    script.write_text(SCRIPT.replace("TP:-1", "TP:-2"))
    _, changed = _parse(script)
    assert "TP:-2" not in SCRIPT and changed["Stmts"][0]["Cmd"]["Assigns"][0]["Value"]["Parts"][0][
        "Parts"][0]["Exp"]["Word"]["Parts"][0]["Value"] == "2"
    other = Path("other.sh")
    other.write_text(SCRIPT)
    _, renamed = _parse(other)
    assert renamed["Name"] == "other.sh"  # shfmt records the file name in the tree
    assert len(_entries(cache)) == 3


def test_an_entry_for_other_bytes_under_the_same_name_is_a_miss(cache):
    data = SCRIPT.encode()
    binary = syntax.shfmt_binary()
    tree = syntax._run_shfmt(data, "run.sh")
    parse_cache.store(data, "run.sh", binary, tree)
    other = data.replace(b"TP:-1", b"TP:-7")
    # pretend a checksum collision: the entry for `data` sits where `other`'s entry would be
    parser = parse_cache._parser_id(binary)
    os.replace(parse_cache._entry_path(str(cache), data, "run.sh", parser),
               parse_cache._entry_path(str(cache), other, "run.sh", parser))
    assert parse_cache.load(other, "run.sh", binary) is None


def test_another_shfmt_binary_is_a_miss(cache, tmp_path):
    data = SCRIPT.encode()
    binary = syntax.shfmt_binary()
    parse_cache.store(data, "run.sh", binary, {"Type": "File", "Stmts": []})
    assert parse_cache.load(data, "run.sh", binary) == {"Type": "File", "Stmts": []}
    copy = tmp_path / "shfmt"
    copy.write_bytes(Path(binary).read_bytes())
    assert parse_cache.load(data, "run.sh", str(copy)) is None


@pytest.mark.parametrize("damage", [b"", b"not zlib at all", None])
def test_a_corrupt_entry_is_a_miss_and_the_parse_still_succeeds(cache, damage):
    script = Path("run.sh")
    script.write_text(SCRIPT)
    _, good = _parse(script)
    (entry,) = _entries(cache)
    blob = entry.read_bytes()
    entry.write_bytes(blob[: len(blob) // 2] if damage is None else damage)
    _, again = _parse(script)
    assert again == good
    assert parse_cache.load(SCRIPT.encode(), "run.sh", syntax.shfmt_binary()) == good  # rewritten


def test_switched_off_it_writes_nothing(cache, monkeypatch):
    monkeypatch.setenv("PRIMUS_MIGRATE_NO_CACHE", "1")
    script = Path("run.sh")
    script.write_text(SCRIPT)
    _parse(script)
    assert not cache.exists()


def test_an_unusable_cache_folder_never_fails_a_parse(cache, monkeypatch, tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("PRIMUS_MIGRATE_CACHE_DIR", str(blocker))
    script = Path("run.sh")
    script.write_text(SCRIPT)
    _, tree = _parse(script)
    assert tree["Stmts"][0]["Cmd"]["Assigns"][0]["Name"]["Value"] == "TP"


def test_a_syntax_error_is_reported_and_not_cached(cache):
    from migrate.diagnostics import MigrateError

    Path("bad.sh").write_text("X=1\nif then\n")
    with pytest.raises(MigrateError, match="bad.sh:2:1"):
        _parse(Path("bad.sh"))
    assert not _entries(cache)


def test_the_oldest_entries_go_once_there_are_too_many(cache, monkeypatch):
    monkeypatch.setattr(parse_cache, "MAX_ENTRIES", 4)
    binary = syntax.shfmt_binary()
    for i in range(5):
        data = f"X={i}\n".encode()
        parse_cache.store(data, "run.sh", binary, {"Type": "File", "Stmts": [], "i": i})
        entry = Path(parse_cache._entry_path(str(cache), data, "run.sh", parse_cache._parser_id(binary)))
        os.utime(entry, ns=(i * 10**9, i * 10**9))  # distinct ages
    assert len(_entries(cache)) == 3  # pruned to 3/4 of the cap, the oldest first
    assert parse_cache.load(b"X=0\n", "run.sh", binary) is None
    assert parse_cache.load(b"X=4\n", "run.sh", binary) == {"Type": "File", "Stmts": [], "i": 4}


def test_the_console_script_writes_its_entry_before_it_exits_and_reads_it_next_time(tmp_path):
    """The entry is written synchronously: it is there once the first run has exited (no
    child left to finish it), and the second run reads it instead of writing it again."""
    import subprocess
    import sys

    script = tmp_path / "run.sh"
    script.write_text(SCRIPT)
    folder = tmp_path / "cli-cache"
    env = dict(os.environ, PRIMUS_MIGRATE_CACHE_DIR=str(folder))
    env.pop("PRIMUS_MIGRATE_NO_CACHE", None)
    command = [sys.executable, "-m", "migrate", "inspect", "run.sh", "--json"]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0 and first.stdout.rstrip().endswith("}")
    (entry,) = _entries(folder / "shfmt")
    assert not list((folder / "shfmt").glob("*.tmp"))  # renamed into place, no scratch file left
    stamp = entry.stat().st_mtime_ns
    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert second.stdout == first.stdout
    assert entry.stat().st_mtime_ns == stamp  # read, not parsed and written again
