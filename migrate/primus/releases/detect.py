"""Which Primus release a checkout is: its git tag, else the code markers of each release's rules.

`primus/__init__.py`'s `__version__` cannot tell: it is absent at v0.1.0-rc1 and v0.2.0, reads
"0.2.0" from v0.3.0 to v26.5.0 and "26.4" at v26.5.1. So a checkout is asked, in order:
1. git: the tag HEAD is at (`git describe --tags --exact-match`);
2. markers: the lines of Primus's own code that carry the rules our releases differ by (each
   `_MARKERS` row names the file and text); tags whose rules are the same give the same answer,
   reported as the newest of them;
3. `__version__ = "26.4"` (only v26.5.1 says so).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_YAML_UTILS = "primus/core/utils/yaml_utils.py"
_TRAINER = "primus/modules/trainer/megatron/trainer.py"
_TRAIN_CMD = "primus/cli/subcommands/train.py"
_PATCHES = "primus/backends/megatron/patches/args/"


@dataclass(frozen=True)
class Detected:
    tag: str            # the release whose rules apply
    how: str            # what decided it, for the user
    same_rules: tuple[str, ...] = ()   # other tags with the very same rules (markers cannot tell them apart)


def _text(root: Path, rel: str) -> str | None:
    path = root / rel
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    except OSError:
        return None


def _has(root: Path, rel: str, needle: str) -> bool:
    text = _text(root, rel)
    return text is not None and needle in text


def git_tag(root: Path) -> str | None:
    """The known release tag HEAD sits on, when `root` is the top of a git checkout."""
    from migrate.primus.releases import RELEASES

    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=20)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root.resolve():
            return None  # not a checkout of its own (a folder inside some other repository)
        out = subprocess.run(["git", "-C", str(root), "tag", "--points-at", "HEAD"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    tags = [t.strip() for t in out.stdout.splitlines() if t.strip() in RELEASES]
    return tags[-1] if tags else None


def _bases_release(root: Path) -> Detected | None:
    if not _has(root, _YAML_UTILS, '"bases"'):
        return None
    if _has(root, _YAML_UTILS, "if replaced == config:"):  # typing only substituted strings (v0.4.0+)
        if _has(root, _TRAINER, "args.moe_layer_freq = eval(args.moe_layer_freq)"):
            return Detected("v0.5.0", "markers: yaml_utils.py types substituted strings only; the trainer evals "
                                      "moe_layer_freq")
        if _has(root, _TRAINER, "# args.moe_layer_freq = moe_freq_type"):
            return Detected("v0.4.0", "markers: yaml_utils.py types substituted strings only; the trainer leaves "
                                      "moe_layer_freq as written")
        return None
    if _has(root, _TRAINER, "args.moe_layer_freq = moe_freq_type(args.moe_layer_freq)"):
        return Detected("v0.3.0", "markers: yaml_utils.py types every string; the trainer applies moe_freq_type",
                        ("v0.1.0-rc1", "v0.2.0"))
    return None


def _extends_release(root: Path) -> Detected | None:
    if not _has(root, "primus/backends/megatron/argument_builder.py", "class MegatronArgBuilder"):
        return None
    train = _text(root, _TRAIN_CMD) or ""
    if 'getenv("PRIMUS_TRAIN_RUNTIME", "legacy")' in train or 'runtime_entry = "legacy"' in train:
        if _has(root, _YAML_UTILS, "# if not has_key_in_namespace(original_ns, key)"):
            return Detected("v0.7.0", "markers: Megatron runs the legacy trainer by default; overrides may add keys")
        if _has(root, _TRAINER, "merged_args.update(primus_args)"):
            return Detected("v0.6.0", "markers: Megatron runs the legacy trainer by default; overrides must exist")
        return None
    if _has(root, "primus/core/config/yaml_loader.py", "_BOOL_MAP"):
        return Detected("v26.5.1", "markers: the core runtime; yaml_loader.py types true/false")
    if (root / _PATCHES / "hsdp_args_patches.py").is_file():
        return Detected("v26.5.0", "markers: the core runtime; the HSDP args patch")
    if _has(root, _PATCHES + "mock_data_patches.py", "NullTokenizer"):
        return Detected("v26.4.0", "markers: the core runtime; mock data forces the NullTokenizer",
                        ("v26.3", "v26.3.1"))
    if (root / _PATCHES / "mock_data_patches.py").is_file():
        return Detected("v26.2.1", "markers: the core runtime; mock data keeps the tokenizer", ("v26.2",))
    return None


def _version_release(root: Path) -> Detected | None:
    text = _text(root, "primus/__init__.py") or ""
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", text)
    if match and match.group(1) == "26.4":
        return Detected("v26.5.1", 'primus/__init__.py says __version__ = "26.4" (only v26.5.1 does)')
    return None


def detect_release(root: str | Path, inherit_key: str | None) -> Detected | None:
    """The release of the checkout at `root` (`inherit_key`: what its pre_trainer preset uses)."""
    root = Path(root)
    tag = git_tag(root)
    if tag is not None:
        return Detected(tag, f"git: HEAD is tagged {tag}")
    if inherit_key == "bases":
        found = _bases_release(root)
    elif inherit_key == "extends":
        found = _extends_release(root)
    else:
        found = None
    if found is None and inherit_key != "bases":
        found = _version_release(root)
    return found
