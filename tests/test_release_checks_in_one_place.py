"""No code outside migrate/primus/releases/ tests which Primus release it holds (issue #17).

The release rules live in one folder; elsewhere code asks the profile's release object
(`profile.rules`) for a fact. This test reads every module of `migrate/` and `primus_runtime/`
(outside that folder) and refuses the two shapes a release check takes:
- a string literal that is exactly a target name or release tag (`"primus-0.1"`, `"v26.5.1"`): a
  comparison with it, or a table keyed by it;
- an identifier naming a release (`is_v01`, `_merge_v01`, `load_v26`, `v01`).
The one exception is the default target, `profiles.DEFAULT_TARGET`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RELEASES_DIR = REPO / "migrate" / "primus" / "releases"
TARGET_OR_TAG = re.compile(r"primus-\d+(\.\d+)*(-rc\d+)?|v\d+\.\d+(\.\d+)?(-rc\d+)?")
RELEASE_NAME = re.compile(r"(^|_)(is_)?v(01|26)($|_)")
ALLOWED = {("migrate/primus/profiles.py", "primus-26.5")}  # DEFAULT_TARGET, the one constant


def _modules() -> list[Path]:
    files = [*(REPO / "migrate").rglob("*.py"), *(REPO / "primus_runtime").rglob("*.py")]
    return sorted(p for p in files if RELEASES_DIR not in p.parents)


def _findings(path: Path) -> list[str]:
    rel = path.relative_to(REPO).as_posix()
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if TARGET_OR_TAG.fullmatch(node.value) and (rel, node.value) not in ALLOWED:
                out.append(f"{rel}:{node.lineno}: release literal {node.value!r}")
        name = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                else node.name if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else
                node.arg if isinstance(node, ast.arg) else None)
        if name and RELEASE_NAME.search(name):
            out.append(f"{rel}:{node.lineno}: release name {name!r}")
    return out


def test_no_release_checks_outside_the_releases_folder():
    findings = [f for path in _modules() for f in _findings(path)]
    assert not findings, "ask profile.rules (migrate.primus.releases) instead:\n" + "\n".join(findings)


def test_the_check_finds_what_it_refuses(tmp_path):
    sample = tmp_path / "migrate" / "x.py"
    sample.parent.mkdir()
    sample.write_text('if profile.is_v01 or target == "primus-26.5":\n    pass\nT = {"v0.1.0-rc1": 1}\n'
                      'def load_v26(): "primus-26.5 loads this way"\n')
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        found = _findings(sample)
    finally:
        REPO = saved
    assert sorted(f.split(": ", 1)[1] for f in found) == [
        "release literal 'primus-26.5'", "release literal 'v0.1.0-rc1'", "release name 'is_v01'",
        "release name 'load_v26'"]  # the docstring merely mentioning a target is not a check
