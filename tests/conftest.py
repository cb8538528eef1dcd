"""Shared test helpers: run the CLI in-process and capture what a user would see."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from migrate.cli import main

# Property tests check behaviour, not speed: on a loaded 2-core CI machine hypothesis's default
# 200 ms per-example deadline turns slow examples into spurious failures.
settings.register_profile("primus-migrate", deadline=None)
settings.load_profile("primus-migrate")

# The parse cache (migrate/shell/parse_cache.py) goes to a folder of this run, not the user's ~/.cache;
# CLI subprocesses inherit it. Tests of the cache itself point it elsewhere.
os.environ.setdefault("MKL_DYNAMIC", "FALSE")  # as primus_runtime sets it, before any test imports torch

_OWN_CACHE = None if "PRIMUS_MIGRATE_CACHE_DIR" in os.environ else tempfile.mkdtemp(prefix="primus-migrate-cache-")
if _OWN_CACHE:
    os.environ["PRIMUS_MIGRATE_CACHE_DIR"] = _OWN_CACHE


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """`cli("inspect", "x.sh", "TP=2")` → CliResult(code, stdout, stderr)."""

    def run(*argv: str) -> CliResult:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
