"""Regenerate the bundled schema tables from Megatron-LM git repositories.

    python -m migrate.megatron.bundle --nvidia REPO_GIT_DIR --rocm REPO_GIT_DIR [--only NAME ...]

Each pinned commit's `megatron/` tree is exported with `git archive` into a
temporary directory (the repositories may be bare) and read by the extractor;
the result goes to `migrate/megatron/schemas/<name>.json` with the commit in
its "source" field.
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

from migrate.megatron.extract import extract_schema
from migrate.megatron.schema import SCHEMA_DIR

# name -> (which repository, revision, how the source is cited)
BUNDLED: dict[str, tuple[str, str, str]] = {
    "rocm_dev": ("rocm", "rocm_dev", "ROCm/Megatron-LM"),
    "5a676b36": ("nvidia", "5a676b36", "NVIDIA/Megatron-LM"),   # Primus v0.1.0-rc1 .. v0.3.0
    "84778176": ("nvidia", "84778176", "NVIDIA/Megatron-LM"),   # Primus v0.4.0 .. v0.7.0
    "3bec9aa9": ("nvidia", "3bec9aa9", "NVIDIA/Megatron-LM"),   # Primus v26.2, v26.2.1
    "d3528a21": ("nvidia", "d3528a21", "NVIDIA/Megatron-LM"),   # Primus v26.3 .. v26.5.1
}


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


def export_tree(repo: Path, rev: str, dest: Path) -> str:
    """Unpack `rev:megatron/` and every Python file (entry scripts) into dest; returns the full commit id."""
    commit = _git(repo, "rev-parse", f"{rev}^{{commit}}").decode().strip()
    archive = _git(repo, "archive", "--format=tar", commit, "--", "megatron", "*.py")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return commit


def _option_lines(options: list[dict], indent: str) -> list[str]:
    rows = [json.dumps(o, sort_keys=False) for o in options]
    return [f"{indent}{o}," for o in rows[:-1]] + [f"{indent}{o}" for o in rows[-1:]]


def schema_to_text(data: dict) -> str:
    """JSON with one option per line: small diffs when a pin moves."""
    head = {k: v for k, v in data.items() if k not in ("options", "providers")}
    lines = ["{"]
    for key, value in head.items():
        if key == "args_defaults":  # one entry script per line
            lines.append(f"  {json.dumps(key)}: {{")
            rows = [f"    {json.dumps(rel)}: {json.dumps(d)}" for rel, d in value.items()]
            lines.extend([r + "," for r in rows[:-1]] + rows[-1:])
            lines.append("  },")
            continue
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    if "providers" in data:
        lines.append('  "providers": {')
        names = list(data["providers"])
        for i, name in enumerate(names):
            provider = data["providers"][name]
            lines.append(f"    {json.dumps(name)}: {{")
            if "edits" in provider:
                lines.append(f'      "edits": {json.dumps(provider["edits"])},')
            lines.append('      "options": [')
            lines.extend(_option_lines(provider["options"], "        "))
            lines.append("      ]")
            lines.append("    }" + ("," if i < len(names) - 1 else ""))
        lines.append("  },")
    lines.append('  "options": [')
    options = [json.dumps(o, sort_keys=False) for o in data["options"]]
    lines.extend(f"    {o}," for o in options[:-1])
    lines.extend(f"    {o}" for o in options[-1:])
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def regenerate(repos: dict[str, Path | None], out_dir: Path = SCHEMA_DIR, names: list[str] | None = None) -> list[Path]:
    written = []
    for name, (which, rev, cite) in BUNDLED.items():
        if names and name not in names:
            continue
        if repos.get(which) is None:
            raise SystemExit(f"{name} needs --{which} (the git dir of {cite})")
        with tempfile.TemporaryDirectory() as tmp:
            repo = repos[which]
            assert repo is not None
            commit = export_tree(repo, rev, Path(tmp))
            schema = extract_schema(
                tmp, name=name, source=f"{cite}@{commit}" + (f" ({rev})" if rev != commit[: len(rev)] else "")
            )
        path = out_dir / f"{name}.json"
        path.write_text(schema_to_text(schema.to_json()))
        written.append(path)
        print(f"{path}: {len(schema.options)} options from {schema.source}")
        for note in schema.notes:
            print(f"  note: {note}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nvidia", type=Path, help="git dir of NVIDIA/Megatron-LM")
    parser.add_argument("--rocm", type=Path, help="git dir of ROCm's Megatron-LM fork (branch rocm_dev)")
    parser.add_argument("--only", nargs="*", choices=sorted(BUNDLED), help="regenerate only these")
    args = parser.parse_args(argv)
    regenerate({"nvidia": args.nvidia, "rocm": args.rocm}, names=args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
