"""Read a Megatron-LM checkout's command-line options without importing it.

Megatron-LM builds its parser in `megatron/training/arguments.py`: an entry
function (`add_megatron_arguments` in newer versions, `parse_args` in older
ones) calls `_add_*_args(parser)` helpers, each creating argument groups and
calling `group.add_argument(...)`. Newer versions also generate groups from
config dataclasses (`ArgumentGroupFactory(TransformerConfig).build_group(...)`),
whose fields live in other files. We follow all of that statically with libcst:
importing would need torch, CUDA extensions and the exact fork installed.

The result is a `Schema`: one `OptionSpec` per `add_argument` call, in parser
order, carrying what argparse itself would store (dest, default, action, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import libcst as cst

from migrate.diagnostics import MigrateError
from migrate.megatron.schema import UNEVALUATED, OptionSpec, Provider, Schema
from migrate.megatron.static_eval import (
    EnumClass,
    EnumMember,
    NotStatic,
    Ref,
    builtin_lookup,
    evaluate,
)

ARGUMENTS_FILE = Path("megatron/training/arguments.py")
ARGUMENTS_MODULE = "megatron.training.arguments"
# Megatron-LM before its training code moved into megatron/training/ (2024), and the forks of that
# time (Megatron-DeepSpeed, older ROCm branches, the Megatron pinned by Pai-Megatron-Patch)
LEGACY_ARGUMENTS_FILE = Path("megatron/arguments.py")
LEGACY_ARGUMENTS_MODULE = "megatron.arguments"
# the last: forks whose parse_args takes its parser from a builder (epfLLM's Megatron-LLM)
ENTRY_FUNCTIONS = ("add_megatron_arguments", "parse_args", "build_base_parser")


class TypeInferenceError(Exception):
    """A dataclass field whose annotation argparse cannot be given a type for."""


# --------------------------------------------------------------------------- source tree


@dataclass
class ParsedModule:
    name: str
    is_package: bool
    tree: cst.Module
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)
    assigns: dict[str, cst.BaseExpression] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, symbol)

    def code(self, node: cst.CSTNode) -> str:
        return self.tree.code_for_node(node).strip()


def _dotted(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _import_bindings(stmt: cst.BaseSmallStatement, module: str, is_package: bool) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    if isinstance(stmt, cst.ImportFrom) and not isinstance(stmt.names, cst.ImportStar):
        base = _dotted(stmt.module) if stmt.module else ""
        level = len(stmt.relative)
        if level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - (level - 1)] if level > 1 else package
            base = ".".join(package + ([base] if base else []))
        for alias in stmt.names:
            name = _dotted(alias.name)
            local = alias.asname.name.value if alias.asname else name  # type: ignore[union-attr]
            out[local] = (base, name)
    elif isinstance(stmt, cst.Import):
        for alias in stmt.names:
            name = _dotted(alias.name)
            local = alias.asname.name.value if alias.asname else name.split(".")[0]  # type: ignore[union-attr]
            out[local] = (name if alias.asname else name.split(".")[0], None)
    return out


class SourceTree:
    """A checkout's Python files, parsed on demand; name resolution across modules."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, ParsedModule | None] = {}

    def module(self, name: str) -> ParsedModule | None:
        if name not in self._cache:
            self._cache[name] = self._parse(name)
        return self._cache[name]

    def _parse(self, name: str) -> ParsedModule | None:
        rel = Path(*name.split("."))
        for path, is_package in ((self.root / rel.with_suffix(".py"), False), (self.root / rel / "__init__.py", True)):  # noqa: B007 - read after the break
            if path.is_file():
                break
        else:
            return None
        try:
            tree = cst.parse_module(path.read_text(encoding="utf-8"))
        except cst.ParserSyntaxError as exc:
            raise MigrateError(
                f"{path}: cannot parse ({exc.message})", hint="is this a Megatron-LM checkout?"
            ) from None
        mod = ParsedModule(name, is_package, tree)
        for stmt in tree.body:
            self._index(mod, stmt)
        return mod

    def _index(self, mod: ParsedModule, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.FunctionDef):
            mod.functions[stmt.name.value] = stmt
        elif isinstance(stmt, cst.ClassDef):
            mod.classes[stmt.name.value] = stmt
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name):
                        mod.assigns[target.value] = small.value
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value:
                    mod.assigns[small.target.value] = small.value
                else:
                    mod.imports.update(_import_bindings(small, mod.name, mod.is_package))
        elif isinstance(stmt, cst.Try):  # `try: from x import y` at module level
            for inner in stmt.body.body:
                self._index(mod, inner)

    def find(self, module: str, name: str, depth: int = 0) -> tuple[str, ParsedModule, Any] | None:
        """('class'|'function'|'value'|'module', defining module, node) for `name` seen from `module`."""
        mod = self.module(module)
        if mod is None or depth > 12:
            return None
        if name in mod.classes:
            return ("class", mod, mod.classes[name])
        if name in mod.functions:
            return ("function", mod, mod.functions[name])
        if name in mod.assigns:
            return ("value", mod, mod.assigns[name])
        if name in mod.imports:
            target_mod, symbol = mod.imports[name]
            if symbol is None:
                return ("module", mod, target_mod)
            if self.module(f"{target_mod}.{symbol}") is not None:
                return ("module", mod, f"{target_mod}.{symbol}")
            return self.find(target_mod, symbol, depth + 1)
        return None

    def enum_class(self, mod: ParsedModule, cls: cst.ClassDef) -> EnumClass | None:
        bases = [mod.code(b.value) for b in cls.bases]
        if not any(b.split(".")[-1] in ("Enum", "IntEnum", "StrEnum", "Flag", "IntFlag") for b in bases):
            return None
        members, values = [], []
        for stmt in cls.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign) and isinstance(small.targets[0].target, cst.Name):
                        name = small.targets[0].target.value
                        if not name.startswith("_"):
                            members.append(name)
                            try:
                                values.append(evaluate(small.value, builtin_lookup))
                            except NotStatic:
                                pass
        return EnumClass(cls.name.value, tuple(members), tuple(values) if len(values) == len(members) else ())

    def lookup(self, module: str, name: str, scope: dict[str, Any] | None = None, depth: int = 0) -> Any:
        """A free name's static value, for `evaluate`."""
        if scope and name in scope:
            value = scope[name]
            if isinstance(value, _Imported):
                return self._lookup_imported(value, depth)
            return value
        found = self.find(module, name)
        if found is None:
            return builtin_lookup(name)
        kind, mod, node = found
        if kind == "class":
            return self.enum_class(mod, node) or Ref(node.name.value)
        if kind == "function":
            return Ref(node.name.value)
        if kind == "value" and depth < 8:
            return evaluate(node, lambda n: self.lookup(mod.name, n, None, depth + 1))
        if kind == "module" and node in ("argparse", "signal"):
            return Ref(node)
        raise NotStatic

    def _lookup_imported(self, imp: "_Imported", depth: int) -> Any:
        found = self.find(imp.module, imp.symbol)
        if found is None:
            raise NotStatic
        kind, mod, node = found
        if kind == "class":
            return self.enum_class(mod, node) or Ref(node.name.value)
        if kind == "function":
            return Ref(node.name.value)
        if kind == "value":
            return evaluate(node, lambda n: self.lookup(mod.name, n, None, depth + 1))
        raise NotStatic


# --------------------------------------------------------------------------- parser objects


@dataclass(frozen=True)
class _Imported:
    module: str
    symbol: str


@dataclass(frozen=True)
class _ParserObj:
    pass


@dataclass(frozen=True)
class _GroupObj:
    title: str | None


@dataclass(frozen=True)
class _FactoryObj:
    module: str
    class_name: str
    exclude: frozenset[str]


@dataclass
class _DataclassField:
    name: str
    annotation: cst.BaseExpression
    default: cst.BaseExpression | None
    default_factory: cst.BaseExpression | None
    init: bool
    metadata: cst.BaseExpression | None
    module: ParsedModule


def _to_json_value(value: Any) -> Any:
    if isinstance(value, EnumMember):
        return value.member
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json_value(v) for k, v in value.items()}
    if isinstance(value, (Ref, EnumClass)):
        raise NotStatic
    return value


def _bool_action(default: Any) -> str:
    """ArgumentGroupFactory: a bool field defaulting to False is store_true; anything else store_false."""
    false = not isinstance(default, dict) and default is not _MISSING and default == False  # noqa: E712 (0 too)
    return "store_true" if false else "store_false"


_MISSING = object()


class Extractor:
    """Walks the parser-building code of one checkout and collects OptionSpecs."""

    def __init__(self, root: Path) -> None:
        self.tree = SourceTree(root)
        self.options: list[OptionSpec] = []
        self.notes: list[str] = []
        self._visiting: set[str] = set()
        self._base: list[OptionSpec] = []  # while running a provider: the options already registered
        self._edits: dict[str, dict[str, Any]] = {}

    # ---- entry

    def run(self) -> list[OptionSpec]:
        mod = self.tree.module(ARGUMENTS_MODULE) or self.tree.module(LEGACY_ARGUMENTS_MODULE)
        if mod is None:
            raise MigrateError(
                f"{self.tree.root}: no {ARGUMENTS_FILE} found",
                hint="pass the root of a Megatron-LM checkout (the directory containing megatron/)",
            )
        for entry in ENTRY_FUNCTIONS:
            fn = mod.functions.get(entry)
            if fn is None:
                continue
            scope: dict[str, Any] = {}
            params = fn.params.params
            if entry == "add_megatron_arguments" and params:
                scope[params[0].name.value] = _ParserObj()
            self._run_function(mod, fn, scope, None)
            if self.options:
                return self.options
        raise MigrateError(
            f"{self.tree.root / ARGUMENTS_FILE}: found no add_argument calls reachable from "
            f"{' or '.join(ENTRY_FUNCTIONS)}",
            hint="is this a Megatron-LM checkout?",
        )

    def run_provider(self, mod: ParsedModule, fn: cst.FunctionDef, base: list[OptionSpec]) -> Provider:
        """What `fn(parser)` adds to (and changes in) a parser already holding `base`."""
        saved = self.options
        self.options = []
        self._base = base
        self._edits = {}
        try:
            params = fn.params.params
            scope: dict[str, Any] = {params[0].name.value: _ParserObj()} if params else {}
            self._run_function(mod, fn, scope, None)
            return Provider(self.options, [{"option": opt, **change} for opt, change in self._edits.items()])
        finally:
            self.options = saved
            self._base = []

    def _run_function(
        self, mod: ParsedModule, fn: cst.FunctionDef, scope: dict[str, Any], condition: str | None
    ) -> None:
        key = f"{mod.name}.{fn.name.value}"
        if key in self._visiting:
            return
        self._visiting.add(key)
        try:
            self._run_block(mod, fn.body.body, scope, condition)
        finally:
            self._visiting.discard(key)

    def _run_block(self, mod: ParsedModule, stmts: Any, scope: dict[str, Any], condition: str | None) -> None:
        for stmt in stmts:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._run_small(mod, small, scope, condition)
            elif isinstance(stmt, cst.If):
                test = mod.code(stmt.test)
                local = self._local_truth(stmt.test, scope)
                if local is not None:  # a flag this function computed (e.g. while scanning the parser)
                    branch = stmt.body.body if local else (
                        [stmt.orelse] if isinstance(stmt.orelse, cst.If)
                        else stmt.orelse.body.body if isinstance(stmt.orelse, cst.Else) else [])
                    self._run_block(mod, branch, scope, condition)
                    continue
                self._run_block(mod, stmt.body.body, scope, _join(condition, test))
                orelse = stmt.orelse
                if isinstance(orelse, cst.If):
                    self._run_block(mod, [orelse], scope, _join(condition, f"not ({test})"))
                elif isinstance(orelse, cst.Else):
                    self._run_block(mod, orelse.body.body, scope, _join(condition, f"not ({test})"))
            elif isinstance(stmt, cst.Try):
                self._run_block(mod, stmt.body.body, scope, condition)
            elif isinstance(stmt, cst.With):
                self._run_block(mod, stmt.body.body, scope, condition)
            elif isinstance(stmt, cst.For) and self._is_actions_loop(stmt, scope):
                self._run_actions_loop(mod, stmt, scope)
            # other loops and nested defs do not register options in any known version

    # ---- a provider scanning the parser's registered actions: `for action in parser._actions:`

    def _local_truth(self, test: cst.BaseExpression, scope: dict[str, Any]) -> bool | None:
        """The test's value when it reads only booleans bound in this function, else None."""
        def lookup(name: str) -> Any:
            if isinstance(scope.get(name), bool):
                return scope[name]
            raise NotStatic(name)
        try:
            value = evaluate(test, lookup)
        except NotStatic:
            return None
        return value if isinstance(value, bool) else None

    def _is_actions_loop(self, loop: cst.For, scope: dict[str, Any]) -> bool:
        it = loop.iter
        if isinstance(it, cst.Subscript) and isinstance(it.value, cst.Call) and _dotted(it.value.func) == "vars":
            holder = it.value.args[0].value if it.value.args else None
            index = it.slice[0].slice if len(it.slice) == 1 else None
            key = index.value if isinstance(index, cst.Index) else None
            if not (isinstance(key, cst.SimpleString) and key.evaluated_value == "_actions"):
                return False
        elif isinstance(it, cst.Attribute) and it.attr.value == "_actions":
            holder = it.value
        else:
            return False
        return isinstance(holder, cst.Name) and isinstance(scope.get(holder.value), (_ParserObj, _GroupObj)) \
            and isinstance(loop.target, cst.Name)

    def _run_actions_loop(self, mod: ParsedModule, loop: cst.For, scope: dict[str, Any]) -> None:
        """Run the body once per registered option (argument groups share the parser's action list)."""
        var = loop.target.value  # type: ignore[attr-defined]  # a Name: checked by the caller
        for spec in [*self._base, *self.options]:
            self._run_action_body(mod, loop.body.body, var, spec, scope)

    def _run_action_body(
        self, mod: ParsedModule, stmts: Any, var: str, spec: OptionSpec, scope: dict[str, Any]
    ) -> None:
        for stmt in stmts:
            if isinstance(stmt, cst.If):
                truth = self._action_test(mod, stmt.test, var, spec)
                if truth is None:
                    self.notes.append(f"{mod.name}: cannot follow a parser scan test: {mod.code(stmt.test)[:80]}")
                    return
                if truth:
                    self._run_action_body(mod, stmt.body.body, var, spec, scope)
                elif isinstance(stmt.orelse, cst.Else):
                    self._run_action_body(mod, stmt.orelse.body.body, var, spec, scope)
            elif isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._action_effect(mod, small, var, spec, scope)
            else:
                self.notes.append(f"{mod.name}: cannot follow a parser scan statement: {mod.code(stmt)[:80]}")

    def _action_test(self, mod: ParsedModule, test: cst.BaseExpression, var: str, spec: OptionSpec) -> bool | None:
        if isinstance(test, cst.Call) and _dotted(test.func) == "isinstance" and len(test.args) == 2:
            if _dotted(test.args[0].value) != var:
                return None
            cls = _dotted(test.args[1].value).split(".")[-1]
            actions = _ACTION_CLASSES.get(cls)
            return None if actions is None else self._current(spec).action in actions
        if (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
                and isinstance(test.comparisons[0].operator, (cst.In, cst.NotIn))
                and _dotted(test.comparisons[0].comparator) == f"{var}.option_strings"):
            try:
                needle = evaluate(test.left, builtin_lookup)
            except NotStatic:
                return None
            found = needle in spec.option_strings
            return found if isinstance(test.comparisons[0].operator, cst.In) else not found
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            inner = self._action_test(mod, test.expression, var, spec)
            return None if inner is None else not inner
        if isinstance(test, cst.BooleanOperation):
            left, right = self._action_test(mod, test.left, var, spec), self._action_test(mod, test.right, var, spec)
            if left is None or right is None:
                return None
            return (left and right) if isinstance(test.operator, cst.And) else (left or right)
        return None

    def _current(self, spec: OptionSpec) -> OptionSpec:
        """`spec` with the edits this provider already made to it."""
        change = self._edits.get(spec.option_strings[0]) if spec.option_strings else None
        if not change:
            return spec
        from dataclasses import replace

        return replace(spec, **change)

    def _action_effect(self, mod: ParsedModule, small: cst.BaseSmallStatement, var: str, spec: OptionSpec,
                       scope: dict[str, Any]) -> None:
        lookup = lambda n: self.tree.lookup(mod.name, n, scope)  # noqa: E731
        key = spec.option_strings[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            if isinstance(target, cst.Name):  # a flag the function tests after the loop
                try:
                    scope[target.value] = evaluate(small.value, lookup)
                except NotStatic:
                    scope.pop(target.value, None)
                return
            if _dotted(target) == f"{var}.default":
                try:
                    value = _to_json_value(evaluate(small.value, lookup))
                except NotStatic:
                    value = {UNEVALUATED: mod.code(small.value)}
                self._edits.setdefault(key, {})["default"] = value
                return
        if (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)
                and _dotted(small.value.func) == f"{var}.choices.append" and len(small.value.args) == 1):
            choices = self._current(spec).choices
            try:
                value = _to_json_value(evaluate(small.value.args[0].value, lookup))
            except NotStatic:
                value = None
            if choices is None or value is None:
                self.notes.append(f"{mod.name}: cannot follow `{mod.code(small)[:60]}` for {key}")
                return
            self._edits.setdefault(key, {})["choices"] = tuple(choices) + (value,)
            return
        self.notes.append(f"{mod.name}: cannot follow a parser scan statement: {mod.code(small)[:80]}")

    def _run_small(
        self, mod: ParsedModule, small: cst.BaseSmallStatement, scope: dict[str, Any], condition: str | None
    ) -> None:
        if isinstance(small, (cst.ImportFrom, cst.Import)):
            for local, (module, symbol) in _import_bindings(small, mod.name, mod.is_package).items():
                scope[local] = _Imported(module, symbol) if symbol else Ref(module)
        elif (
            isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)
        ):
            name = small.targets[0].target.value
            value = self._expr(mod, small.value, scope, condition)
            if value is None:
                try:
                    value = evaluate(small.value, lambda n: self.tree.lookup(mod.name, n, scope))
                except NotStatic:
                    scope.pop(name, None)
                    return
            scope[name] = value
        elif isinstance(small, cst.Expr):
            self._expr(mod, small.value, scope, condition)
        elif isinstance(small, cst.Return) and small.value is not None:
            self._expr(mod, small.value, scope, condition)

    # ---- expressions that build the parser

    def _expr(self, mod: ParsedModule, node: cst.BaseExpression, scope: dict[str, Any], condition: str | None) -> Any:
        if isinstance(node, cst.Tuple):  # `group.add_argument(...),` -- a stray comma makes a tuple
            for element in node.elements:
                self._expr(mod, element.value, scope, condition)
            return None
        if not isinstance(node, cst.Call):
            return None
        func = node.func
        if isinstance(func, cst.Attribute):
            target = scope.get(func.value.value) if isinstance(func.value, cst.Name) else None
            method = func.attr.value
            if _dotted(func) == "argparse.ArgumentParser":
                return _ParserObj()
            if isinstance(target, (_ParserObj, _GroupObj)):
                if method == "add_argument":
                    self._add_argument(mod, node, scope, target, condition)
                    return None
                if method == "add_argument_group":
                    title = self._kwarg_or_pos(mod, node, "title", 0, scope)
                    return _GroupObj(title if isinstance(title, str) else None)
                if method == "add_mutually_exclusive_group":
                    return _GroupObj(target.title if isinstance(target, _GroupObj) else None)
            if isinstance(target, _FactoryObj) and method == "build_group":
                title = self._kwarg_or_pos(mod, node, "title", 1, scope)
                self._build_group(target, title if isinstance(title, str) else None, condition)
                return _GroupObj(title if isinstance(title, str) else None)
            return None
        if isinstance(func, cst.Name):
            name = func.value
            if name == "ArgumentParser":
                return _ParserObj()
            if name == "ArgumentGroupFactory" or name.endswith("ArgumentGroupFactory"):
                return self._factory(mod, node, scope)
            callee = mod.functions.get(name)
            if callee is not None and node.args:
                first = node.args[0].value
                if isinstance(first, cst.Name) and isinstance(scope.get(first.value), _ParserObj):
                    params = callee.params.params
                    inner: dict[str, Any] = {params[0].name.value: _ParserObj()} if params else {}
                    self._run_function(mod, callee, inner, condition)
                    return _ParserObj()
        return None

    def _kwarg_or_pos(self, mod: ParsedModule, call: cst.Call, key: str, pos: int, scope: dict[str, Any]) -> Any:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == key:
                return self._static(mod, arg.value, scope)
        if len(positional) > pos:
            return self._static(mod, positional[pos].value, scope)
        return None

    def _static(self, mod: ParsedModule, node: cst.BaseExpression, scope: dict[str, Any]) -> Any:
        try:
            return evaluate(node, lambda n: self.tree.lookup(mod.name, n, scope))
        except NotStatic:
            return None

    # ---- add_argument

    def _add_argument(
        self, mod: ParsedModule, call: cst.Call, scope: dict[str, Any], target: Any, condition: str | None
    ) -> None:
        option_strings: list[str] = []
        kwargs: dict[str, Any] = {}
        for arg in call.args:
            if arg.star:
                self.notes.append(f"{mod.name}: skipped add_argument with *args/**kwargs: {mod.code(call)[:80]}")
                return
            if arg.keyword is None:
                value = self._static(mod, arg.value, scope)
                if not isinstance(value, str):
                    self.notes.append(f"{mod.name}: option name not static: {mod.code(arg.value)}")
                    return
                option_strings.append(value)
            else:
                kwargs[arg.keyword.value] = self._kwarg_value(mod, arg.keyword.value, arg.value, scope)
        group = target.title if isinstance(target, _GroupObj) else None
        self.options.append(make_spec(option_strings, kwargs, group, condition))

    def _kwarg_value(self, mod: ParsedModule, key: str, node: cst.BaseExpression, scope: dict[str, Any]) -> Any:
        """One add_argument keyword as the schema stores it."""
        if key == "type":
            return self._type_name(mod, node, scope)
        if key == "action":
            try:
                value = evaluate(node, lambda n: self.tree.lookup(mod.name, n, scope))
            except NotStatic:
                return mod.code(node)
            if isinstance(value, Ref):
                return "boolean_optional" if value.name == "BooleanOptionalAction" else value.name
            return value
        if key == "help":
            return None
        try:
            value = evaluate(node, lambda n: self.tree.lookup(mod.name, n, scope))
            return _to_json_value(value)
        except NotStatic:
            return {UNEVALUATED: mod.code(node)}

    def _type_name(self, mod: ParsedModule, node: cst.BaseExpression, scope: dict[str, Any]) -> str:
        if isinstance(node, cst.Lambda):
            body = node.body
            params = node.params.params
            if (
                isinstance(body, cst.Subscript)
                and len(params) == 1
                and len(body.slice) == 1
                and isinstance(body.slice[0].slice, cst.Index)
                and isinstance(body.slice[0].slice.value, cst.Name)
                and body.slice[0].slice.value.value == params[0].name.value
            ):
                enum = self._static(mod, body.value, scope)
                if isinstance(enum, EnumClass):
                    return f"enum:{enum.name}"
            return mod.code(node)
        value = self._static(mod, node, scope)
        if isinstance(value, EnumClass):
            return f"enum:{value.name}"
        if isinstance(value, Ref):
            return value.name
        return mod.code(node)

    # ---- dataclass-generated groups

    def _factory(self, mod: ParsedModule, call: cst.Call, scope: dict[str, Any]) -> _FactoryObj | None:
        positional = [a for a in call.args if a.keyword is None]
        cls_node = positional[0].value if positional else None
        exclude: Any = ()
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "src_cfg_class":
                cls_node = arg.value
            if arg.keyword is not None and arg.keyword.value == "exclude":
                exclude = self._static(mod, arg.value, scope) or ()
        if len(positional) > 1:
            exclude = self._static(mod, positional[1].value, scope) or ()
        if not isinstance(cls_node, cst.Name):
            self.notes.append(f"{mod.name}: ArgumentGroupFactory with a non-name class: {mod.code(call)[:80]}")
            return None
        cls_name = cls_node.value
        imported = scope.get(cls_name)
        module = imported.module if isinstance(imported, _Imported) else mod.name
        symbol = imported.symbol if isinstance(imported, _Imported) else cls_name
        return _FactoryObj(module, symbol, frozenset(exclude))

    def _resolve_class(self, module: str, name: str) -> tuple[ParsedModule, cst.ClassDef] | None:
        found = self.tree.find(module, name)
        if found is None or found[0] != "class":
            return None
        return found[1], found[2]

    def dataclass_fields(self, module: str, name: str, depth: int = 0) -> list[_DataclassField]:
        """Fields in dataclasses.fields() order: base classes first, overrides keep their slot."""
        resolved = self._resolve_class(module, name)
        if resolved is None:
            raise MigrateError(f"cannot find dataclass {name} (seen from {module}) in the checkout")
        mod, cls = resolved
        fields: dict[str, _DataclassField] = {}
        for base in cls.bases[:1] if depth < 10 else []:
            base_name = _dotted(base.value).split(".")[-1]
            if base_name and base_name not in ("object", "Generic") and self._resolve_class(mod.name, base_name):
                for f in self.dataclass_fields(mod.name, base_name, depth + 1):
                    fields[f.name] = f
        for stmt in cls.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if not (isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name)):
                    continue
                ann_text = mod.code(small.annotation.annotation)
                if ann_text.split("[")[0].split(".")[-1] in ("ClassVar", "InitVar"):
                    continue
                fields[small.target.value] = self._field(mod, small)
        return list(fields.values())

    def _field(self, mod: ParsedModule, node: cst.AnnAssign) -> _DataclassField:
        name = node.target.value  # type: ignore[attr-defined]  # a Name: checked by the caller
        annotation = node.annotation.annotation
        value = node.value
        if isinstance(value, cst.Call) and _dotted(value.func).split(".")[-1] == "field":
            kw = {a.keyword.value: a.value for a in value.args if a.keyword is not None}
            init = not (isinstance(kw.get("init"), cst.Name) and kw["init"].value == "False")  # type: ignore[attr-defined]
            return _DataclassField(
                name, annotation, kw.get("default"), kw.get("default_factory"), init, kw.get("metadata"), mod
            )
        return _DataclassField(name, annotation, value, None, True, None, mod)

    def _build_group(self, factory: _FactoryObj, title: str | None, condition: str | None) -> None:
        for f in self.dataclass_fields(factory.module, factory.class_name):
            if f.name in factory.exclude or not f.init:
                continue
            try:
                option_strings, kwargs = self._field_kwargs(f)
            except TypeInferenceError as exc:
                self.notes.append(f"{factory.class_name}.{f.name}: {exc} (Megatron would fail to build its parser)")
                continue
            self.options.append(make_spec(option_strings, kwargs, title, condition))

    def _field_default(self, f: _DataclassField) -> Any:
        lookup = lambda n: self.tree.lookup(f.module.name, n)  # noqa: E731
        if f.default is not None:
            try:
                return _to_json_value(evaluate(f.default, lookup))
            except NotStatic:
                return {UNEVALUATED: f.module.code(f.default)}
        if f.default_factory is not None:
            factory = f.default_factory
            if isinstance(factory, cst.Lambda):
                factory = factory.body
                try:
                    return _to_json_value(evaluate(factory, lookup))
                except NotStatic:
                    return {UNEVALUATED: f.module.code(factory)}
            simple = _dotted(factory)
            if simple in ("list", "dict", "tuple"):
                return {"list": [], "dict": {}, "tuple": []}[simple]
            return {UNEVALUATED: f.module.code(factory) + "()"}
        return _MISSING

    def _field_kwargs(self, f: _DataclassField) -> tuple[list[str], dict[str, Any]]:
        option_strings = ["--" + f.name.replace("_", "-")]
        default = self._field_default(f)
        kwargs: dict[str, Any] = {"dest": f.name, "default": None if default is _MISSING else default}
        meta = self._argparse_meta(f)
        try:
            kwargs.update(self.infer_type(f.module, f.annotation))
            if kwargs.get("type") == "bool":
                kwargs["action"] = _bool_action(default)
                kwargs.pop("type")
                if kwargs["action"] == "store_false":
                    option_strings = ["--no-" + f.name.replace("_", "-"), "--disable-" + f.name.replace("_", "-")]
        except TypeInferenceError:
            if meta is None:
                raise
        if meta:
            meta = dict(meta)
            if "arg_names" in meta:
                option_strings = list(meta.pop("arg_names"))
            kwargs.update(meta)
        return option_strings, kwargs

    def _argparse_meta(self, f: _DataclassField) -> dict[str, Any] | None:
        if not isinstance(f.metadata, cst.Dict):
            return None
        for el in f.metadata.elements:
            if not isinstance(el, cst.DictElement):
                continue
            try:
                key = evaluate(el.key, builtin_lookup)
            except NotStatic:
                continue
            if key == "argparse_meta" and isinstance(el.value, cst.Dict):
                meta: dict[str, Any] = {}
                for item in el.value.elements:
                    if isinstance(item, cst.DictElement):
                        name = evaluate(item.key, builtin_lookup)
                        meta[name] = self._kwarg_value(f.module, name, item.value, {})
                return meta
        return None

    def infer_type(self, mod: ParsedModule, ann: cst.BaseExpression) -> dict[str, Any]:
        """argparse kwargs ArgumentGroupFactory derives from a field annotation."""
        kind, parts = self._classify(mod, ann)
        if kind == "union":
            if len(parts) >= 2 and parts[1] is None:
                return self.infer_type(mod, parts[0])
            raise TypeInferenceError(f"Unions not supported by argparse: {mod.code(ann)}")
        if kind == "list":
            if len(parts) != 1:
                raise TypeInferenceError(f"Multi-type lists not supported by argparse: {mod.code(ann)}")
            out = self.infer_type(mod, parts[0])
            out["nargs"] = "+"
            return out
        if kind == "literal":
            values = [evaluate(p, builtin_lookup) for p in parts]
            return {"type": type(values[0]).__name__, "choices": values}
        if kind == "other":
            raise TypeInferenceError(f"Unsupported type: {mod.code(ann)}")
        # a plain type
        if _dotted(ann) == "signal.Signals":  # a stdlib Enum: choices are this platform's signal names
            import signal

            return {"type": "enum:Signals", "choices": [s.name for s in signal.Signals]}
        if isinstance(ann, cst.Name):
            if ann.value in ("int", "float", "str", "bool"):
                return {"type": ann.value}
            try:
                value = self.tree.lookup(mod.name, ann.value)
            except NotStatic:
                value = None
            if isinstance(value, EnumClass):
                return {"type": f"enum:{value.name}", "choices": list(value.members)}
        return {"type": mod.code(ann)}

    def _classify(self, mod: ParsedModule, ann: cst.BaseExpression) -> tuple[str, list[Any]]:
        """('plain'|'union'|'list'|'literal'|'other', parts) with Optional/Union/| flattened like typing."""
        if isinstance(ann, cst.BinaryOperation) and isinstance(ann.operator, cst.BitOr):
            return "union", self._union_members(mod, ann)
        if isinstance(ann, cst.Subscript):
            origin = _dotted(ann.value).split(".")[-1]
            if origin in ("Optional", "Union"):
                return "union", self._union_members(mod, ann)
            args = [s.slice.value for s in ann.slice if isinstance(s.slice, cst.Index)]
            if origin in ("list", "List"):
                return "list", args
            if origin == "Literal":
                return "literal", args
            return "other", args
        if isinstance(ann, cst.Name) and ann.value == "None":
            return "plain", []
        return "plain", []

    def _union_members(self, mod: ParsedModule, ann: cst.BaseExpression) -> list[Any]:
        out: list[Any] = []
        if isinstance(ann, cst.BinaryOperation) and isinstance(ann.operator, cst.BitOr):
            items = [ann.left, ann.right]
        elif isinstance(ann, cst.Subscript) and _dotted(ann.value).split(".")[-1] in ("Optional", "Union"):
            items = [s.slice.value for s in ann.slice if isinstance(s.slice, cst.Index)]
            if _dotted(ann.value).split(".")[-1] == "Optional":
                items.append(cst.Name("None"))
        else:
            return [None] if isinstance(ann, cst.Name) and ann.value == "None" else [ann]
        for item in items:
            for member in self._union_members(mod, item):
                text = "None" if member is None else mod.code(member)
                if text not in [("None" if m is None else mod.code(m)) for m in out]:
                    out.append(member)
        return out


# argparse action classes -> the `action=` names that create them (isinstance sees subclasses)
_ACTION_CLASSES: dict[str, tuple[str, ...]] = {
    "_StoreAction": ("store",),
    "_StoreConstAction": ("store_const", "store_true", "store_false"),
    "_StoreTrueAction": ("store_true",),
    "_StoreFalseAction": ("store_false",),
    "_AppendAction": ("append",),
    "_CountAction": ("count",),
    "Action": ("store", "store_const", "store_true", "store_false", "append", "append_const", "count",
               "extend", "boolean_optional", "help", "version"),
}


def _join(outer: str | None, inner: str) -> str:
    return inner if outer is None else f"({outer}) and ({inner})"


# --------------------------------------------------------------------------- argparse facts


def default_dest(option_strings: list[str]) -> str:
    """argparse: the first long option without its dashes, `-` → `_`; else the first short one."""
    for opt in option_strings:
        if opt.startswith("--"):
            return opt[2:].replace("-", "_")
    return option_strings[0].lstrip("-").replace("-", "_")


def make_spec(
    option_strings: list[str], kwargs: dict[str, Any], group: str | None, condition: str | None
) -> OptionSpec:
    """An OptionSpec with argparse's own fill-ins (implicit defaults, dest, BooleanOptionalAction names)."""
    action = kwargs.get("action") or "store"
    if action == "boolean_optional":
        expanded = []
        for opt in option_strings:
            expanded.append(opt)
            if opt.startswith("--"):
                expanded.append("--no-" + opt[2:])
        option_strings = expanded
    dest = kwargs.get("dest") or default_dest(option_strings)
    if "default" in kwargs:
        default = kwargs["default"]
    else:
        default = {"store_true": False, "store_false": True}.get(action)
    choices = kwargs.get("choices")
    if isinstance(choices, dict) and UNEVALUATED in choices:
        choices = None
    nargs = kwargs.get("nargs")
    type_name = kwargs.get("type")
    if action in (
        "store_true",
        "store_false",
        "store_const",
        "append_const",
        "count",
        "boolean_optional",
        "help",
        "version",
    ):
        type_name = None if action != "boolean_optional" else type_name
    return OptionSpec(
        option_strings=tuple(option_strings),
        dest=dest,
        action=action,
        default=default,
        type=type_name if isinstance(type_name, str) else None,
        const=kwargs["const"] if "const" in kwargs else {"store_true": True, "store_false": False}.get(action),
        choices=tuple(choices) if choices is not None else None,
        nargs=nargs if isinstance(nargs, (str, int)) else None,
        required=bool(kwargs.get("required") or False),
        group=group,
        condition=condition,
    )


# --------------------------------------------------------------------------- entry scripts

# Megatron functions that hand `extra_args_provider` to parse_args
PROVIDER_TAKERS = ("pretrain", "parse_args", "initialize_megatron")
_SKIP_DIRS = {"megatron", "tests", "test", ".git", "docs"}


# Megatron functions whose `args_defaults` reach validate_args
DEFAULTS_TAKERS = ("pretrain", "initialize_megatron")


def entry_scripts(root: Path) -> Iterator[Path]:
    """Python files outside the `megatron` package that may pass an extra_args_provider or args_defaults."""
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in _SKIP_DIRS or any(p.startswith(".") for p in rel.parts):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "extra_args_provider" in text or "args_defaults" in text:
            yield path


def _provider_names(tree: cst.Module) -> list[str]:
    """NAMEs in `pretrain(..., extra_args_provider=NAME)`-style calls anywhere in the module."""
    names: list[str] = []

    class Visitor(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if _dotted(node.func).split(".")[-1] not in PROVIDER_TAKERS:
                return
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value == "extra_args_provider" \
                        and isinstance(arg.value, cst.Name) and arg.value.value not in names:
                    names.append(arg.value.value)

    tree.visit(Visitor())
    return names


def _args_defaults_values(tree: cst.Module) -> list[cst.BaseExpression]:
    """The `args_defaults=` expressions of `pretrain(...)` / `initialize_megatron(...)` calls in the module."""
    found: list[cst.BaseExpression] = []

    class Visitor(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if _dotted(node.func).split(".")[-1] not in DEFAULTS_TAKERS:
                return
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value == "args_defaults":
                    found.append(arg.value)

    tree.visit(Visitor())
    return found


def entry_args_defaults(mod: ParsedModule, rel: str, notes: list[str]) -> dict[str, Any] | None:
    """The literal dict an entry script passes as `args_defaults`, None when it passes none.

    validate_args sets each of its keys whose parsed value is None. Only a literal
    is recorded; a computed value, or calls disagreeing with each other, become a note.
    """
    values: list[dict[str, Any]] = []
    for node in _args_defaults_values(mod.tree):
        try:
            value = _to_json_value(evaluate(node, builtin_lookup))
        except NotStatic:
            notes.append(f"{rel}: args_defaults={mod.code(node)} is not a literal we can read")
            return None
        if not isinstance(value, dict):
            notes.append(f"{rel}: args_defaults={mod.code(node)} is not a dict")
            return None
        if value not in values:
            values.append(value)
    if len(values) > 1:
        notes.append(f"{rel}: calls pass different args_defaults ({values}); none recorded")
        return None
    return values[0] if values else None


def extract_entries(extractor: "Extractor", base: list[OptionSpec]
                    ) -> tuple[dict[str, Provider], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """(provider name -> Provider, entry path -> provider names, entry path -> args_defaults)
    for the checkout's entry scripts.

    A provider is named by its function name; two different functions with one name (in
    different entry scripts) are told apart by their module: `module:function`.
    """
    root = extractor.tree.root
    providers: dict[str, Provider] = {}
    origin_of: dict[str, str] = {}  # provider key -> defining module.function
    entries: dict[str, list[str]] = {}
    defaults: dict[str, dict[str, Any]] = {}
    for path in entry_scripts(root):
        rel = path.relative_to(root).as_posix()
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        try:
            mod = extractor.tree.module(module)
        except MigrateError as exc:
            extractor.notes.append(f"{rel}: skipped ({exc.message})")
            continue
        if mod is None:
            continue
        literal = entry_args_defaults(mod, rel, extractor.notes)
        if literal is not None:
            defaults[rel] = literal
        keys: list[str] = []
        for name in _provider_names(mod.tree):
            found = extractor.tree.find(module, name)
            if found is None or found[0] != "function":
                if name != "extra_args_provider":  # a wrapper passing its own parameter along
                    extractor.notes.append(f"{rel}: extra_args_provider={name} is not a function we can read")
                continue
            _, fmod, fn = found
            where = f"{fmod.name}.{fn.name.value}"
            key = fn.name.value if origin_of.get(fn.name.value, where) == where else f"{fmod.name}:{fn.name.value}"
            if key not in providers:
                provider = extractor.run_provider(fmod, fn, base)
                registered = {o for spec in base for o in spec.option_strings}
                clashes = sorted({o for spec in provider.options for o in spec.option_strings} & registered)
                if clashes:
                    extractor.notes.append(
                        f"{key}: re-registers {', '.join(clashes)} (argparse refuses that at start-up)"
                    )
                providers[key] = provider
                origin_of[key] = where
            keys.append(key)
        if keys:
            entries[rel] = keys
    return providers, entries, defaults


def extract_schema(megatron_path: str | Path, name: str | None = None, source: str | None = None) -> Schema:
    """The option table of the checkout at `megatron_path` (the directory holding `megatron/`)."""
    root = Path(megatron_path)
    if not root.is_dir():
        raise MigrateError(f"{root}: not a directory", hint="pass the root of a Megatron-LM checkout")
    if not (root / ARGUMENTS_FILE).is_file() and not (root / LEGACY_ARGUMENTS_FILE).is_file():
        raise MigrateError(
            f"{root}: no {ARGUMENTS_FILE} found",
            hint="pass the root of a Megatron-LM checkout (the directory containing megatron/)",
        )
    extractor = Extractor(root)
    options = extractor.run()
    providers, entries, defaults = extract_entries(extractor, options)
    return Schema(name or root.resolve().name, source or str(root), options, list(extractor.notes),
                  providers, entries, args_defaults=defaults)
