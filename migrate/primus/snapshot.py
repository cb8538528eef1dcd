"""Build a target (`configs/<target>/`) from a Primus checkout: our snapshot of one release.

A target folder holds the release's preset values and nothing of its text:

  models/megatron/*.yaml, models/torchtitan/*.yaml,       each preset re-written as its values
  modules/*.yaml, modules/megatron/*.yaml,                 (migrate/primus/values_yaml.py), every
  modules/torchtitan/*.yaml                                key on its upstream line
  preset_index.json                                        migrate/primus/preset_index.py
  target.json                                              which release, which commits (below)

target.json: {"target", "release", "primus_commit", "megatron_pin", "megatron_schema",
"torchtitan_pin", "generated_by"}; commits are 40 hex digits (null where the checkout cannot tell),
`megatron_schema` is the bundled Megatron argument table of that pin; for a pin with none bundled,
`megatron_schema.json` (a file in the target folder, relative to it) when the caller gave a checkout
of that Megatron-LM commit to extract it from (`--megatron-path`), else null.
The facts come from git where the checkout is a git working tree (HEAD, its tag, the
third_party/Megatron-LM and third_party/torchtitan gitlinks), or from the caller
(`--release`, `--megatron-pin`, ...), which wins.

Regenerate every bundled target from a Primus git repository (bare works):

    python -m migrate.primus.snapshot --primus-git PRIMUS_GIT [--all | --tag TAG ...] [--check]

(--all, the default: the release named in every configs/*/target.json; --check compares instead of
writing and exits 1 when a target differs).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from migrate.diagnostics import MigrateError, Origin
from migrate.output import OutputTree, scratch_folder
from migrate.primus.values_yaml import values_text

SNAPSHOT_GLOBS = ("models/megatron/*.yaml", "models/torchtitan/*.yaml", "modules/*.yaml",
                  "modules/megatron/*.yaml", "modules/torchtitan/*.yaml")
TARGET_FILE = "target.json"
SCHEMA_FILE = "megatron_schema.json"  # a target's own Megatron-LM table, for a pin with none bundled
_SHA = re.compile(r"[0-9a-f]{40}")
_TAG = re.compile(r"v\d+(\.\d+)+(-?rc\d+)?")
CONFIGS_ROOT = Path(__file__).resolve().parents[2] / "configs"  # the bundled targets, in a source checkout


def target_name(release: str, configs_root: Path | None = None) -> str:
    """The name of the bundled target of `release` (its configs/<target>/target.json: the first two
    targets keep their names, primus-0.1 and primus-26.5), else `primus-<release without v>`."""
    for name, tag in bundled_releases(configs_root).items():
        if tag == release:
            return name
    return "primus-" + release.removeprefix("v")


def bundled_releases(configs_root: Path | None = None) -> dict[str, str]:
    """target name -> release, from every configs/<target>/target.json (default: the installed ones)."""
    from migrate.primus.presets import presets_root

    found = {}
    for path in sorted((configs_root or presets_root()).glob(f"*/{TARGET_FILE}")):
        record = json.loads(path.read_text())
        found[record["target"]] = record["release"]
    return found


@dataclass(frozen=True)
class Facts:
    """What a target records about the checkout it was made from."""

    release: str
    primus_commit: str | None
    megatron_pin: str
    torchtitan_pin: str | None = None


def configs_of(root: Path) -> Path:
    """`root/primus/configs`, or a clean refusal for a folder that is not a Primus checkout."""
    configs = root / "primus" / "configs"
    if not root.is_dir():
        raise MigrateError(f"{root} is not a folder", hint="pass the root of a Primus checkout")
    if not ((configs / "modules" / "megatron").is_dir() and (configs / "models" / "megatron").is_dir()):
        raise MigrateError(f"{root} is not a Primus checkout (no primus/configs/modules/megatron and "
                           "primus/configs/models/megatron)", hint="pass the root of a Primus checkout")
    return configs


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _is_git_root(root: Path) -> bool:
    top = _git(root, "rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == root.resolve()


def _gitlink(root: Path, path: str) -> str | None:
    text = _git(root, "rev-parse", f"HEAD:{path}")
    return text if text and _SHA.fullmatch(text) else None


def git_facts(root: Path) -> dict[str, str | None]:
    """release (a release tag at HEAD), primus_commit, megatron_pin, torchtitan_pin; None each when
    `root` is not the top of a git working tree or git cannot tell."""
    if not _is_git_root(root):
        return {"release": None, "primus_commit": None, "megatron_pin": None, "torchtitan_pin": None}
    tags = sorted(t for t in (_git(root, "tag", "--points-at", "HEAD") or "").split() if _TAG.fullmatch(t))
    return {"release": tags[-1] if tags else None, "primus_commit": _git(root, "rev-parse", "HEAD"),
            "megatron_pin": _gitlink(root, "third_party/Megatron-LM"),
            "torchtitan_pin": _gitlink(root, "third_party/torchtitan")}


def _commit_or_none(value: str | None, what: str) -> str | None:
    if value is not None and not _SHA.fullmatch(value):
        raise MigrateError(f"{what} must be a full commit id (40 hex digits), got {value!r}")
    return value


def checkout_facts(root: Path, release: str | None = None, megatron_pin: str | None = None,
                   primus_commit: str | None = None, torchtitan_pin: str | None = None) -> Facts:
    """The facts of `root`: what the caller says, else what git says; refuses without a release or a pin."""
    found = git_facts(root)
    release = release or found["release"]
    pin = _commit_or_none(megatron_pin, "--megatron-pin") or found["megatron_pin"]
    if not release:
        raise MigrateError(f"cannot tell which Primus release {root} is (no release tag at its git HEAD)",
                           hint="pass --release TAG, e.g. --release v0.2.0")
    if not pin:
        raise MigrateError(f"cannot tell which Megatron-LM commit {root} pins (not a git checkout with a "
                           "third_party/Megatron-LM gitlink)",
                           hint="pass --megatron-pin SHA (`git ls-tree TAG third_party/Megatron-LM` in a Primus clone)")
    return Facts(release, _commit_or_none(primus_commit, "--primus-commit") or found["primus_commit"], pin,
                 _commit_or_none(torchtitan_pin, "--torchtitan-pin") or found["torchtitan_pin"])


def preset_files(configs: Path) -> dict[str, str]:
    """Relative path -> values-only text, for every preset the snapshot keeps."""
    from migrate import limits

    out: dict[str, str] = {}
    for pattern in SNAPSHOT_GLOBS:
        for path in sorted(configs.glob(pattern)):
            if path.is_dir():
                continue
            rel = path.relative_to(configs).as_posix()
            # bounded, and never a blocking read of a pipe or device named like a preset
            raw = limits.read_regular_file(str(path), "config_bytes", rel, "preset")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise MigrateError("a preset that is not UTF-8 text", origin=Origin(rel)) from None
            out[rel] = values_text(text, rel)
    return out


def schema_of_pin(pin: str) -> str | None:
    """The bundled Megatron schema of `pin` (its name is the pin's first 8 hex digits), if any."""
    from migrate.megatron.schema import bundled_schema_names

    return next((name for name in bundled_schema_names() if pin.startswith(name)), None)


def target_record(name: str, facts: Facts, generated_by: str, own_schema: bool = False) -> dict[str, str | None]:
    schema = schema_of_pin(facts.megatron_pin) or (SCHEMA_FILE if own_schema else None)
    return {"target": name, "release": facts.release, "primus_commit": facts.primus_commit,
            "megatron_pin": facts.megatron_pin, "megatron_schema": schema,
            "torchtitan_pin": facts.torchtitan_pin, "generated_by": generated_by}


def pinned_schema_text(megatron_path: Path, pin: str) -> str:
    """The option table of a Megatron-LM checkout of `pin`, extracted with our libcst reader; a git
    checkout at another commit is refused (its table would not be the pin's)."""
    from migrate.megatron.bundle import schema_to_text
    from migrate.megatron.extract import extract_schema

    head = _git(megatron_path, "rev-parse", "HEAD") if _is_git_root(megatron_path) else None
    if head is not None and head != pin:
        raise MigrateError(f"{megatron_path} is at Megatron-LM {head[:8]}, but the release pins {pin[:8]}",
                           hint=f"check out {pin} there (git -C {megatron_path} checkout {pin[:12]})")
    schema = extract_schema(megatron_path, name=pin[:8], source=f"Megatron-LM@{pin}")
    return schema_to_text(schema.to_json())


def _index_text(name: str, files: dict[str, str], release: str | None = None) -> str:
    """preset_index.json for these files, read with `release`'s rules (a release the registry does
    not know: the rules a checkout laid out like them gets)."""
    from migrate.primus import preset_index
    from migrate.primus.profiles import get_profile
    from migrate.primus.releases import RELEASES

    with scratch_folder() as folder:
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text, encoding="utf-8")
        profile = get_profile(release if release in RELEASES else None, primus_path=str(folder))
        profile.name = name
        return preset_index.render(preset_index.build_index(profile))


def build_target(root: Path, name: str, facts: Facts, generated_by: str,
                 megatron_path: Path | None = None) -> dict[str, str]:
    """Every file of the target folder (relative path -> text); writes nothing. With `megatron_path`
    and a pin that has no bundled table, the table extracted from that checkout comes along."""
    files = preset_files(configs_of(root))
    own_schema = megatron_path is not None and schema_of_pin(facts.megatron_pin) is None
    record = target_record(name, facts, generated_by, own_schema)
    files["preset_index.json"] = _index_text(name, files, facts.release)
    if own_schema:
        assert megatron_path is not None
        files[SCHEMA_FILE] = pinned_schema_text(megatron_path, facts.megatron_pin)
    files[TARGET_FILE] = json.dumps(record, indent=2) + "\n"
    return files


def stale_files(out: Path, files: dict[str, str]) -> list[str]:
    """Snapshot files of an existing target folder (one with a target.json) that the new snapshot no
    longer has: only the presets and the files a target holds, never anything else in the folder."""
    if not (out / TARGET_FILE).is_file():
        return []
    found = {p.relative_to(out).as_posix() for pattern in SNAPSHOT_GLOBS for p in out.glob(pattern) if p.is_file()}
    found |= {name for name in ("preset_index.json", SCHEMA_FILE) if (out / name).is_file()}
    return sorted(found - set(files))


def write_target(out: Path, files: dict[str, str], force: bool) -> list[Path]:
    """All or nothing (OutputTree); with `force`, files the new snapshot lacks are removed after."""
    tree = OutputTree(out, force=force)
    for rel, text in files.items():
        tree.add(rel, text)
    stale = stale_files(out, files) if force else []
    written = tree.commit()
    for rel in stale:
        (out / rel).unlink()
    return written


# --------------------------------------------------------------------------- every bundled target


def _repo_git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True).stdout


def tag_facts(repo: Path, tag: str) -> Facts:
    """The facts of `tag` in the Primus git repository `repo` (its commit, its gitlinks)."""
    ref = f"refs/tags/{tag}"
    links = {}
    for line in _repo_git(repo, "ls-tree", ref, "third_party/").decode().splitlines():
        meta, path = line.split("\t", 1)
        if meta.split()[1] == "commit":
            links[path] = meta.split()[2]
    commit = _repo_git(repo, "rev-parse", f"{ref}^{{commit}}").decode().strip()
    if "third_party/Megatron-LM" not in links:
        raise MigrateError(f"{tag} has no third_party/Megatron-LM gitlink")
    return Facts(tag, commit, links["third_party/Megatron-LM"], links.get("third_party/torchtitan"))


def export_tag(repo: Path, tag: str, dest: Path) -> None:
    """`primus/configs` of `tag` unpacked under `dest` (a checkout as far as the generator reads one)."""
    archive = subprocess.run(["git", "--git-dir", str(repo), "archive", "--format=tar", f"refs/tags/{tag}",
                              "primus/configs"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def generate_from_tag(repo: Path, tag: str, configs_root: Path = CONFIGS_ROOT) -> dict[str, str]:
    """The files of the bundled target of `tag`, as `primus-migrate target` makes them."""
    name = target_name(tag, configs_root)
    with scratch_folder() as checkout:
        export_tag(repo, tag, checkout)
        return build_target(checkout, name, tag_facts(repo, tag), generated_by(name))


def generated_by(name: str) -> str:
    return f"primus-migrate target --primus-path <Primus checkout> -o configs/{name}"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--primus-git", type=Path, required=True, help="git dir of AMD-AGI/Primus (bare works)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--tag", action="append", help="a release tag (repeatable)")
    which.add_argument("--all", action="store_true",
                       help="every bundled target: the release of each configs/*/target.json (the default)")
    parser.add_argument("--check", action="store_true", help="compare with configs/ instead of writing (exit 1)")
    args = parser.parse_args(argv)
    tags = args.tag or list(bundled_releases(CONFIGS_ROOT).values())
    differ = []
    for tag in tags:
        name = target_name(tag, CONFIGS_ROOT)
        files = generate_from_tag(args.primus_git, tag)
        out = CONFIGS_ROOT / name
        if args.check:
            same = not stale_files(out, files) and all(
                (out / rel).is_file() and (out / rel).read_text() == text for rel, text in files.items())
            differ += [] if same else [name]
            print(f"{name} ({tag}): {'same' if same else 'DIFFERS'}")
            continue
        write_target(out, files, force=True)
        print(f"{name} ({tag}): {len(files)} files")
    return 1 if differ else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
