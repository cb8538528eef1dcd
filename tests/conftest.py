"""Shared test helpers: run the CLI in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from migrate.cli import main

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
