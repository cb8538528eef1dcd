"""Shared pieces of the torchtitan tests: fixture paths and the two upstream oracles.

The oracles run upstream code exported from git (never committed here): torchtitan's ConfigManager
(`titan_oracle.py`) and Primus v26.5.1's experiment -> JobConfig build (`primus_titan_oracle.py`).
They need `TORCHTITAN_GIT` / `PRIMUS_GIT` (git dirs, bare ones work) and tyro (a test dependency);
without them those tests skip. Each oracle runs in a throwaway directory with HOME and TMPDIR inside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "torchtitan"
TORCHTITAN_PIN_26 = "73a0e6979dd10b6b1904098eb3c8f62c18ab87ce"
TORCHTITAN_PIN_01 = "4c4388f65047393acd91deb3f7a31d673d41701f"
HERE = Path(__file__).resolve().parent


def _export(env_var: str, rev: str, paths: list[str], dest: Path) -> Path:
    repo = os.environ.get(env_var)
    if not repo or not Path(repo).exists():
        pytest.skip(f"set {env_var} to a git dir to run this upstream oracle")
    pytest.importorskip("tyro")
    if not dest.exists():
        archive = subprocess.run(["git", "--git-dir", repo, "archive", "--format=tar", rev, "--", *paths],
                                 check=True, capture_output=True).stdout
        dest.mkdir(parents=True)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def torchtitan_tree(tmp_root: Path, rev: str = TORCHTITAN_PIN_26) -> Path:
    paths = ["torchtitan/config"] if rev == TORCHTITAN_PIN_26 else ["torchtitan/config_manager.py"]
    return _export("TORCHTITAN_GIT", rev, paths + ["torchtitan/tools/logging.py"], tmp_root / f"torchtitan-{rev[:8]}")


def primus_tree(tmp_root: Path, tag: str = "v26.5.1") -> Path:
    paths = ["primus/core", "primus/configs", "primus/backends/torchtitan", "primus/__init__.py",
             "primus/backends/__init__.py"]
    if tag.startswith("v0."):  # the torchtitan trainer of the `bases:` releases
        paths += ["primus/modules/trainer/torchtitan", "primus/modules/__init__.py"]
    return _export("PRIMUS_GIT", f"refs/tags/{tag}", paths, tmp_root / f"primus-{tag}")


def _run(script: str, args: list[str], work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "TMPDIR": str(work),
           "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, str(HERE / script), *args], cwd=work, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def torchtitan_parse(tree: Path, argv: list[str], work: Path) -> dict:
    """torchtitan's own JobConfig for argv (run in `work`), or {"error": ...}."""
    return _run("titan_oracle.py", [str(tree), *argv], work)


def primus_build(primus: Path, titan: Path, experiment: Path, work: Path) -> dict:
    return _run("primus_titan_oracle.py", [str(primus), str(titan), str(experiment)], work)


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
