"""Where each converted variant lands in the one output tree.

Model YAMLs are content-addressed: the file name is the inherited preset's
name (or the emitter's own name) plus a short hash of the content, so the same
content always gets the same path, whichever script or worker produced it,
and two scripts with the same model share one file. Because the name depends
only on the content, each worker can lay out and re-check its own variants
exactly as they will sit in the final tree.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Any

import yaml

from migrate.diagnostics import MigrateError

MODELS_DIR = "models/megatron"
EXP_DIR = "exp"
HASH_CHARS = 10
_MODEL_LINE = re.compile(r"^(?P<indent>\s+)model:(?P<space>\s*)(?P<value>[^#\n]*?)(?P<tail>\s*(?:#.*)?)$")
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


def script_stem(relpath: str) -> str:
    """`llama/train_llama3.sh` -> `llama/train_llama3` (keeps folders, drops the suffix)."""
    head, name = posixpath.split(relpath)
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return posixpath.join(head, stem) if head else stem


def experiment_path(script_relpath: str, label: str) -> str:
    return f"{EXP_DIR}/{script_stem(script_relpath)}/{label}.yaml"


def experiment_name(script_relpath: str, label: str) -> str:
    """The exp_name Primus uses for its output folder: readable, unique per script and variant."""
    stem = script_stem(script_relpath).replace("/", "-")
    return _SAFE.sub("_", f"{stem}-{label.replace('=', '-').replace(',', '_')}")


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:HASH_CHARS]


def model_file_name(content: str, fallback_stem: str, inherit_keys: tuple[str, ...] = ("extends", "bases")) -> str:
    """`<preset>-<hash>.yaml`: the preset the model inherits from names it for people."""
    stem = fallback_stem
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        for key in inherit_keys:
            parents = data.get(key)
            if isinstance(parents, str):
                parents = [parents]
            if isinstance(parents, list) and parents and isinstance(parents[-1], str):
                stem = posixpath.basename(parents[-1]).rsplit(".", 1)[0] or stem
                break
    stem = _SAFE.sub("_", stem) or "model"
    return f"{MODELS_DIR}/{stem}-{content_hash(content)}.yaml"


def model_reference(experiment_relpath: str, model_relpath: str) -> str:
    """The `model:` value that points from an experiment file to a model file (relative path)."""
    return posixpath.relpath(model_relpath, posixpath.dirname(experiment_relpath) or ".")


def _pre_trainer_model(data: Any) -> Any:
    try:
        return data["modules"]["pre_trainer"]["model"]
    except (KeyError, TypeError):
        return None


def rewrite_model_reference(experiment_yaml: str, new_reference: str) -> str:
    """Point `modules.pre_trainer.model` at `new_reference`, keeping every other byte.

    A line edit (not a YAML round trip) so that the emitter's comments and layout
    survive; the result is parsed again to prove the right key changed.
    """
    old = _pre_trainer_model(yaml.safe_load(experiment_yaml))
    if not isinstance(old, str):
        raise MigrateError("experiment YAML has no modules.pre_trainer.model to point at the shared model file")
    lines = experiment_yaml.splitlines(keepends=True)
    hits = []
    for i, line in enumerate(lines):
        match = _MODEL_LINE.match(line.rstrip("\n"))
        if match and _unquote(match.group("value")) == old:
            hits.append((i, match))
    for i, match in hits:
        end = "\n" if lines[i].endswith("\n") else ""
        lines[i] = f"{match.group('indent')}model:{match.group('space') or ' '}{new_reference}{match.group('tail')}{end}"
        result = "".join(lines)
        if _pre_trainer_model(yaml.safe_load(result)) == new_reference:
            return result
        lines = experiment_yaml.splitlines(keepends=True)
    raise MigrateError("could not rewrite modules.pre_trainer.model in the experiment YAML")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text
