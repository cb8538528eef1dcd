"""A compact index of each bundled release's model presets, for choosing the closest preset.

Choosing a preset compares the run's architecture with every model preset of the release (68
files at 26.5); parsing all of them with PyYAML was half of a cold `convert`. The index keeps, per
preset, only what that comparison reads (the architecture keys and the model family, after the
release's own inheritance and interpolation with no variables set), next to the presets:
`configs/<target>/preset_index.json`. It is used only while the SHA-256 of the snapshot's YAML
files still matches the one it was built from; otherwise the presets are read as before. Regenerate with

    python -m migrate.primus.preset_index

(tests/test_preset_index.py checks the committed index against the presets).
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path
from typing import Any

from migrate.diagnostics import MigrateError
from migrate.primus.model_keys import ARCHITECTURE_KEYS
from migrate.primus.profiles import Profile

INDEX_NAME = "preset_index.json"
FAMILY_KEYS = frozenset({"model_type", "is_hybrid_model"})  # read by emitter.model_family
INDEXED_KEYS = ARCHITECTURE_KEYS | FAMILY_KEYS
FORMAT = 1


def snapshot_files(profile: Profile) -> list[Path]:
    """Every YAML file of the release's preset snapshot (models and modules)."""
    return sorted(Path(profile.configs_dir).rglob("*.yaml"))


def snapshot_digest(files: list[tuple[str, bytes]]) -> str:
    """CRC-32 over every preset file's relative name and bytes, with their count and total size: it
    tells an edited snapshot from the indexed one (not a security check; `zlib` costs no start-up,
    `hashlib` 25 ms)."""
    crc, size = 0, 0
    for name, data in files:
        crc = zlib.crc32(data, zlib.crc32(name.encode() + b"\0", crc))
        size += len(data)
    return f"crc32:{crc:08x}:files:{len(files)}:bytes:{size}"


def _read_snapshot(profile: Profile) -> list[tuple[str, bytes]]:
    root = Path(profile.configs_dir)
    return [(path.relative_to(root).as_posix(), path.read_bytes()) for path in snapshot_files(profile)]


def build_index(profile: Profile) -> dict[str, Any]:
    """{format, digest, presets: name -> indexed values, or null for a preset the release cannot load}."""
    presets: dict[str, Any] = {}
    for name in sorted(profile.model_presets()):
        try:
            values = dict(profile.load_model_preset(name))
        except MigrateError:
            presets[name] = None
            continue
        kept = {k: values[k] for k in sorted(values) if k in INDEXED_KEYS}
        if json.loads(json.dumps(kept)) != kept:
            raise ValueError(f"{profile.name}: preset {name} has values JSON cannot keep exactly: {kept}")
        presets[name] = kept
    return {"format": FORMAT, "digest": snapshot_digest(_read_snapshot(profile)), "presets": presets}


def load_index(profile: Profile) -> dict[str, dict[str, Any] | None] | None:
    """The presets' indexed values, or None when there is no index or the snapshot changed since.

    With a matching index the snapshot is exactly the one tests/test_preset_index.py checks
    libyaml against (same values, types, key order and lines as PyYAML's Python parser), so its
    texts are handed to `yamlio.mark_emitted`, the list of texts libyaml may parse: resolving the
    shortlisted presets then costs a fraction of the pure-Python parse."""
    path = Path(profile.configs_dir) / INDEX_NAME
    try:
        data = json.loads(path.read_text())
        files = _read_snapshot(profile)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("digest") != snapshot_digest(files):
        return None
    from migrate.primus.yamlio import mark_emitted

    for _, raw in files:
        try:
            mark_emitted(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return data.get("presets")


def render(index: dict[str, Any]) -> str:
    """Compact JSON, one preset a line (a preset change is a one-line diff)."""
    def dump(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    rows = ",\n".join(f"{dump(name)}:{dump(values)}" for name, values in sorted(index["presets"].items()))
    return f'{{"format":{index["format"]},"digest":{dump(index["digest"])},"presets":{{\n{rows}\n}}}}\n'



def main(argv: list[str]) -> int:
    """Rewrite every bundled target's index (or check them with --check: exit 1 when stale)."""
    from migrate.primus.profiles import get_profile, targets

    check = "--check" in argv
    stale = []
    for target in targets():
        profile = get_profile(target)
        path = Path(profile.configs_dir) / INDEX_NAME
        text = render(build_index(profile))
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(str(path))
        if not check:
            path.write_text(text)
    verb = "stale" if check else "written"
    print(f"{verb}: {', '.join(stale)}" if stale else "preset indexes up to date")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
