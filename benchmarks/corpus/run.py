"""The development corpus: real launch scripts of public Megatron-LM forks, converted at every target.

    python benchmarks/corpus/run.py --mirrors DIR [--out DIR] [--target T ...]

`manifest.tsv` lists (repository, commit, path) of each script; none of their files is kept in this
repository. `--mirrors` is a folder of bare git repositories named `<owner>+<name>/repo` (the layout
the development tools fetch into); each script is read with `git show COMMIT:PATH` into a scratch
folder laid out `<owner>__<name>@<commit>/<path>`, then `primus-migrate batch` converts the folder at each
target. Prints the summary counts and the most common refusals, for the closing notes of a session.
Scripts whose repository or commit is missing are counted and left out.

`--with-checkouts` also writes each repository's Python sources at that commit beside its scripts (the
`megatron/` package and the entry scripts, e.g. `pretrain_gpt.py`, whose `args_defaults` and
`extra_args_provider` are part of the option table), so every script sits inside its own Megatron-LM
checkout, as when a user runs `batch` in their clone: the script is then read with its checkout's own
option table (migrate/megatron/schema_choice.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_manifest() -> list[tuple[str, str, str]]:
    rows = []
    for line in (HERE / "manifest.tsv").read_text().splitlines():
        if line.strip():
            repo, commit, path = line.split("\t")
            rows.append((repo, commit, path))
    return rows


def materialise(rows, mirrors: Path, dest: Path) -> int:
    missing = 0
    for repo, commit, path in rows:
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        shown = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"], capture_output=True)
        if shown.returncode != 0:
            missing += 1
            continue
        target = dest / f"{repo.replace('/', '__')}@{commit[:8]}" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shown.stdout)
    return missing


def add_checkouts(rows, mirrors: Path, dest: Path) -> int:
    """The Python sources of every (repository, commit): the parser, what it imports, the entry scripts."""
    added = 0
    for repo, commit in sorted({(repo, commit) for repo, commit, _ in rows}):
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        target = dest / f"{repo.replace('/', '__')}@{commit[:8]}"
        archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", commit, "--", ":(glob)**/*.py"],
                                 capture_output=True)
        if archive.returncode != 0:
            continue
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
        added += 1
    return added


def refusals(report: dict) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for script in report["scripts"]:
        for row in script["variants"] or [script]:
            if row["status"] in ("rejected", "skipped"):
                reason = (row.get("reason") or "").split(" (hint")[0]
                counts[re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'X'", reason))[:100]] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", required=True, type=Path)
    parser.add_argument("--out", type=Path, help="keep the batch outputs here (default: a temporary folder)")
    parser.add_argument("--target", action="append", help="targets (default: primus-26.5 and primus-0.1)")
    parser.add_argument("--with-checkouts", action="store_true",
                        help="put each script inside its repository's megatron/ sources (see above)")
    args = parser.parse_args()
    rows = read_manifest()
    with tempfile.TemporaryDirectory(prefix="corpus-") as scratch:
        src = Path(scratch) / "scripts"
        missing = materialise(rows, args.mirrors, src)
        print(f"{len(rows) - missing} scripts ({missing} not found in {args.mirrors})")
        if args.with_checkouts:
            print(f"{add_checkouts(rows, args.mirrors, src)} checkouts' Python sources beside them")
        for target in args.target or ["primus-26.5", "primus-0.1"]:
            out = (args.out or Path(scratch)) / f"batch-{target}"
            subprocess.run([sys.executable, "-m", "migrate", "batch", str(src), "-o", str(out), "--target", target,
                            "--force", "--json"], capture_output=True, cwd=scratch)
            report = json.loads((out / "batch_report.json").read_text())
            summary = report["summary"]
            print(f"\n{target}: scripts {summary['scripts']}; variants {summary['variants']}")
            print("  by category: " + ", ".join(f"{c['category']} {c['rows']}" for c in report.get("categories", [])))
            for reason, count in refusals(report).most_common(8):
                print(f"  {count:4d}  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
