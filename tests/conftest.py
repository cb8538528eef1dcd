"""Shared test helpers: run the CLI in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from migrate.cli import main

# Property tests check behaviour, not speed: on a loaded 2-core CI machine hypothesis's default
# 200 ms per-example deadline turns slow examples into spurious failures.
settings.register_profile("primus-migrate", deadline=None)
settings.load_profile("primus-migrate")

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
