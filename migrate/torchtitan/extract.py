"""Read torchtitan's JobConfig (sections, fields, types, defaults) from a checkout, without importing it.

torchtitan declares its whole configuration as nested `@dataclass`es: `JobConfig` has one field per
section (`training: Training = field(default_factory=Training)`), and a section may nest further
(`training.dataloader`, `quantize.linear.float8`). Newer checkouts keep them in
`torchtitan/config/job_config.py`, older ones (mid-2025) in `torchtitan/config_manager.py`.
libcst reads the file; defaults are Python literals (or `field(default_factory=...)` of a literal,
`list`, `dict` or a lambda returning a literal), evaluated with `ast.literal_eval`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from migrate.diagnostics import MigrateError, Origin

CANDIDATE_FILES = ("torchtitan/config/job_config.py", "torchtitan/config_manager.py")
SCHEMA_FORMAT = 1


def find_config_file(root: Path) -> Path:
    for rel in CANDIDATE_FILES:
        if (root / rel).is_file():
            return root / rel
    raise MigrateError(f"{root} does not look like a torchtitan checkout (no {' or '.join(CANDIDATE_FILES)})",
                       hint="pass the root of a torchtitan git checkout (the folder containing torchtitan/)")


def type_descriptor(annotation: str) -> Any:
    """`int | None` -> {"union": ["int", "none"]}; `list[str]` -> {"list": "str"}; Literal -> {"literal": [...]}."""
    return _describe(ast.parse(annotation, mode="eval").body)


def _describe(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and node.value is None:
        return "none"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation
        return type_descriptor(node.value)
    if isinstance(node, ast.Name) or isinstance(node, ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        return {"int": "int", "float": "float", "str": "str", "bool": "bool", "dict": "dict", "list": {"list": "any"},
                "Any": "any"}.get(name, "any")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([_describe(node.left), _describe(node.right)])
    if isinstance(node, ast.Subscript):
        head = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Literal":
            return {"literal": [ast.literal_eval(a) for a in args]}
        if head == "Optional":
            return _union([_describe(args[0]), "none"])
        if head == "Union":
            return _union([_describe(a) for a in args])
        if head in ("list", "List", "Sequence"):
            return {"list": _describe(args[0])}
        if head in ("dict", "Dict"):
            return "dict"
    return "any"


def _union(options: list[Any]) -> Any:
    flat: list[Any] = []
    for option in options:
        for item in option["union"] if isinstance(option, dict) and "union" in option else [option]:
            if item not in flat:
                flat.append(item)
    return flat[0] if len(flat) == 1 else {"union": flat}


class _Field:
    def __init__(self, name: str, annotation: str, default: cst.BaseExpression | None, line: int) -> None:
        self.name, self.annotation, self.default, self.line = name, annotation, default, line


def _is_dataclass(node: cst.ClassDef) -> bool:
    for deco in node.decorators:
        target = deco.decorator.func if isinstance(deco.decorator, cst.Call) else deco.decorator
        if (isinstance(target, cst.Name) and target.value == "dataclass") or (
                isinstance(target, cst.Attribute) and target.attr.value == "dataclass"):
            return True
    return False


def _classes(wrapper: MetadataWrapper) -> dict[str, list[_Field]]:
    positions = wrapper.resolve(PositionProvider)
    module = wrapper.module
    out: dict[str, list[_Field]] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.ClassDef) or not _is_dataclass(stmt):
            continue
        fields: list[_Field] = []
        for line in stmt.body.body:
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for small in line.body:
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    annotation = module.code_for_node(small.annotation.annotation)
                    fields.append(_Field(small.target.value, annotation, small.value,
                                         positions[small].start.line))
        out[stmt.name.value] = fields
    return out


def _default(module: cst.Module, node: cst.BaseExpression | None, where: Origin) -> tuple[str, Any]:
    """("value", literal) or ("section", ClassName) for `field(default_factory=ClassName)`."""
    if node is None:
        raise MigrateError("a JobConfig field without a default (torchtitan gives every field one)", origin=where)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "field":
        for arg in node.args:
            key = arg.keyword.value if arg.keyword else None
            if key == "default":
                return _default(module, arg.value, where)
            if key == "default_factory":
                factory = arg.value
                if isinstance(factory, cst.Name):
                    if factory.value in ("list", "dict"):
                        return "value", [] if factory.value == "list" else {}
                    return "section", factory.value
                if isinstance(factory, cst.Lambda):
                    return _default(module, factory.body, where)
        raise MigrateError("field(...) without a default or default_factory", origin=where)
    code = module.code_for_node(node)
    try:
        return "value", ast.literal_eval(code)
    except (ValueError, SyntaxError) as exc:
        raise MigrateError(f"default `{code}` is not a literal ({exc})", origin=where) from None


def extract_schema(root: str | Path, name: str | None = None, source: str | None = None) -> dict[str, Any]:
    """The JobConfig schema of the checkout at `root` as JSON-ready data (values only)."""
    root = Path(root)
    path = find_config_file(root)
    rel = path.relative_to(root).as_posix()
    wrapper = MetadataWrapper(cst.parse_module(path.read_text(encoding="utf-8")))
    classes = _classes(wrapper)
    if "JobConfig" not in classes:
        raise MigrateError(f"{rel} defines no JobConfig dataclass", origin=Origin(str(path)))
    sections: list[str] = []
    fields: dict[str, dict[str, Any]] = {}

    def walk(class_name: str, prefix: str, stack: tuple[str, ...]) -> None:
        for f in classes[class_name]:
            where = Origin(rel, f.line)
            kind, value = _default(wrapper.module, f.default, where)
            dotted = f"{prefix}{f.name}"
            if kind == "section":
                if value not in classes or value in stack:
                    raise MigrateError(f"section {dotted}: {value} is not a dataclass of {rel}", origin=where)
                sections.append(dotted)
                walk(value, dotted + ".", stack + (value,))
            else:
                fields[dotted] = {"annotation": f.annotation, "type": type_descriptor(f.annotation),
                                  "default": value, "line": f.line}

    walk("JobConfig", "", ("JobConfig",))
    return {"format": SCHEMA_FORMAT, "name": name or root.name, "source": source or str(root), "file": rel,
            "sections": sections, "fields": fields}
