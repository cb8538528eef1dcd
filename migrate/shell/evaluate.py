"""The statement walker: evaluates a launch script without running anything.

It follows bash's control flow over shfmt's syntax tree, keeps variables as
origin-carrying text, models command substitutions, and stops at the first
command that launches a training entry script.

This module is the top of `migrate/shell/`: the builtins and expansions it calls import only
modules below them and reach back through the `Evaluator` they are handed (ARCHITECTURE.md).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Sequence

from migrate import limits
from migrate.diagnostics import Diagnostics, MigrateError, Origin
from migrate.shell import builtins as bi
from migrate.shell import regex as rx
from migrate.shell.arith import Arith, ArithError
from migrate.shell.budget import BoundedState, EvalBudget
from migrate.shell.conditions import test_clause
from migrate.shell.control import AbortCommand, ExitScript, LoopControl, ReturnFn
from migrate.shell.knobs import KnobRegistry
from migrate.shell.launch import Launch, find_launch
from migrate.shell.params import expand_param
from migrate.shell.plan import EnvVar, LaunchPlan, RuntimeValue, Token
from migrate.shell.redirects import open_redirects, record_created
from migrate.shell.state import ShellState, Var
from migrate.shell.substitutions import run_model
from migrate.shell.syntax import Node, parse_file, parse_text
from migrate.shell.text import EMPTY, Seg, Source, Text, concat, first_origin, is_unknown, plain, slice_text, to_str
from migrate.shell.words import Item, expand_fields, expand_parts, expand_pattern, expand_string, join_items


@dataclass
class EvalOptions:
    """How to evaluate: the GPUs per node assumed, the starting folder, limits other than migrate.limits'."""

    gpus_per_node: int = 8  # value assumed for torch.cuda.device_count() & co.
    # None: the limit in force (migrate.limits, PRIMUS_MIGRATE_LIMITS), resolved by EvalBudget
    max_loop_iterations: int | None = None
    max_call_depth: int | None = None
    cwd: str | None = None  # the directory bash would start in (default: the current one)
    max_steps: int | None = None  # statements evaluated in total, a guard against runaway nesting
    # paths file tests and redirections take as existing (--assume-exists; relative to `cwd`): the
    # file system itself is never consulted (migrate/shell/inputs.py)
    assume_exists: tuple[str, ...] = ()
    # batch: the folder converted; a file sourced from outside it is never read (as if absent)
    inputs_root: str | None = None


class Launched(Exception):
    def __init__(self, launch: Launch, env: dict[str, EnvVar]) -> None:
        self.launch, self.env = launch, env


@dataclass
class Frame:
    """Output capture of a command substitution ('subst') or a pipeline stage ('pipe')."""

    kind: str
    chunks: list[Text] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # commands whose output we could not model
    chars: int = 0  # characters captured so far (bounded by the limit string_chars)


class Evaluator:
    def __init__(self, script: str, display: str, env: dict[str, str], args: Sequence[str],
                 options: EvalOptions) -> None:
        self.options = options
        self.diags = Diagnostics()
        self.display = display
        self.script = script
        cwd = os.path.abspath(options.cwd or os.getcwd())
        self.budget = EvalBudget(options)  # steps, time, loop turns, value sizes (migrate.limits)
        self.state: ShellState = BoundedState.wrap(ShellState(cwd=cwd), self.budget)
        env_origin = Origin("<environment>")
        for name, value in env.items():
            self.state.globals[name] = Var(plain(value, env_origin), exported=True, external=True, source="env")
        if "PWD" not in env:
            self.state.globals["PWD"] = Var(plain(cwd, env_origin), exported=True)
        arg_origin = Origin("<arguments>")
        self.state.positional = [plain(a, arg_origin) for a in args]
        self.state.arg0 = plain(display, arg_origin)
        self.arg_keys = {a.split("=", 1)[0] for a in args if "=" in a}
        self.knobs = KnobRegistry()
        self.trees: list[Node] = []
        self.visible_dirs = {os.path.dirname(os.path.abspath(os.path.join(cwd, str(script))))}
        self.seen: list[tuple[str, Origin]] = []
        self.frames: list[Frame] = []
        self.stdin: Text | None = None
        self.source = Source(display, "")
        self.cond_depth = 0
        self.status_unknown = False
        self.wrappers: list[Token] = []
        self.pending_exports: set[str] = set()
        # `declare -i N` leaves N unset, but later values of N are evaluated: (name, function depth)
        self.pending_integers: set[tuple[str, int]] = set()
        self.subst_status = 0  # status of the last command substitution (an assignment's status)
        self.source_stack: list[Text] = []  # BASH_SOURCE: each file as it was named when run or sourced
        self.errexit_exempt = False
        self.getopts_state = (1, 1)  # (OPTIND it belongs to, position inside a clustered -abc)
        # files and directories the script made (mkdir, `>`), and those the user said exist
        self.created_paths: set[str] = {os.path.normpath(os.path.join(cwd, p)) for p in options.assume_exists}
        self.said: tuple[Origin, str] | None = None  # the last line echoed to the terminal (an exit's message)
        # run-time values by the origin their text carries (file, line and the command's column,
        # which no literal text has: literals carry column 0)
        self.runtime: dict[Origin, RuntimeValue] = {}
        self.token_runtime: dict[int, list[RuntimeValue]] = {}  # id(Token) -> run-time values in it

    # ------------------------------------------------------------------ helpers used by other modules
    def origin(self, node: Node | None) -> Origin:
        if not node:
            return Origin(self.source.name)
        p = node.get("Pos") or {}
        origin, _ = self.source.origin(p.get("Offset", 0), p.get("Line", 0))
        return origin

    def text_at(self, text: str, offset: int, line: int) -> Text:
        if not text:
            return EMPTY
        if self.source.is_file:
            return (Seg(text, Origin(self.source.name, line)),)
        first = self.source.seg_at(offset)
        if first is not None and first is self.source.seg_at(offset + len(text.encode("utf-8", "surrogateescape")) - 1):
            return (Seg(text, first.origin, first.unknown),)  # the whole literal came from one place
        out: list[Seg] = []
        pos = offset
        for ch in text:
            origin, unknown = self.source.origin(pos, line)
            out.append(Seg(ch, origin, unknown))
            pos += len(ch.encode("utf-8", "surrogateescape"))
        return concat(tuple(out))

    def warn(self, node: Node | None, message: str, code: str = "shell-assumption") -> None:
        self.diags.warn(code, message, self.origin(node))

    def note(self, node: Node | None, message: str, code: str = "shell-assumption") -> None:
        self.diags.note(code, message, self.origin(node))

    def fail(self, node: Node | None, message: str) -> None:
        """Bash would print an error and leave the script here."""
        self.warn(node, f"the script would stop here: {message}", code="shell-exit")
        raise ExitScript(1)

    def unknown_text(self, placeholder: str, node: Node | None, why: str) -> Text:
        self.warn(node, f"{why} cannot be known statically; value marked unknown", code="shell-unknown")
        return (Seg(placeholder or "__UNKNOWN__", self.origin(node), True),)

    def runtime_text(self, text: str, command: str, node: Node | None) -> Text:
        """`text` as the assumed value of a run-time value computed by `command` at `node`."""
        base = self.origin(node)
        col = max(1, int(((node or {}).get("Pos") or {}).get("Col", 1) or 1))
        origin = Origin(base.file, base.line, col)
        if origin not in self.runtime:
            self.runtime[origin] = RuntimeValue(command, text.rstrip("\n"), origin)
        return plain(text, origin)

    def runtime_var(self, text: str, name: str, node: Node | None) -> Text:
        """A variable bash sets anew each run ($RANDOM, $$, ...): an assumed value, warned at its line
        because it may also steer the script's control flow."""
        self.warn(node, f"{name} is a run-time value; assumed {text} for evaluation", code="shell-runtime")
        return self.runtime_text(text, name, node)

    def runtime_in(self, value: Text) -> list[RuntimeValue]:
        found: list[RuntimeValue] = []
        if self.runtime:
            for seg in value:
                rv = self.runtime.get(seg.origin)
                if rv is not None and rv not in found:
                    found.append(rv)
        return found

    def ifs(self) -> str:
        var = self.state.lookup("IFS")
        return to_str(var.scalar()) if var is not None else " \t\n"

    def is_visible_path(self, full: str) -> bool:
        full = os.path.abspath(full)
        return any(full == d or full.startswith(d.rstrip("/") + "/") for d in self.visible_dirs)

    def read_var(self, name: str, node: Node | None) -> Var | None:
        var = self.state.lookup(name)
        if (var is None or var.external) and name not in _NOT_KNOBS:
            value = to_str(var.scalar()) if var is not None else None
            self.knobs.read(name, value, var.source if var is not None else "default", self.origin(node))  # type: ignore[arg-type]
        return var

    def note_default(self, name: str, word: Node | None, node: Node) -> None:
        record = self.knobs.records.get(name)
        if record is None or record.has_default:
            return
        var = self.state.lookup(name)
        if var is not None and not var.external:
            return
        self.knobs.default(name, to_str(expand_string(self, word)), self.origin(node))

    def declared_integer(self, name: str) -> bool:
        """`declare -i NAME` happened in this scope or globally, though NAME has no value yet."""
        return bool({(name, 0), (name, len(self.state.scopes))} & self.pending_integers)

    def assign_scalar(self, name: str, value: Text, node: Node | None) -> None:
        var = self.state.lookup(name)
        if (var is not None and var.integer) or (var is None and self.declared_integer(name)):
            value = plain(str(self.arith_of_text(value, node)), self.origin(node))
        self.state.assign(name, value, self.origin(node))

    def assign_scalar_str(self, name: str, value: str, node: Node | None) -> None:
        self.state.assign(name, plain(value, self.origin(node)), self.origin(node))

    def arith_value(self, node: Node | None, words_expanded: bool = False) -> int:
        if node is None:
            return 0
        return Arith(self, node=node).eval(node, words_expanded)

    def arith_of_text(self, value: Text, node: Node | None) -> int:
        """A value assigned to an integer variable (`declare -i`): an error abandons the command."""
        try:
            return Arith(self, node=node).text(to_str(value))
        except ArithError as exc:
            if not exc.unknown:
                self.abort(node, str(exc))
            self.warn(node, f"arithmetic over an unknown value: {exc}; 0 assumed", code="shell-unknown")
            return 0

    def arith_expansion(self, xnode: Node | None, node: Node) -> int | None:
        """An arithmetic expansion (`$(( ))`, an index, a substring offset); None when it depends
        on an unknown value. An error abandons the command as in bash."""
        try:
            return self.arith_value(xnode)
        except ArithError as exc:
            if exc.unknown:
                return None
            self.abort(node, str(exc))
            raise  # not reached

    def param_expansion(self, node: Node, quoted: bool) -> list[Item]:
        """`${...}` and `$name` inside a word (`words.expand_parts` asks here, as for `$( )` and
        `$(( ))`, so that word expansion need not import the modules that call it back)."""
        return expand_param(self, node, quoted)

    def arith_text(self, xnode: Node | None, node: Node) -> Text:
        value = self.arith_expansion(xnode, node)
        if value is None:
            return self.unknown_text("0", node, "an arithmetic expression over an unknown value")
        return plain(str(value), self.origin(node))

    def abort(self, node: Node | None, message: str) -> None:
        """An expansion error: bash prints it, skips the rest of the command (see AbortCommand)."""
        self.warn(node, f"bash error: {message}; bash skips the rest of this command (an unset or empty "
                        "variable?)", code="shell-error")
        raise AbortCommand(message)

    def text_consumed(self, value: Text, count: int) -> Text:
        """What is left of an input after `count` characters were read."""
        return slice_text(value, count)

    def write(self, text: Text) -> None:
        if self.frames:
            frame = self.frames[-1]
            frame.chunks.append(text)
            self._count_output(frame, text)

    def _count_output(self, frame: Frame, text: Text) -> None:
        """A captured output (`$(...)`, a pipe) grows: it is bounded like any value."""
        frame.chars += sum(len(seg.text) for seg in text)
        self.budget.check_chars(frame.chars, "the captured output of a command", None)

    def output_unknown(self, what: str) -> None:
        if self.frames:
            self.frames[-1].unknown.append(what)

    def in_substitution(self) -> bool:
        return any(f.kind == "subst" for f in self.frames)

    def step(self, node: Node) -> None:
        self.budget.step(node, self.origin)  # statements and the deadline (migrate/shell/budget.py)

    # ------------------------------------------------------------------ entry
    def run_file(self, path: str, display: str, invoked_as: Text | None = None) -> None:
        text, tree = parse_file(path, display)
        self.trees.append(tree)
        _refuse_crlf(text, display)
        saved = self.source
        self.source = Source(display, text)
        self.source_stack.insert(0, invoked_as if invoked_as is not None else plain(display, Origin("<arguments>")))
        try:
            self.run_commands(tree.get("Stmts") or [], text)
        finally:
            self.source = saved
            self.source_stack.pop(0)

    def run_text(self, text: Text, name: str, node: Node | None) -> int:
        """`eval` and `bash -c`: parse the string (origins kept per character) and run it."""
        raw = to_str(text)
        try:
            tree = _parse_cached(raw, name)
        except MigrateError as exc:
            self.warn(node, f"cannot parse eval'd text: {exc.message}", code="shell-error")
            return 2
        saved = self.source
        self.source = Source(name, raw, text if text else plain(raw, self.origin(node)))
        try:
            return self.run_commands(tree.get("Stmts") or [], raw)
        finally:
            self.source = saved

    # ------------------------------------------------------------------ statements
    def run_commands(self, stmts: list[Node], text: str) -> int:
        """A script's (or `eval` string's) statements, one complete command at a time as bash
        reads them: an expansion error skips the rest of its line's list, then bash goes on."""
        status = 0
        data = text.encode("utf-8", "surrogateescape")
        skipping: Node | None = None
        for stmt in stmts:
            if skipping is not None and _same_command(skipping, stmt, data):
                skipping = stmt
                continue
            skipping = None
            try:
                status = self.run_stmt(stmt)
            except AbortCommand:
                status = self.state.status = 1
                skipping = stmt
        return status

    def run_stmts(self, stmts: list[Node]) -> int:
        status = 0
        for stmt in stmts:
            status = self.run_stmt(stmt)
        return status

    def run_stmt(self, stmt: Node) -> int:
        self.step(stmt)
        cmd = stmt.get("Cmd")
        saved_stdin = self.stdin
        redirs = stmt.get("Redirs") or []
        stdin = self._stdin_from_redirs(redirs)
        if stdin is not None:
            self.stdin = stdin
        try:
            if redirs and not open_redirects(self, redirs, stmt):
                status = 1  # bash could not open a file: the command does not run
            elif cmd:
                status = self.run_cmd(cmd, stmt)
            else:
                status = 0
                if any(r.get("Op") == "<" for r in redirs):  # `$(< file)` reads a file we never open
                    self.output_unknown("< file")
        finally:
            if stdin is not None:  # a `read` may have consumed part of an outer stdin: keep that
                self.stdin = saved_stdin
        if stmt.get("Negated"):
            status = 0 if status else 1
        self.state.status = status
        exempt, self.errexit_exempt = self.errexit_exempt, False
        if (status != 0 and "errexit" in self.state.options and self.cond_depth == 0 and not exempt
                and not stmt.get("Negated") and not self.status_unknown and _errexit_applies(cmd)):
            self.warn(stmt, f"`set -e`: the script stops here (status {status})", code="shell-exit")
            raise ExitScript(status)
        return status

    def _stdin_from_redirs(self, redirs: list[Node]) -> Text | None:
        stdin = None
        for redir in redirs:
            op = redir.get("Op")
            if op in ("<<", "<<-") and redir.get("Hdoc") is not None:
                hdoc = redir["Hdoc"]
                delim = redir.get("Word") or {}
                quoted = any(p.get("Type") in ("SglQuoted", "DblQuoted") for p in delim.get("Parts") or []) or \
                    "\\" in "".join(p.get("Value", "") for p in delim.get("Parts") or [] if p.get("Type") == "Lit")
                if quoted:
                    raw = "".join(p.get("Value", "") for p in hdoc.get("Parts") or [])
                    stdin = self.text_at(
                        raw, (hdoc.get("Pos") or {}).get("Offset", 0), (hdoc.get("Pos") or {}).get("Line", 0)
                    )
                else:
                    stdin = join_items(expand_parts(self, hdoc.get("Parts") or [], quoted=True))
            elif op == "<<<":
                stdin = concat(expand_string(self, redir.get("Word")), plain("\n", self.origin(redir)))
            elif op == "<":
                stdin = None
        return stdin

    def run_cmd(self, cmd: Node, stmt: Node) -> int:
        kind = cmd.get("Type")
        handler = getattr(self, f"cmd_{kind}", None)
        if handler is None:
            self.warn(cmd, f"unsupported shell construct {kind}; skipped")
            return 0
        return handler(cmd, stmt)

    # -- compound commands
    def condition(self, stmts: list[Node]) -> tuple[int, bool]:
        """Run a condition list; (status, depends on an unknown)."""
        self.cond_depth += 1
        saved = self.status_unknown
        self.status_unknown = False
        try:
            status = self.run_stmts(stmts)
            return status, self.status_unknown
        finally:
            self.cond_depth -= 1
            self.status_unknown = saved

    def cmd_IfClause(self, node: Node, stmt: Node) -> int:
        clause: Node | None = node
        while clause is not None:
            cond = clause.get("Cond")
            if not cond:  # the final else
                return self.run_stmts(clause.get("Then") or [])
            status, unknown = self.condition(cond)
            if unknown:
                self.warn(clause, "`if` condition depends on an unknown value; assumed false (else branch taken)",
                          code="shell-unknown")
                status = 1
            if status == 0:
                return self.run_stmts(clause.get("Then") or [])
            clause = clause.get("Else")
        return 0

    def cmd_WhileClause(self, node: Node, stmt: Node) -> int:
        status = 0
        count = 0
        while True:
            cond_status, unknown = self.condition(node.get("Cond") or [])
            if unknown:
                self.warn(node, "loop condition depends on an unknown value; loop ends", code="shell-unknown")
                break
            if (cond_status == 0) == bool(node.get("Until")):
                break
            count += 1
            if count > self.budget.loop_iterations:
                self.warn(node, f"loop stopped after {self.budget.loop_iterations} iterations "
                                "(limit loop_iterations)", code="shell-loop-bound")
                break
            status, stop = self._loop_body(node, status)
            if stop:
                break
        return status

    def _loop_body(self, node: Node, status: int) -> tuple[int, bool]:
        """One iteration of a loop body: (its status, whether the loop stops).

        `break`/`continue` aimed at an outer loop (`break 2`) travel on with one level used up; a
        `continue` keeps the previous status, as bash does.
        """
        try:
            return self.run_stmts(node.get("Do") or []), False
        except LoopControl as ctl:
            if ctl.levels > 1:
                raise LoopControl(ctl.kind, ctl.levels - 1) from None
            return status, ctl.kind == "break"

    def cmd_ForClause(self, node: Node, stmt: Node) -> int:
        loop = node.get("Loop") or {}
        if loop.get("Type") == "CStyleLoop":
            return self._c_for(node, loop)
        name = loop["Name"]["Value"]
        if loop.get("Items") is None:
            items = list(self.state.positional)
        else:
            items = []
            for word in loop.get("Items") or []:
                items.extend(expand_fields(self, word))
        status = 0
        for count, item in enumerate(items):
            if count >= self.budget.loop_iterations:
                self.warn(node, f"loop stopped after {self.budget.loop_iterations} iterations "
                                "(limit loop_iterations)", code="shell-loop-bound")
                break
            self.state.assign(name, item, self.origin(node))
            status, stop = self._loop_body(node, status)
            if stop:
                break
        return status

    def _c_for(self, node: Node, loop: Node) -> int:
        status = 0
        try:
            if loop.get("Init"):
                self.arith_value(loop["Init"])
            count = 0
            while True:
                if loop.get("Cond") and self.arith_value(loop["Cond"]) == 0:
                    break
                count += 1
                if count > self.budget.loop_iterations:
                    self.warn(node, f"loop stopped after {self.budget.loop_iterations} iterations "
                                    "(limit loop_iterations)", code="shell-loop-bound")
                    break
                status, stop = self._loop_body(node, status)
                if stop:
                    break
                if loop.get("Post"):
                    self.arith_value(loop["Post"])
        except ArithError as exc:
            if exc.unknown:
                self.warn(node, f"for (( )) loop: {exc}; loop ends", code="shell-unknown")
            else:
                self.warn(node, f"bash error: for (( )): {exc}; the loop ends with status 1", code="shell-error")
                status = 1
        return status

    def _case_matches(self, regex: str, text: str, node: Node) -> bool:
        try:
            return rx.fullmatch(regex, text, dotall=True, budget=self.budget)
        except rx.Unsupported as exc:
            self.warn(node, f"`case` pattern not evaluated ({exc}); assumed not to match", code="shell-unknown")
            return False

    def cmd_CaseClause(self, node: Node, stmt: Node) -> int:
        subject = expand_string(self, node.get("Word"))
        text = to_str(subject)
        unknown = is_unknown(subject)
        items = node.get("Items") or []
        i = 0
        if unknown:
            self.warn(node, "`case` subject is unknown; only a `*)` branch is taken", code="shell-unknown")
        while i < len(items):
            item = items[i]
            matched = False
            for pattern in item.get("Patterns") or []:
                regex, _ = expand_pattern(self, pattern)
                if unknown:
                    matched = regex == ".*"
                elif self._case_matches(regex, text, node):
                    matched = True
                if matched:
                    break
            if matched:
                status = self.run_stmts(item.get("Stmts") or [])
                op = item.get("Op", ";;")
                while op == ";&" and i + 1 < len(items):
                    i += 1
                    status = self.run_stmts(items[i].get("Stmts") or [])
                    op = items[i].get("Op", ";;")
                if op != ";;&":
                    return status
            i += 1
        return 0

    def cmd_Block(self, node: Node, stmt: Node) -> int:
        return self.run_stmts(node.get("Stmts") or [])

    def cmd_Subshell(self, node: Node, stmt: Node) -> int:
        saved = self.state
        self.state = saved.copy()
        try:
            return self.run_stmts(node.get("Stmts") or [])
        except ExitScript as exc:
            return exc.status
        except AbortCommand:
            return 1  # the subshell was the whole command
        finally:
            self.state = saved

    def cmd_BinaryCmd(self, node: Node, stmt: Node) -> int:
        op = node.get("Op")
        if op in ("&&", "||"):
            status, unknown = self.condition([node["X"]])
            if unknown:
                self.warn(node, f"`{op}` list depends on an unknown value; assumed to have failed",
                          code="shell-unknown")
                status = 1
            if (op == "&&" and status == 0) or (op == "||" and status != 0):
                return self.run_stmt(node["Y"])
            self.errexit_exempt = True  # `set -e` ignores a failure before the last && / ||
            return status
        return self.pipeline(node)

    def pipeline(self, node: Node) -> int:
        stages: list[Node] = []
        cur: Node = node
        while cur.get("Type") == "BinaryCmd" and cur.get("Op") in ("|", "|&"):
            stages.insert(0, cur["Y"])
            inner = cur["X"]
            if inner.get("Cmd", {}).get("Type") == "BinaryCmd" and inner["Cmd"].get("Op") in ("|", "|&"):
                cur = inner["Cmd"]
            else:
                stages.insert(0, inner)
                break
        stdin = self.stdin
        status = 0
        for index, stage in enumerate(stages):
            last = index == len(stages) - 1
            frame = Frame("pipe")
            self.frames.append(frame)
            saved_state, saved_stdin = self.state, self.stdin
            self.state = saved_state.copy()
            self.stdin = stdin
            try:
                status = self.run_stmt(stage)
            except ExitScript as exc:
                status = exc.status
            except AbortCommand:
                status = 1  # each stage is a subshell
            finally:
                self.frames.pop()
                self.state, self.stdin = saved_state, saved_stdin
            if frame.unknown:
                stdin = None
                if last:
                    self.output_unknown(frame.unknown[0])
            else:
                stdin = concat(*frame.chunks)
                if last:
                    self.write(stdin)
        return status

    def cmd_FuncDecl(self, node: Node, stmt: Node) -> int:
        if not node.get("Name"):  # `():` gives shfmt a function with no name; bash refuses the line
            raise MigrateError("cannot parse script: a function definition with no name",
                               origin=self.origin(node))
        self.state.functions[node["Name"]["Value"]] = (node["Body"], self.source)
        return 0

    def cmd_ArithmCmd(self, node: Node, stmt: Node) -> int:
        try:
            return 0 if self.arith_value(node.get("X")) != 0 else 1
        except ArithError as exc:
            if exc.unknown:
                self.status_unknown = True
                return 1
            self.warn(node, f"bash error: (( )): {exc}; status 1", code="shell-error")
            return 1

    def cmd_LetClause(self, node: Node, stmt: Node) -> int:
        value = 0
        for expr in node.get("Exprs") or []:
            try:
                value = self.arith_value(expr, words_expanded=True)
            except ArithError as exc:
                if exc.unknown:
                    self.status_unknown = True
                    return 1
                self.warn(node, f"bash error: let: {exc}; status 1", code="shell-error")
                return 1
        return 0 if value != 0 else 1

    def cmd_TestClause(self, node: Node, stmt: Node) -> int:
        status, unknown = test_clause(self, node["X"])
        if unknown:
            self.status_unknown = True
        return status

    def cmd_TimeClause(self, node: Node, stmt: Node) -> int:
        return self.run_stmt(node["Stmt"]) if node.get("Stmt") else 0

    def cmd_CoprocClause(self, node: Node, stmt: Node) -> int:
        self.warn(node, "coproc is not evaluated")
        return 0

    def cmd_TestDecl(self, node: Node, stmt: Node) -> int:
        return 0

    def cmd_DeclClause(self, node: Node, stmt: Node) -> int:
        return bi.declare(self, node)

    # -- simple commands
    def cmd_CallExpr(self, node: Node, stmt: Node) -> int:
        assigns = node.get("Assigns") or []
        args = node.get("Args") or []
        self.subst_status = 0
        if not args:
            for assign in assigns:
                bi.assign(self, assign, mode="plain")
            return self.subst_status  # `X=$(false)` fails: bash gives the last substitution's status
        fields: list[Text] = []
        for word in args:
            fields.extend(expand_fields(self, word))
        if not fields:
            for assign in assigns:
                bi.assign(self, assign, mode="plain")
            return self.subst_status
        prefix = [(a["Name"]["Value"], expand_string(self, a.get("Value")), a) for a in assigns if a.get("Name")]
        return self.run_words(fields, prefix, node)

    def run_words(self, fields: list[Text], prefix: list[tuple[str, Text, Node]], node: Node) -> int:
        words = [to_str(f) for f in fields]
        name = words[0]
        if name in ("exec", "command", "builtin", "nohup") and len(words) > 1 and not words[1].startswith("-"):
            return self.run_words(fields[1:], prefix, node)
        if name in self.state.functions and name not in ("command", "builtin"):
            return self.call_function(name, fields, prefix, node)
        handler = bi.BUILTINS.get(name)
        if handler is not None:
            if not prefix:
                return handler(self, fields, node)
            self.state.scopes.append({p: Var(v, exported=True, origin=self.origin(a)) for p, v, a in prefix})
            try:  # `IFS=, read ...`: the assignments hold for this builtin only
                return handler(self, fields, node)
            finally:
                self.state.scopes.pop()
        if name in ("mkdir", "touch"):
            record_created(self, words)
        if not self.in_substitution():
            tokens = self.tokens(fields, node)
            launch = find_launch(self.wrappers + tokens)
            if launch is not None:
                raise Launched(launch, self.launch_env(prefix))
            if bi.run_child_shell(self, fields, tokens, node):
                return self.state.status
        output = run_model(self, words, None if self.stdin is None else to_str(self.stdin))
        if output is not None:
            if output.assumption:
                self.note(node, output.assumption)
            if output.runtime:
                import shlex

                self.write(self.runtime_text(output.text, shlex.join(words), node))
            else:
                self.write(plain(output.text, self.origin(node)))
            return output.status
        if self.frames:
            self.output_unknown(" ".join(words[:3]))  # named in the warning
        self.seen.append((name, self.origin(node)))
        if self.cond_depth:
            self.status_unknown = True
        return 0

    def tokens(self, fields: list[Text], node: Node) -> list[Token]:
        fallback = self.origin(node)
        tokens = [Token(to_str(f), first_origin(f, fallback), is_unknown(f)) for f in fields]
        if self.runtime:
            for token, field in zip(tokens, fields):
                found = self.runtime_in(field)
                if found:
                    self.token_runtime[id(token)] = found
        return tokens

    def launch_env(self, prefix: list[tuple[str, Text, Node]]) -> dict[str, EnvVar]:
        env: dict[str, EnvVar] = {}
        for name, var in self.state.exported().items():
            if var.external or not var.script_export:
                continue
            value = var.scalar()
            env[name] = EnvVar(name, to_str(value), var.origin or first_origin(value, Origin(self.display)),
                               is_unknown(value))
            self.note_runtime_use(value, f"env:{name}")
        for name, value, assign in prefix:
            env[name] = EnvVar(name, to_str(value), self.origin(assign), is_unknown(value))
            self.note_runtime_use(value, f"env:{name}")
        return env

    def note_runtime_use(self, value: Text, where: str) -> None:
        for rv in self.runtime_in(value):
            if where not in rv.used_in:
                rv.used_in.append(where)

    def call_function(self, name: str, fields: list[Text], prefix: list[tuple[str, Text, Node]], node: Node) -> int:
        if self.state.call_depth >= self.budget.call_depth:
            raise MigrateError(
                f"function `{name}` recursed deeper than {self.budget.call_depth} calls",
                origin=self.origin(node),
                hint="if this recursion is intended, raise the limit: PRIMUS_MIGRATE_LIMITS=call_depth=N",
            )
        body, source = self.state.functions[name]
        saved_positional, saved_source = self.state.positional, self.source
        self.source = source  # origins inside the body name the file the function was written in
        self.state.positional = list(fields[1:])
        self.state.scopes.append({})
        for pname, value, assign in prefix:
            self.state.scopes[-1][pname] = Var(value, exported=True, origin=self.origin(assign))
        self.state.call_depth += 1
        try:
            return self.run_stmt(body)
        except ReturnFn as ret:
            return ret.status
        finally:
            self.state.call_depth -= 1
            self.state.scopes.pop()
            self.pending_integers = {p for p in self.pending_integers if p[1] <= len(self.state.scopes)}
            self.state.positional = saved_positional
            self.source = saved_source

    # -- command substitution
    def command_subst(self, node: Node) -> Text:
        frame = Frame("subst")
        saved = self.state
        self.state = saved.copy()
        self.frames.append(frame)
        saved_stdin = self.stdin
        self.stdin = None
        try:
            status = self.run_stmts(node.get("Stmts") or [])
        except (ExitScript, ReturnFn) as exc:
            status = exc.status
        except LoopControl:
            status = 0
        except AbortCommand:
            status = 1  # the substitution's shell gives up; what it printed so far is kept
        finally:
            self.frames.pop()
            self.state = saved
            self.stdin = saved_stdin
        self.state.status = self.subst_status = status
        if frame.unknown:
            # one inert word: survives splitting and `eval` without meaning anything to the shell
            placeholder = "__UNKNOWN_" + re.sub(r"[^A-Za-z0-9_]", "_", frame.unknown[0].split(" ")[0]) + "__"
            return self.unknown_text(placeholder, node,
                                     f"the output of `{frame.unknown[0]}` (command substitution)")
        value = concat(*frame.chunks)
        text = to_str(value)
        return slice_text(value, 0, len(text.rstrip("\n")))

    # ------------------------------------------------------------------ result
    def plan(self, launch: Launch, env: dict[str, EnvVar]) -> LaunchPlan:
        for index, token in enumerate(launch.argv):
            for rv in self.token_runtime.get(id(token), ()):
                if "argv" not in rv.used_in:
                    rv.used_in.append("argv")
                rv.argv_tokens.append(index)
        return LaunchPlan(
            script=self.display,
            launcher=launch.launcher,
            entry=launch.entry,
            argv=launch.argv,
            env=env,
            knobs=self.knobs.knobs(self.trees),
            diagnostics=self.diags,
            runtime=[rv for rv in self.runtime.values() if rv.used_in],
            cwd=self.state.cwd,
        )


_NOT_KNOBS = frozenset({"PWD", "IFS", "OLDPWD", "OPTIND", "OPTARG", "BASH_REMATCH", "RANDOM", "SRANDOM",
                        "BASHPID", "HOSTNAME", "LINENO", "SECONDS", "REPLY", "MAPFILE"})


def _errexit_applies(cmd: Node | None) -> bool:
    """`set -e` reacts to simple commands, tests, arithmetic, subshells and pipelines; a compound
    command's non-zero status comes from a failure already exempted (or already acted on) inside it."""
    if not cmd:
        return False
    kind = cmd.get("Type")
    if kind == "BinaryCmd":
        return cmd.get("Op") in ("|", "|&")
    return kind in ("CallExpr", "TestClause", "ArithmCmd", "LetClause", "DeclClause", "Subshell")


def _same_command(prev: Node, stmt: Node, data: bytes) -> bool:
    """Whether `stmt` follows `prev` in the same complete command (`a; b` on one line): bash reads
    a script line by line, so only a newline (not an escaped one) between them separates them."""
    end = ((prev.get("End") or {}).get("Offset"))
    start = ((stmt.get("Pos") or {}).get("Offset"))
    if end is None or start is None:
        return False
    return b"\n" not in data[end:start].replace(b"\\\n", b"")


def _refuse_crlf(text: str, display: str) -> None:
    """Bash reads `then` followed by a carriage return as a word, not a keyword: a CRLF script
    does not run as it reads, so it is refused (with the fix) rather than converted."""
    at = text.find("\r\n")
    if at < 0:
        return
    raise MigrateError(
        f"{display} has Windows (CRLF) line endings; bash would fail on it (it reads `then\\r`, not `then`)",
        origin=Origin(display, text.count("\n", 0, at) + 1),
        hint=f"convert it to Unix line endings first: dos2unix {display}",
    )


_TEXT_CACHE: dict[tuple[str, str], Node] = {}


def _parse_cached(text: str, name: str) -> Node:
    key = (text, name)
    tree = _TEXT_CACHE.get(key)
    if tree is None:
        tree = parse_text(text, name)
        if len(_TEXT_CACHE) > 512:
            _TEXT_CACHE.clear()
        _TEXT_CACHE[key] = tree
    return tree


def refuse_unusable_script(script: str, display: str) -> None:
    """A folder, a pipe or a device, or nothing at all, named as the script: say which (never read it)."""
    if os.path.isdir(script):
        raise MigrateError("this is a directory, not a script", origin=Origin(display),
                           hint="name the launch script inside it, or use `primus-migrate batch` for a whole folder")
    if os.path.exists(script) and not os.path.isfile(script):
        raise MigrateError("this is not a regular file (a pipe or a device), not a script", origin=Origin(display),
                           hint="name the launch script file itself")
    if not os.path.isfile(script):
        raise MigrateError(f"script not found: {display}", origin=Origin(display))


def evaluate_script(path: str | os.PathLike, env: dict[str, str] | None = None, args: Sequence[str] = (),
                    options: EvalOptions | None = None) -> LaunchPlan:
    """What `KEY=VALUE... bash SCRIPT ARGS...` would launch, found without running it."""
    options = options or EvalOptions()
    display = os.fspath(path)
    script = display
    if options.cwd and not os.path.isabs(script):
        script = os.path.join(options.cwd, script)
    refuse_unusable_script(script, display)
    ev = Evaluator(display, display, dict(env or {}), list(args), options)
    cap = limits.memory_cap("eval_memory")
    try:
        with cap:
            ev.run_file(script, display)
    except MemoryError:
        if not cap.applied:
            raise  # a stricter cap of the caller's (a batch worker's) ran out: its own report
        raise limits.exceeded("eval_memory", "evaluation ran out of memory", Origin(display)) from None
    except Launched as launched:
        return ev.plan(launched.launch, launched.env)
    except ExitScript as exc:
        ev.diags.note("shell-exit", f"script exits with status {exc.status} before launching training")
    except ReturnFn:
        pass
    except LoopControl:
        pass
    except RecursionError:
        raise MigrateError("script nesting is too deep to evaluate", origin=Origin(display)) from None
    seen = ", ".join(f"{name} ({origin})" for name, origin in ev.seen[:40]) or "none"
    exits = [d for d in ev.diags if d.code == "shell-exit" and d.origin is not None and d.origin.line]
    where = f"; the script exits at {exits[-1].origin}" if exits else ""
    from migrate.shell.choices import describe, unsupported_choices

    unsupported = unsupported_choices(ev.knobs.knobs(ev.trees)) if exits else []
    if unsupported:  # MODEL_SIZE=9 on a script offering 8 and 70: say that, not "no launch found"
        message, hint = describe(unsupported)
        raise MigrateError(f"{message}; it stops before its training launch{where}", origin=Origin(display), hint=hint)
    from migrate.shell.gates import explain, probe_with

    gated = explain(ev.knobs.knobs(ev.trees), list(ev.diags), display, dict(env or {}),
                    probe_with(evaluate_script, path, args, options))
    if gated is not None:  # ARCH unset in a script offering gfx942 and gfx950: say what it needs
        raise gated
    raise MigrateError(
        f"no training launch found in {display}{where}; external commands seen: {seen}",
        origin=Origin(display),
        hint="the launch is the first torchrun/python/deepspeed command running a pretrain_*.py or *train*.py entry",
    )
