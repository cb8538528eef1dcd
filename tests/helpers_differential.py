"""Differential testing of the shell evaluator against real bash on generated launch scripts.

`generate(seed)` writes a random but realistic launch script (knob defaults, `$(( ))` over unset and
empty variables, `let`, `declare -i`, parameter operators, if/elif/case, loops, arrays, ARGS
concatenation, helper functions, several commands on one line, a launcher at the end) and the
KEY=VALUE knobs it is run with. `run_cases` runs a batch of them under bash, each in its own
directory with its own HOME and TMPDIR and the launchers stubbed to record their argv, and through
`evaluate_script`; `compare` says for each case whether both launched the same argv, and when not,
whether the evaluator warned at a line of the script (a flagged difference) or not (silent).

Speed: one bash process drives the batch (each case is still its own `bash script.sh` with a fresh
environment from `env -i`), and the batch's scripts are parsed by one shfmt run (each script inside
a `{ }` block of one file, its positions shifted back) instead of one shfmt per script.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from helpers_shell import BASH, ENTRY_RE

# -- generation ------------------------------------------------------------------------------
KNOBS = ["TP", "PP", "MBS", "GBS", "LAYERS", "HIDDEN", "SEQ", "LR", "MODE", "EXTRA", "E", "U"]
KNOB_VALUES = ["", "", "0", "1", "2", "4", "8", "16", "3e-4", "a b", "1+2", "-1", "08", "0x10", "x", "yes",
               "9223372036854775807", "99999999999999999999", "2*3", "--flag", "TP", "-3"]
OPERANDS_SAFE = ["1", "2", "4", "8", "0", "7", "16#1f", "010", "0x3"]
BINOPS = ["+", "-", "*", "/", "%", "**", "<<", ">>", "&", "|", "^", "==", "!=", "<", ">", "<=", "&&", "||"]
WORDS = ["--use-flash-attn", "--bf16", "--seq $SEQ", "--lr ${LR:-1e-4}", "--x \"$MODE\"", "--n ${#MODE}",
         "\"$EXTRA\"", "$EXTRA", "${EXTRA:+--extra $EXTRA}", "--tp ${TP}", "--name ${MODE:-default}_${TP}"]


class _Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.depth = 0
        self.vars = list(KNOBS) + ["N", "M"]  # not the loop counters (J, K): bash would loop forever

    def pick(self, seq):
        return self.r.choice(seq)

    def var(self) -> str:
        return self.pick(self.vars)

    # arithmetic text written inside $(( )) / (( )) / let
    def operand(self) -> str:
        r = self.r.random()
        if r < 0.3:
            return self.pick(OPERANDS_SAFE)
        if r < 0.55:
            return "$" + self.var()
        if r < 0.75:
            return self.var()
        if r < 0.85:
            return "${%s:-%s}" % (self.var(), self.pick(OPERANDS_SAFE))
        if r < 0.92:
            return "${#%s}" % self.var()
        return "( %s )" % self.arith(2)

    def arith(self, depth: int = 3) -> str:
        if depth <= 0 or self.r.random() < 0.35:
            x = self.operand()
            if self.r.random() < 0.1:
                return self.pick(["-", "!", "~"]) + x
            return x
        if self.r.random() < 0.08:
            return f"{self.arith(depth - 1)} ? {self.arith(depth - 1)} : {self.arith(depth - 1)}"
        return f"{self.arith(depth - 1)} {self.pick(BINOPS)} {self.arith(depth - 1)}"

    def value_word(self) -> str:
        return self.pick(["1", "4", "\"$MODE\"", "${TP:-1}", "\"a b\"", "x$N", "$((%s))" % self.arith(2),
                          "\"${LAYERS:-24}\"", "$EXTRA", "${HIDDEN:=1024}", "${SEQ:+$SEQ}", "${MODE#*-}",
                          "${MODE%%.*}", "${MODE/a/b}", "${MODE^^}", "${MODE:1:2}", "\"${ARR[@]}\"",
                          "${ARR[1]}", "${#ARR[@]}", "$(printf '%%*s' ${TP:-2} ab)",
                          "$(printf '%%03d' \"$N\")", "$(echo $MODE)", "~/data", "$HOME/x"])

    def simple(self) -> str:
        v = self.var()
        choices = [
            lambda: f"{v}=${{{v}:-{self.pick(OPERANDS_SAFE)}}}",
            lambda: f": ${{{v}:={self.pick(OPERANDS_SAFE)}}}",
            lambda: f"{v}={self.value_word()}",
            lambda: f"export {v}={self.value_word()}",
            lambda: f"{v}=$(( {self.arith()} ))",
            lambda: f"N=$(( ${self.var()} * 2 ))",
            lambda: f"let \"{v}={self.arith(2)}\"",
            lambda: f"let '{v}={self.arith(2)}'",
            lambda: f"let '{v}=${{{self.var()}:-5}} + 1'",
            lambda: f"declare -i {v}=\"{self.arith(2)}\"",
            lambda: f"declare -i {v}='${{{self.var()}:-5}} + 1'",
            lambda: f"declare -i {v}; {v}=\"{self.arith(1)}\"",
            lambda: f"(( {v} += {self.arith(1)} ))",
            lambda: f"(( {self.arith(2)} )) && ARGS=\"$ARGS --a{self.r.randint(0, 9)}\"",
            lambda: f"ARGS=\"$ARGS {self.pick(WORDS)}\"",
            lambda: f"ARGS=\"$ARGS --{v.lower()} ${v}\"",
            lambda: f"ARR+=({self.pick(WORDS)} {self.value_word()})",
            lambda: f"ARR=(--a {self.value_word()})",
            lambda: f"add_arg --{v.lower()} \"${{{v}:-none}}\"",
            lambda: f"M=$(printf \"%*s\" {self.pick(['4', '$TP', '-3'])} ab); ARGS=\"$ARGS --m=$M\"",
            lambda: f"I=$(printf \"%.*f\" {self.pick(['2', '$PP', '0'])} 3.14159); ARGS=\"$ARGS $I\"",
            lambda: f"[ \"${v}\" -gt {self.pick(OPERANDS_SAFE[:6])} ] && ARGS=\"$ARGS --gt{v}\"",
            lambda: f"{v}=$(( {self.arith(1)} )); ARGS=\"$ARGS --{v.lower()}=${v}\"",
            lambda: self.pick(["mkdir -p logs", "mkdir -p cfg/$MODE", "mkdir -p ~/cache"]),
            lambda: f"eval '{v}=$(( {self.arith(1)} )); ARGS=\"$ARGS --ev ${v}\"'",
            lambda: f"( {v}=$(( {self.arith(1)} )); exit ${{{v}:-0}} ) || ARGS=\"$ARGS --sub $?\"",
            lambda: self.pick(['echo "$ARGS" > logs/args.txt', 'echo x >> cfg/$MODE/x.json',
                               'echo "$ARGS" > ~/cache/a.txt', 'read -r N < logs/args.txt; ARGS="$ARGS $N"',
                               'cat > cfg/$MODE/c.json <<EOF\n{"tp": "$TP"}\nEOF']),
        ]
        return self.pick(choices)()

    def line(self) -> str:
        if self.r.random() < 0.25:
            parts = [self.simple() for _ in range(self.r.randint(2, 3))]
            return "; ".join(p for p in parts if "\n" not in p) or parts[0]  # a heredoc ends its line
        return self.simple()

    def cond(self) -> str:
        v = self.var()
        return self.pick([
            f"[ \"${v}\" = \"{self.pick(KNOB_VALUES)}\" ]",
            f"[ \"${v}\" -gt {self.pick(OPERANDS_SAFE[:6])} ]",
            f"[ \"${{{v}:-0}}\" -le {self.pick(OPERANDS_SAFE[:6])} ]",
            f"[[ ${v} == {self.pick(['1*', '*b*', 'x', '?'])} ]]",
            f"[[ ${v} -eq {self.pick(OPERANDS_SAFE + ['$N', 'N', '${#MODE}', '${TP:-1}'])} ]]",
            f"(( {self.arith(2)} ))",
            f"[ -z \"${v}\" ]",
            f"[ -n \"${{{v}:-}}\" ]",
            f"[ \"${v}\" != \"\" ] && [ \"${v}\" != 0 ]",
        ])

    def body(self, indent: str) -> list[str]:
        self.depth += 1
        out = [indent + s for _ in range(self.r.randint(1, 2)) for s in self.block(indent)]
        self.depth -= 1
        return out

    def block(self, indent: str) -> list[str]:
        r = self.r.random()
        if self.depth >= 2 or r < 0.6:
            return [self.line()]
        if r < 0.7:
            out = [f"if {self.cond()}; then", *self.body("  ")]
            for _ in range(self.r.randint(0, 1)):
                out += [f"elif {self.cond()}; then", *self.body("  ")]
            if self.r.random() < 0.5:
                out += ["else", *self.body("  ")]
            return out + ["fi"]
        if r < 0.8:
            v = self.var()
            out = [f"case \"${v}\" in"]
            for pat in self.r.sample(["1", "2|4", "8*", "a*", "\"a b\"", "x|yes", "''"], 2) + ["*"]:
                out += [f"  {pat})", *["  " + s for s in self.body("  ")], "    ;;"]
            return out + ["esac"]
        if r < 0.88:
            items = self.pick(["1 2 3", "$MODE", '"${ARR[@]}"', "a b"])
            return [f"for i in {items}; do",
                    *self.body("  "), "  ARGS=\"$ARGS --i$i\"", "done"]
        if r < 0.94:
            j = f"J{self.depth}"  # one counter per nesting level
            return [f"for (( {j} = 0; {j} < {self.pick(['${TP:-2}', '3', '$PP'])} && {j} < 4; {j}++ )); do",
                    *self.body("  "), "done"]
        k = f"K{self.depth}"
        return [f"{k}=0", f"while [ ${k} -lt 2 ]; do", f"  {k}=$(({k}+1))", *self.body("  "), "done"]

    def launch(self) -> str:
        tail = self.pick(["$ARGS", "${ARGS} \"${ARR[@]}\"", "$ARGS --tp $TP --pp ${PP:-1} ${ARR[*]}",
                          "--num-layers ${LAYERS:-2} --mbs $MBS $ARGS"])
        return self.pick([
            f"torchrun --nproc_per_node 8 pretrain_gpt.py {tail}",
            f"python -m torch.distributed.run --nproc_per_node=${{GPUS:-8}} pretrain_gpt.py {tail}",
            f"python pretrain_gpt.py {tail}",
            f"torchrun $DIST_ARGS pretrain_gpt.py {tail}",
        ])


@dataclass
class Case:
    seed: int
    script: str
    env: dict[str, str]
    args: list[str] = field(default_factory=list)


def generate(seed: int, variants: int = 1) -> list[Case]:
    """One generated script, run with `variants` different sets of knobs (they share one parse)."""
    g = _Gen(seed)
    lines = ["#!/bin/bash"]
    if g.r.random() < 0.2:
        lines.append(g.pick(["set -e", "set -eo pipefail", "set -x", "set -u"]))
    from_args = g.r.random() < 0.3  # knobs given as KEY=VALUE arguments
    if from_args:
        lines.append('for ARG in "$@"; do export "$ARG"; done')
    lines += ['add_arg() { ARGS="$ARGS $*"; }', 'ARGS=""', 'DIST_ARGS="--nproc_per_node 8 --nnodes 1"']
    for _ in range(g.r.randint(2, 6)):
        lines += g.block("")
    lines.append(g.launch())
    script = "\n".join(lines) + "\n"
    cases = []
    for _ in range(variants):
        env = {k: g.pick(KNOB_VALUES) for k in g.r.sample(KNOBS, g.r.randint(0, 6))}
        if from_args:
            cases.append(Case(seed, script, {}, [f"{k}={v}" for k, v in env.items()]))
        else:
            cases.append(Case(seed, script, env))
    return cases


def generate_many(first_seed: int, scripts: int, variants: int) -> list[Case]:
    return [case for seed in range(first_seed, first_seed + scripts) for case in generate(seed, variants)]


# -- running ---------------------------------------------------------------------------------
_STUB = 'printf \'%s\\0\' "${0##*/}" "$@" $\'\\x1e\' >> "$STUB_RECORD"\n'
LAUNCHERS = ["torchrun", "python", "python3", "deepspeed"]


@dataclass
class Outcome:
    case: Case
    bash_argv: list[str] | None  # the launch bash made (launcher basename first), None: none
    tool_argv: list[str] | None  # the evaluator's, None: it found no launch
    tool_error: str | None  # the evaluator refused (MigrateError, 'no training launch' included)
    warned_lines: list[int]  # lines of the script the evaluator warned at

    @property
    def same(self) -> bool:
        """Both launched the same argv, or neither launched (the evaluator then refuses)."""
        return self.bash_argv == self.tool_argv

    @property
    def silent(self) -> bool:
        """A difference with neither a refusal (exit 2) nor a warning at a line of the script."""
        return not self.same and self.tool_error is None and not self.warned_lines


def _write_cases(root: Path, cases: list[Case]) -> list[Path]:
    stubs = root / "_stubs"
    stubs.mkdir(parents=True, exist_ok=True)
    for name in LAUNCHERS:
        (stubs / name).write_text("#!" + BASH + "\n" + _STUB)
        (stubs / name).chmod(0o755)
    dirs = []
    for i, case in enumerate(cases):
        d = root / f"c{i}"
        (d / "home").mkdir(parents=True, exist_ok=True)
        (d / "tmp").mkdir(exist_ok=True)
        for side in ("bash", "tool"):  # bash creates files while the evaluator looks: one folder each
            (d / side).mkdir(exist_ok=True)
            (d / side / "script.sh").write_text(case.script)
        dirs.append(d)
    return dirs


def _start_bash(root: Path, cases: list[Case], dirs: list[Path]) -> subprocess.Popen:
    """One driver bash runs every case as `bash script.sh` in its own directory, from a subshell
    that exports only that case's environment (the driver's own is PATH, LC_ALL, HOME, TMPDIR)."""
    lines = []
    for case, d in zip(cases, dirs):
        env = {"HOME": str(d / "home"), "TMPDIR": str(d / "tmp"), "STUB_RECORD": str(d / "record"), **case.env}
        exports = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        argv = " ".join(shlex.quote(a) for a in case.args)
        where = shlex.quote(str(d / "bash"))
        # ulimit (a builtin, no extra process per case) ends a runaway case: 5 s of CPU, 2 GB
        lines.append(f"(cd {where} && ulimit -t 5 -v 2000000 && export {exports} && exec {BASH} ./script.sh {argv}"
                     " </dev/null >/dev/null 2>&1)")
    (root / "driver.sh").write_text("\n".join(lines) + "\n")
    return subprocess.Popen([BASH, str(root / "driver.sh")], cwd=root,
                            env={"PATH": f"{root / '_stubs'}:/usr/bin:/bin", "LC_ALL": "C", "HOME": str(root),
                                 "TMPDIR": str(root)})


def _bash_launches(dirs: list[Path]) -> list[list[str] | None]:
    out: list[list[str] | None] = []
    for d in dirs:
        record = d / "record"
        launch = None
        if record.exists():
            for call in record.read_bytes().decode("utf-8", "surrogateescape").split("\x1e\0"):
                words = call.split("\0")[:-1] if call else []
                if words and any(ENTRY_RE.fullmatch(w) for w in words[1:]):
                    launch = words
                    break
        out.append(launch)
    return out


def _shift(node, offset: int, line: int):
    """Positions of a tree cut out of the batch file, made relative to the case's own file."""
    if isinstance(node, list):
        for item in node:
            _shift(item, offset, line)
    elif isinstance(node, dict):
        for value in node.values():
            if isinstance(value, dict) and "Offset" in value and "Line" in value and len(value) <= 3:
                value["Offset"] -= offset
                value["Line"] -= line
            elif isinstance(value, (dict, list)):
                _shift(value, offset, line)


def _parse_batch(cases: list[Case]) -> list[dict | None]:
    """Every case's tree from one shfmt run (None: shfmt rejects the script; it is then parsed,
    and refused, on its own like any script). Cases of one script share its tree (read-only)."""
    scripts = list(dict.fromkeys(case.script for case in cases))
    unique = [Case(0, text, {}) for text in scripts]
    trees: list[dict | None] = [None] * len(unique)
    todo = list(range(len(unique)))
    while todo:
        failed = _parse_some(unique, todo, trees)
        if failed is None:
            break
        todo.remove(failed)
    by_text = dict(zip(scripts, trees))
    return [by_text[case.script] for case in cases]


def _parse_some(cases: list[Case], todo: list[int], trees: list[dict | None]) -> int | None:
    from migrate.shell.syntax import shfmt_binary

    chunks, starts, first_lines = [], [], []
    offset = line = 0
    for i in todo:
        head = "{\n"
        starts.append(offset + len(head))
        first_lines.append(line + 1)
        chunk = head + cases[i].script + "}\n"
        chunks.append(chunk)
        offset += len(chunk.encode())
        line += chunk.count("\n")
    proc = subprocess.run([shfmt_binary(), "--to-json", "-ln", "bash"], input="".join(chunks).encode(),
                          capture_output=True, check=False)
    if proc.returncode != 0:  # the case holding the error line is left to the ordinary path
        at = int(proc.stderr.decode().split(":", 1)[0] or 1)
        return todo[max(k for k, first in enumerate(first_lines) if first <= at)]
    tree = json.loads(proc.stdout)
    blocks = tree["Stmts"]
    if len(blocks) != len(todo) or any(b["Pos"]["Offset"] != start - 2 for b, start in zip(blocks, starts)):
        return None  # cases ran into each other (a heredoc): leave them all to the ordinary path
    for i, stmt, start, first_line in zip(todo, blocks, starts, first_lines):
        sub = {"Type": "File", "Stmts": stmt["Cmd"].get("Stmts") or []}
        _shift(sub, start, first_line)
        trees[i] = sub
    return None


def _run_tool(cases: list[Case], dirs: list[Path], trees: list[dict | None]) -> list[tuple]:
    from migrate.diagnostics import MigrateError
    from migrate.shell import evaluate as ev_module

    known = {str(d / "tool" / "script.sh"): (case.script, tree) for case, d, tree in zip(cases, dirs, trees)}
    original = ev_module.parse_file

    def parse_file(path, display):
        hit = known.get(os.fspath(path))
        if hit is not None and hit[1] is not None:
            return hit
        return original(path, display)

    ev_module.parse_file = parse_file
    results = []
    try:
        for case, d in zip(cases, dirs):
            env = {"HOME": str(d / "home"), **case.env}
            try:
                results.append(_evaluate(ev_module, str(d / "tool" / "script.sh"), env, case.args, str(d / "tool")))
            except MigrateError as exc:  # a refusal
                lines = [exc.origin.line] if exc.origin is not None and exc.origin.line else []
                results.append((None, exc.message, lines))
    finally:
        ev_module.parse_file = original
    return results


def _evaluate(ev_module, script: str, env: dict[str, str], args: list[str], cwd: str) -> tuple:
    """`evaluate_script` up to the launch, without the plan's knob table (a third of the time):
    (argv words or None when no launch, 'no training launch' or None, lines warned at)."""
    ev = ev_module.Evaluator(script, script, env, args, ev_module.EvalOptions(gpus_per_node=8, cwd=cwd))
    try:
        ev.run_file(script, script)
    except ev_module.Launched as launched:
        launch = launched.launch
        words = [t.value for w in launch.launcher.wrappers for t in w]
        words += [t.value for t in launch.launcher.argv] + [launch.entry] + [t.value for t in launch.argv]
        words[0] = os.path.basename(words[0])
        return words, None, _warned(ev.diags)
    except (ev_module.ExitScript, ev_module.ReturnFn, ev_module.LoopControl):
        pass
    return None, "no training launch found", _warned(ev.diags)


def _warned(diags) -> list[int]:
    if diags is None:
        return []
    return sorted({d.origin.line for d in diags.warnings if d.origin is not None and d.origin.line
                   and d.origin.file.endswith("script.sh")})


def run_cases(root: Path, cases: list[Case], timeout: float = 600) -> list[Outcome]:
    dirs = _write_cases(root, cases)
    driver = _start_bash(root, cases, dirs)  # bash runs while the evaluator does (2 cores)
    try:
        tool = _run_tool(cases, dirs, _parse_batch(cases))
        driver.wait(timeout=timeout)
    finally:
        if driver.poll() is None:
            driver.kill()
    bash = _bash_launches(dirs)
    return [Outcome(case, b, t[0], t[1], t[2]) for case, b, t in zip(cases, bash, tool)]


def describe(outcome: Outcome) -> str:
    case = outcome.case
    return (f"seed {case.seed} env={case.env} args={case.args}\n--- bash: {outcome.bash_argv}\n"
            f"--- tool: {outcome.tool_argv} error={outcome.tool_error} warned={outcome.warned_lines}\n{case.script}")
