"""The headline measure: of the corpus's `pretrain_gpt.py` launches that Megatron-LM's own code accepts,
how many convert at each target, and why the rest are refused.

    python benchmarks/corpus/accepted.py --mirrors DIR --reports DIR [--json FILE]

`--reports` is the `--out` folder of `run.py` (its `batch-<target>/batch_report.json`, scripts alone).
Judges, none of them ours:
- argv: each script runs under real bash with stubbed launchers (`tests/helpers_shell.py`: torchrun,
  python, srun, ... record their argv), without arguments, in a throwaway folder that is its working
  directory, HOME and TMPDIR (a copy of the script's repository folder, so relative `source`s resolve,
  with an empty `pretrain_gpt.py` at its root, as in a checkout);
  the launch is the recorded call whose entry is `pretrain_gpt.py`.
- acceptance: Megatron-LM's own parse_args, validate_args and get_optimizer_param_scheduler at the
  option table the conversion chose (the first of `schema_choice.BUNDLED_ORDER` whose table parses the
  argv, as `batch` chooses; rocm_dev when none does), run by `tests/megatron_validate_probe.py` on that
  commit's exported tree with missing packages stubbed, at the world size of the launcher's
  `--nproc_per_node` x `--nnodes` (8 when the launcher names none), with pretrain_gpt.py's
  args_defaults. Rejections that depend only on the cluster the run starts on (world size not
  divisible by the model-parallel size) count as accepted.
The bundled tables' commits must be in the mirrors: rocm_dev's in ROCmSoftwarePlatform+Megatron-LM
(or ROCm+Megatron-LM), the NVIDIA pins in NVIDIA+Megatron-LM.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(HERE), str(REPO / "tests"), str(REPO)]

from helpers_shell import run_bash  # noqa: E402
from run import materialise, read_manifest  # noqa: E402
from test_megatron_required_upstream import NOT_MODELLED, _upstream  # noqa: E402

from migrate.diagnostics import MigrateError  # noqa: E402
from migrate.megatron import load_schema, parse_argv  # noqa: E402
from migrate.megatron.schema_choice import BUNDLED_ORDER, DEFAULT_LEGACY_SCHEMA  # noqa: E402

ENTRY = "pretrain_gpt.py"
MIRRORS_OF = {"rocm_dev": ("ROCmSoftwarePlatform+Megatron-LM", "ROCm+Megatron-LM")}
DEFAULT_MIRRORS = ("NVIDIA+Megatron-LM",)


def bash_argv(script: Path, repo_root: Path, sandbox: Path) -> tuple[list[str], int] | None:
    """(argv after pretrain_gpt.py, world size) of the script's launch under real bash, or None."""
    work = sandbox / "w"
    shutil.copytree(repo_root, work)
    (work / ENTRY).touch()  # run from a checkout's root, as its scripts expect (`[ -f pretrain_gpt.py ]`)
    calls = run_bash(str(work / script.relative_to(repo_root)), work, timeout=60)
    for call in calls:
        words = call.words
        entry = next((i for i, w in enumerate(words) if os.path.basename(w) == ENTRY), None)
        if entry is not None:
            return words[entry + 1:], _world_size(words[:entry])
    return None


def _world_size(launcher: list[str]) -> int:
    def value(*names: str) -> int | None:
        for i, word in enumerate(launcher):
            for name in names:
                if word == name and i + 1 < len(launcher) and launcher[i + 1].isdigit():
                    return int(launcher[i + 1])
                if word.startswith(name + "=") and word.split("=", 1)[1].isdigit():
                    return int(word.split("=", 1)[1])
        return None

    per_node = value("--nproc_per_node", "--nproc-per-node", "--num_gpus", "--gpus-per-node") or 8
    return per_node * (value("--nnodes", "--num_nodes") or 1)


def chosen_schema(argv: list[str]) -> str:
    """The table `batch` reads the script with: the first bundled one that parses it."""
    for name in BUNDLED_ORDER:
        try:
            parse_argv(load_schema(name), argv)
            return name
        except MigrateError:
            continue
    return DEFAULT_LEGACY_SCHEMA


def export_tree(schema: str, mirrors: Path, dest: Path) -> Path | None:
    commit = load_schema(schema).source.split("@", 1)[1].split()[0]
    for mirror in MIRRORS_OF.get(schema, DEFAULT_MIRRORS):
        git_dir = mirrors / mirror / "repo"
        archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", commit, "megatron"],
                                 capture_output=True, check=False)
        if archive.returncode == 0:
            dest.mkdir(parents=True)
            subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
            return dest
    return None


def judge(launches: dict[str, tuple[list[str], int]], mirrors: Path, scratch: Path) -> dict[str, tuple[str, str]]:
    """script -> (schema, Megatron's verdict) for every launch."""
    by_schema: dict[str, list[str]] = collections.defaultdict(list)
    for script, (argv, _) in launches.items():
        by_schema[chosen_schema(argv)].append(script)
    out: dict[str, tuple[str, str]] = {}
    for schema, scripts in sorted(by_schema.items()):
        root = export_tree(schema, mirrors, scratch / f"megatron-{schema}")
        if root is None:
            out.update({s: (schema, "unjudged: commit not in the mirrors") for s in scripts})
            continue
        work = scratch / f"work-{schema}"
        work.mkdir()
        verdicts = _upstream(root, work, [launches[s][0] for s in scripts], [launches[s][1] for s in scripts],
                             nvidia=schema != "rocm_dev")
        out.update({s: (schema, v) for s, v in zip(scripts, verdicts)})
    return out


def accepted(verdict: str) -> bool:
    return verdict == "ok" or any(text in verdict for text in NOT_MODELLED)


def outcome(report: dict, script: str) -> str:
    """'converted' or the refusal category of the script's default variant."""
    row = next(s for s in report["scripts"] if s["script"] == script)
    default = next((v for v in row["variants"] if v.get("is_default")), None) or row
    return "converted" if str(default["status"]).startswith("converted") else (default.get("category") or "other")


def measure(mirrors: Path, reports: Path, targets: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="accepted-") as tmp:
        scratch = Path(tmp)
        src = scratch / "scripts"
        materialise(read_manifest(), mirrors, src)
        launches: dict[str, tuple[list[str], int]] = {}
        for script in sorted(src.rglob("*")):
            if script.is_file() and ENTRY in script.read_text(errors="replace"):
                rel = script.relative_to(src)
                with tempfile.TemporaryDirectory(dir=scratch) as sandbox:
                    got = bash_argv(script, src / rel.parts[0], Path(sandbox))
                if got is not None:
                    launches[str(rel)] = got
        verdicts = judge(launches, mirrors, scratch)
    result: dict = {"launches": len(launches), "accepted": sorted(s for s, (_, v) in verdicts.items() if accepted(v)),
                    "rejected_by_megatron": {s: v for s, (_, v) in verdicts.items() if not accepted(v)},
                    "schemas": {s: schema for s, (schema, _) in verdicts.items()}, "targets": {}}
    for target in targets:
        report = json.loads((reports / f"batch-{target}" / "batch_report.json").read_text())
        result["targets"][target] = {s: outcome(report, s) for s in result["accepted"]}
        # the other way round, the worst case: a run Megatron-LM would not start, converted
        result.setdefault("converted_though_rejected", {})[target] = sorted(
            s for s in result["rejected_by_megatron"] if outcome(report, s) == "converted")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", required=True, type=Path)
    parser.add_argument("--reports", required=True, type=Path, help="run.py's --out folder (scripts alone)")
    parser.add_argument("--target", action="append", help="targets (default: primus-0.1 and primus-26.5)")
    parser.add_argument("--json", type=Path, help="write the per-script verdicts and outcomes here")
    args = parser.parse_args()
    targets = args.target or ["primus-0.1", "primus-26.5"]
    result = measure(args.mirrors, args.reports, targets)
    total = len(result["accepted"])
    print(f"{result['launches']} pretrain_gpt.py launches under bash; Megatron-LM accepts {total}")
    for target in targets:
        outcomes = collections.Counter(result["targets"][target].values())
        print(f"  {target}: {outcomes.pop('converted', 0)} of {total} convert; refused: "
              + (", ".join(f"{c} {n}" for c, n in outcomes.most_common()) or "none")
              + f"; converted although Megatron-LM rejects them: {len(result['converted_though_rejected'][target])}")
    rejected = collections.Counter(v.split(":")[0] + (": argparse" if "argparse" in v else ": validate/scheduler")
                                   for v in result["rejected_by_megatron"].values())
    print("  rejected by Megatron-LM: " + ", ".join(f"{n} {c.split(': ', 1)[1]}" for c, n in rejected.most_common()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
