"""Regenerate the bundled torchtitan data from git repositories (bare ones work).

    python -m migrate.torchtitan.bundle --torchtitan TORCHTITAN_GIT_DIR --primus PRIMUS_GIT_DIR

Writes, for each bundled Primus release, `migrate/torchtitan/schemas/<commit8>.json`: the
JobConfig schema of the torchtitan commit the release pins (its `third_party/torchtitan` gitlink),
read by `extract.extract_schema`, once per commit. A release whose torchtitan conversion is refused
(`Release.torchtitan_refused`) still has its pin's table bundled, so that a job written for that
torchtitan is named as such when it is converted for another release. The release's torchtitan
presets (`configs/<target>/modules/torchtitan/`, `models/torchtitan/`) are part of its target folder,
made by `primus-migrate target` (`python -m migrate.primus.snapshot` for every bundled target).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from migrate.torchtitan.extract import CANDIDATE_FILES, extract_schema
from migrate.torchtitan.schema import SCHEMA_DIR

def _releases() -> dict[str, str]:
    """target -> Primus tag whose torchtitan pin we bundle (every bundled release)."""
    from migrate.primus.profiles import catalog

    return {name: info.release for name, info in catalog().items()}


RELEASES = _releases()


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True).stdout


def torchtitan_pin(primus_git: Path, tag: str) -> str:
    """The torchtitan commit `tag` pins (its third_party/torchtitan gitlink)."""
    out = _git(primus_git, "ls-tree", f"refs/tags/{tag}", "third_party/torchtitan").decode().split()
    if len(out) < 3 or out[1] != "commit":
        raise SystemExit(f"{tag} has no third_party/torchtitan gitlink")
    return out[2]


def schema_text(data: dict) -> str:
    """One field per line: small diffs when a pin moves."""
    head = {k: v for k, v in data.items() if k != "fields"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + ['  "fields": {']
    rows = [f"    {json.dumps(p)}: {json.dumps(f)}" for p, f in data["fields"].items()]
    lines += [r + "," for r in rows[:-1]] + rows[-1:] + ["  }", "}"]
    return "\n".join(lines) + "\n"


def write_schema(torchtitan_git: Path, commit: str, out_dir: Path = SCHEMA_DIR) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        present = [rel for rel in CANDIDATE_FILES if _has(torchtitan_git, commit, rel)]
        archive = _git(torchtitan_git, "archive", "--format=tar", commit, "--", *present[:1])
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        data = extract_schema(tmp, name=commit[:8], source=f"pytorch/torchtitan@{commit}")
    path = out_dir / f"{commit[:8]}.json"
    path.write_text(schema_text(data), encoding="utf-8")
    return path


def _has(repo: Path, commit: str, path: str) -> bool:
    return bool(_git(repo, "ls-tree", commit, path).strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torchtitan", type=Path, required=True, help="pytorch/torchtitan git dir")
    parser.add_argument("--primus", type=Path, required=True, help="AMD-AGI/Primus git dir")
    args = parser.parse_args(argv)
    done: dict[str, object] = {}
    for target, tag in RELEASES.items():
        commit = torchtitan_pin(args.primus, tag)
        if commit not in done:
            done[commit] = write_schema(args.torchtitan, commit)
        print(f"{target} ({tag}) pins torchtitan {commit}: {done[commit]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
