"""Merge every script's files into one output tree, each shared model file once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from migrate.batch.results import ScriptResult


@dataclass
class Tree:
    files: dict[str, str] = field(default_factory=dict)        # relpath -> content, sorted on output
    model_users: dict[str, list[str]] = field(default_factory=dict)  # model path -> experiment paths


def assemble(results: Sequence[ScriptResult]) -> Tree:
    """Union of the scripts' files. Model files are content-addressed, so a path seen twice
    must carry the same bytes; anything else is a bug, and the colliding scripts say so."""
    tree = Tree()
    owner: dict[str, str] = {}
    for result in sorted(results, key=lambda r: r.script):
        clash = [p for p, text in result.files.items() if p in tree.files and tree.files[p] != text]
        if clash:
            result.status = "rejected"
            result.reason = (f"internal error: {clash[0]} would get different content than from "
                             f"{owner[clash[0]]}")
            for row in result.variants:
                row.status, row.reason, row.experiment, row.model = "rejected", result.reason, None, None
            result.files = {}
            continue
        for path, text in result.files.items():
            tree.files.setdefault(path, text)
            owner.setdefault(path, result.script)
        for row in result.variants:
            if row.model and row.experiment:
                tree.model_users.setdefault(row.model, []).append(row.experiment)
    tree.files = dict(sorted(tree.files.items()))
    tree.model_users = {k: sorted(set(v)) for k, v in sorted(tree.model_users.items())}
    return tree
