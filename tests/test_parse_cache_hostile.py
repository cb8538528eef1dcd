"""A parse cache someone else could write into: planted, wrong-shaped or linked entries are misses,
never a wrong tree, never exit 1, and the cache never writes through a planted link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from migrate.shell import parse_cache, syntax

SCRIPT = b'TP="${TP:-1}"\ntorchrun pretrain_gpt.py --tensor-model-parallel-size "$TP"\n'


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("PRIMUS_MIGRATE_CACHE_DIR", str(root))
    monkeypatch.delenv("PRIMUS_MIGRATE_NO_CACHE", raising=False)
    monkeypatch.setattr(syntax, "_FILE_CACHE", {})
    monkeypatch.chdir(tmp_path)
    return root / "shfmt"


def _tree(data: bytes = SCRIPT, name: str = "run.sh") -> dict:
    return syntax._run_shfmt(data, name)


def _entry(cache: Path, data: bytes = SCRIPT, name: str = "run.sh") -> Path:
    binary = syntax.shfmt_binary()
    return Path(parse_cache._entry_path(str(cache), data, name, parse_cache._parser_id(binary)))


def _plant(cache: Path, stored: tuple, data: bytes = SCRIPT) -> None:
    _entry(cache, data).write_bytes(parse_cache._encode(stored))


def _stored(tree) -> tuple:
    return (parse_cache.FORMAT, parse_cache._parser_id(syntax.shfmt_binary()), "run.sh", SCRIPT, tree)


def test_the_cache_folder_is_private_to_the_user(cache):
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(_entry(cache).stat().st_mode) == 0o600


def test_an_own_folder_others_could_write_is_emptied_and_made_private(cache):
    cache.mkdir(parents=True)
    os.chmod(cache, 0o777)
    evil = _tree(SCRIPT.replace(b"TP:-1", b"TP:-8"))
    _plant(cache, _stored(evil))  # a perfect entry, planted while the folder was open
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) is None
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700 and not list(cache.iterdir())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs to hand a folder to another user")
def test_a_folder_of_someone_else_is_never_read_nor_written(cache):
    cache.mkdir(parents=True, mode=0o700)
    _plant(cache, _stored(_tree(SCRIPT.replace(b"TP:-1", b"TP:-8"))))
    os.chown(cache, 65534, 65534)
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) is None
    before = sorted(cache.iterdir())
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    assert sorted(cache.iterdir()) == before


def test_a_folder_that_is_a_link_is_not_used(cache, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache.parent.mkdir(parents=True)
    cache.symlink_to(elsewhere)
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    assert not list(elsewhere.iterdir())


def test_an_own_folder_others_could_only_read_is_made_private(cache):
    cache.mkdir(parents=True, mode=0o755)
    os.chmod(cache, 0o755)
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) == _tree()


def test_a_changed_tree_under_the_old_digest_is_a_miss(cache):
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    good = parse_cache._encode(_stored(_tree()))
    evil = parse_cache._encode(_stored(_tree(SCRIPT.replace(b"TP:-1", b"TP:-8"))))
    # the digest of the good entry in front of the body of another one
    cut = len(parse_cache._MAGIC) + 32
    _entry(cache).write_bytes(good[:cut] + evil[cut:])
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) is None


@pytest.mark.parametrize("tree", [[], "x", None, {"Type": "File"}, {"Type": "Other", "Stmts": []},
                                  {"Type": "File", "Stmts": "no"}, {1: 2, "Type": "File", "Stmts": []}])
def test_wrong_shaped_entries_are_misses(cache, tree):
    cache.mkdir(parents=True, mode=0o700)
    _plant(cache, _stored(tree))
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) is None


@pytest.mark.parametrize("stored", [(), (1, 2, 3), "x", [1, 2, 3, 4, 5]])
def test_wrong_shaped_records_are_misses(cache, stored):
    cache.mkdir(parents=True, mode=0o700)
    _plant(cache, stored)
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) is None


def test_wrong_shaped_entry_through_the_cli_is_a_miss_not_exit_1(cache, cli, tmp_path):
    script = tmp_path / "run.sh"
    script.write_bytes(SCRIPT)
    cache.mkdir(parents=True, mode=0o700)
    binary = syntax.shfmt_binary()
    for name in ("run.sh", str(script)):
        path = Path(parse_cache._entry_path(str(cache), SCRIPT, name, parse_cache._parser_id(binary)))
        path.write_bytes(parse_cache._encode((parse_cache.FORMAT, parse_cache._parser_id(binary), name, SCRIPT,
                                              {"Type": "File", "Stmts": 5})))
    result = cli("inspect", script)
    assert result.code == 0, result.err


def test_an_entry_that_is_a_link_is_not_followed(cache, tmp_path):
    cache.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(parse_cache._encode(_stored(_tree())))  # even a perfect entry, behind a link
    _entry(cache).symlink_to(victim)
    before = victim.read_bytes()
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) is None
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    assert victim.read_bytes() == before  # the link was replaced, not its target
    assert not _entry(cache).is_symlink()


def test_a_link_planted_at_the_temporary_name_is_not_written_through(cache, tmp_path, monkeypatch):
    cache.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)  # make the name predictable for the test
    scratch = f"{_entry(cache)}.{os.getpid()}.{'00' * 8}.tmp"
    os.symlink(victim, scratch)
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    assert victim.read_text() == "precious"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs to hand a file to another user")
def test_an_entry_owned_by_someone_else_is_a_miss(cache):
    parse_cache.store(SCRIPT, "run.sh", syntax.shfmt_binary(), _tree())
    os.chown(_entry(cache), 65534, 65534)
    assert parse_cache.load(SCRIPT, "run.sh", syntax.shfmt_binary()) is None
