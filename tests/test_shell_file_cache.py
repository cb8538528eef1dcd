"""The shell's per-file tree cache is bounded: a batch worker's memory stays flat over many scripts."""

from __future__ import annotations

from migrate.shell import syntax


def test_the_tree_cache_keeps_only_the_recent_files(tmp_path, monkeypatch):
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    monkeypatch.setattr(syntax, "FILE_CACHE_SIZE", 4)
    paths = []
    for i in range(10):
        path = tmp_path / f"s{i}.sh"
        path.write_text(f"X={i}\necho $X\n")
        paths.append(path)
        syntax.parse_file(path, path.name)
    assert len(syntax._FILE_CACHE) == 4
    kept = {key[0] for key in syntax._FILE_CACHE}
    assert kept == {str(p.resolve()) for p in paths[-4:]}


def test_a_file_used_again_is_kept_longest(tmp_path, monkeypatch):
    """Least recently used goes first: a helper every script sources stays cached."""
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    monkeypatch.setattr(syntax, "FILE_CACHE_SIZE", 3)
    common = tmp_path / "common.sh"
    common.write_text("A=1\n")
    first = syntax.parse_file(common, common.name)
    for i in range(5):
        path = tmp_path / f"s{i}.sh"
        path.write_text(f"source common.sh\nB={i}\n")
        syntax.parse_file(path, path.name)
        assert syntax.parse_file(common, common.name) is first  # a hit, not a new parse
    assert len(syntax._FILE_CACHE) == 3
