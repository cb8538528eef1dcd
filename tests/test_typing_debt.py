"""Parameters typed `Any` and `getattr(obj, "name", default)` calls may only become fewer.

Both hide a real type: a parameter that is a `LaunchPlan` or a `Conversion` should say so, and
`getattr(plan, "knobs", [])` on one of our own objects reads an attribute it always has (usually
to please a test fake that lacks it: give the fake the attribute instead). Some are right (a
Megatron value of any type, a torch module, an optional `os` constant); CEILING records how many
each folder has now. Growing past it fails; after removing some, lower the number.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# folder -> (parameters typed Any, getattr calls with a default), measured when this test was written
CEILING: dict[str, tuple[int, int]] = {
    "migrate": (10, 1),  # values (same_value, tokenizer sizes); os.O_CLOEXEC
    "migrate/batch": (7, 1),
    "migrate/cli": (2, 1),  # a printed value of any type; argparse: a namespace without func
    "migrate/conversion": (3, 0),  # Megatron values of any type
    "migrate/entries": (0, 0),
    "migrate/megatron": (19, 0),  # argparse values; libcst nodes in extract.py
    "migrate/parity": (1, 0),
    "migrate/primus": (27, 5),  # YAML values (values_yaml.py); ruamel/PyYAML nodes with or without `.lines`
    "migrate/primus/emit": (25, 1),  # YAML/Megatron values; a test resolver without session()
    "migrate/primus/releases": (0, 0),
    "migrate/shell": (0, 3),  # Evaluator's cmd_<Type> dispatch; os.O_CLOEXEC
    "migrate/torchtitan": (10, 12),  # the argparse namespaces of several commands
    "migrate/verify": (14, 3),  # child.py handles the checkout's own modules and objects
    "primus_runtime": (34, 19),  # torch and megatron-core objects with attributes Megatron adds
}


def _is_any(annotation: ast.expr | None) -> bool:
    """`Any`, `Any | None`, `"Any"`."""
    if isinstance(annotation, ast.Name):
        return annotation.id == "Any"
    if isinstance(annotation, ast.Constant):
        return annotation.value == "Any"
    if isinstance(annotation, ast.BinOp):
        return _is_any(annotation.left) or _is_any(annotation.right)
    return False


def count(source: str) -> tuple[int, int]:
    """(parameters typed Any, three-argument getattr calls) in one module's source."""
    any_params = getattr_calls = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            any_params += sum(_is_any(p.annotation) for p in params)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) == 3):
            getattr_calls += 1
    return any_params, getattr_calls


def measure() -> dict[str, tuple[int, int]]:
    found: Counter[tuple[str, int]] = Counter()
    for package in ("migrate", "primus_runtime"):
        for path in (ROOT / package).rglob("*.py"):
            folder = path.parent.relative_to(ROOT).as_posix()
            any_params, getattr_calls = count(path.read_text(encoding="utf-8"))
            found[folder, 0] += any_params
            found[folder, 1] += getattr_calls
    return {folder: (found[folder, 0], found[folder, 1]) for folder, _ in found}


def test_no_folder_gains_any_parameters_or_getattr_defaults():
    grown = {folder: (now, CEILING.get(folder, (0, 0))) for folder, now in measure().items()
             if any(n > c for n, c in zip(now, CEILING.get(folder, (0, 0))))}
    assert not grown, ("more parameters typed Any or getattr(obj, name, default) calls than before, "
                       f"(now, ceiling) per folder: {grown}; use the real type (see the module docstring)")


def test_the_count_sees_each_form():
    # counted: a bare Any, Any in a union, a quoted Any, on positional and keyword-only parameters;
    # getattr with a default (three arguments). Not counted: Any elsewhere, a two-argument getattr.
    source = ("def f(a: Any, b: Any | None, c: 'Any', *, d: Any = 1, e: int = 0) -> Any:\n"
              "    x: Any = getattr(a, 'k', None)\n"
              "    return getattr(a, 'k')\n")
    assert count(source) == (4, 1)
