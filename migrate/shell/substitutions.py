"""Models of the external commands scripts call inside `$(...)`.

Nothing is executed. Each model is a pure function of its arguments and
stdin; models that stand for facts about the machine (GPU count, time,
hostname) are declared assumptions and produce a note. A command with no
model makes the substitution unknown.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from migrate.shell import regex as rx
from migrate.shell.words import decode_c_string

if TYPE_CHECKING:
    from migrate.shell.evaluate import Evaluator

FIXED_EPOCH = 1704067200  # 2024-01-01 00:00:00 UTC: the timestamp `date` is assumed to print


@dataclass
class Output:
    """A modelled command's output and exit status, and the assumption it rests on (reported as a warning)."""

    text: str
    status: int = 0
    assumption: str | None = None  # a fact about the machine we assumed
    # a value that exists only when the script runs (time, host, user): its text is an assumed
    # value, carried as a run-time value (LaunchPlan.runtime) so that it never reaches a config silently
    runtime: bool = False


Model = Callable[["Evaluator", list[str], "str | None"], "Output | None"]
MODELS: dict[str, Model] = {}


def model(*names: str) -> Callable[[Model], Model]:
    def register(fn: Model) -> Model:
        for name in names:
            MODELS[name] = fn
        return fn

    return register


def run_model(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    fn = MODELS.get(os.path.basename(words[0]))
    return fn(ev, words, stdin) if fn else None


# -- facts about the machine (declared assumptions)
@model("python", "python3")
def python_c(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    if "-c" in words[1:]:
        code = words[words.index("-c") + 1] if words.index("-c") + 1 < len(words) else ""
        if "device_count()" in code:
            n = ev.options.gpus_per_node
            return Output(f"{n}\n", assumption=f"GPUs per node assumed to be {n} (--gpus-per-node)")
    return None


def _gpu_lines(ev: Evaluator, fmt: str) -> Output:
    n = ev.options.gpus_per_node
    ev.budget.check_chars(n * (len(fmt) + 2), f"the modelled output for {n} GPUs (--gpus-per-node)", None)
    lines = "".join(fmt.format(i=i) + "\n" for i in range(n))
    return Output(lines, assumption=f"GPUs per node assumed to be {n} (--gpus-per-node)")


@model("nvidia-smi")
def nvidia_smi(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    if "-L" in args or "--list-gpus" in args:
        return _gpu_lines(ev, "GPU {i}: Modelled GPU (UUID: GPU-{i})")
    if any(a.startswith("--query-gpu") for a in args) and "--format=csv,noheader" in args:
        return _gpu_lines(ev, "{i}")
    return None


@model("rocm-smi")
def rocm_smi(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    if "--showid" in words[1:] or "-i" in words[1:]:
        return _gpu_lines(ev, "GPU[{i}]\t\t: Device ID: 0x74a1")
    return None


@model("date")
def date(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    fmts = [w for w in words[1:] if w.startswith("+")]
    others = [w for w in words[1:] if not w.startswith("+") and w not in ("-u", "--utc")]
    if others:
        return None
    stamp = time.gmtime(FIXED_EPOCH)
    text = time.strftime(fmts[-1][1:], stamp) if fmts else time.strftime("%a %b %e %H:%M:%S UTC %Y", stamp)
    return Output(text + "\n", assumption="`date` assumed to print the fixed time 2024-01-01 00:00:00 UTC",
                  runtime=True)


@model("hostname")
def hostname(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    if any(w not in ("-s", "--short", "-f", "--fqdn", "--long") for w in words[1:]):
        return None  # addresses (-I, -i) and anything else stay unknown
    return Output("localhost\n", assumption="`hostname` assumed to be localhost", runtime=True)


ASSUMED_USER = "user"  # what `whoami` / `id -un` are assumed to print


@model("whoami", "id")
def whoami(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    if words[0].endswith("id") and words[1:] not in (["-un"], ["-u", "-n"], ["-nu"]):
        return None  # ids and groups stay unknown
    return Output(ASSUMED_USER + "\n", assumption=f"`{' '.join(words)}` assumed to print {ASSUMED_USER}", runtime=True)


@model("rdma", "ibv_devices", "ibv_devinfo")
def rdma_devices(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    return Output("", assumption=f"`{words[0]}` assumed to list no RDMA devices")


# -- paths (pure string functions)
@model("pwd")
def pwd(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    return Output(ev.state.cwd + "\n")


@model("dirname")
def dirname(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    paths = [w for w in words[1:] if not w.startswith("-")]
    return Output("".join(_dirname(p) + "\n" for p in paths)) if paths else None


def _dirname(path: str) -> str:
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    if "/" not in stripped:
        return "."
    head = stripped.rsplit("/", 1)[0].rstrip("/")
    return head or "/"


@model("basename")
def basename(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = [w for w in words[1:] if not w.startswith("-")]
    if not args:
        return None
    base = args[0].rstrip("/").rsplit("/", 1)[-1] or ("/" if args[0] else "")
    if len(args) > 1 and base.endswith(args[1]) and base != args[1]:
        base = base[: -len(args[1])]
    return Output(base + "\n")


@model("realpath", "readlink")
def realpath(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    if words[0].endswith("readlink") and not any(w in ("-f", "-e", "-m") for w in words[1:]):
        return None
    paths = [w for w in words[1:] if not w.startswith("-")]
    if not paths:
        return None
    return Output("".join(os.path.realpath(os.path.join(ev.state.cwd, p)) + "\n" for p in paths))


# -- text filters (pure functions of stdin)
@model("echo")
def echo(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = ("e" in args[0]) or (escapes and "E" not in args[0])
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = decode_c_string(text)
    return Output(text + ("\n" if newline else ""))


@model("printf")
def printf(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    """bash's printf: escapes in the format (not in `%s` arguments), `*` widths and precisions taken
    from the arguments, the format reused while arguments remain."""
    if len(words) < 2 or words[1] == "-v":
        return None
    fmt, args = words[1], words[2:]
    if fmt == "--" and len(words) > 2:
        fmt, args = words[2], words[3:]
    out: list[str] = []
    status = 0
    while True:
        used = [0]

        def next_arg() -> str | None:
            if used[0] < len(args):
                used[0] += 1
                return args[used[0] - 1]
            return None

        for literal, spec in _PRINTF_SPEC.findall(fmt) or [(fmt, "")]:
            out.append(_printf_escapes(literal))
            if not spec:
                continue
            text, ok = _printf_one(spec, next_arg, ev)
            if text is None:
                return None  # a conversion we do not model
            out.append(text)
            status |= 0 if ok else 1
        if used[0] == 0 or used[0] >= len(args):
            break
        args = args[used[0]:]
    return Output("".join(out), status)


_PRINTF_SPEC = re.compile(r"((?:[^%]|%%)*)(%[-+ 0#]*(?:\*|\d*)(?:\.(?:\*|\d*))?[a-zA-Z]|%$|)", re.S)


def _printf_escapes(text: str) -> str:
    return decode_c_string(text.replace("%%", "\x00PCT\x00")).replace("\x00PCT\x00", "%")


def _printf_int(arg: str | None) -> tuple[int, bool]:
    """An integer argument as bash's printf reads it ('c gives a character code); (value, valid)."""
    if not arg:
        return 0, True
    if arg[0] in "'\"" and len(arg) > 1:
        return ord(arg[1]), True
    m = re.match(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", arg)
    if not m:
        return 0, False
    digits = m.group(2)
    base = 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") and len(digits) > 1 else 10
    value = int(digits, base) * (-1 if m.group(1) == "-" else 1)
    value = max(-(1 << 63), min(value, (1 << 63) - 1))
    return value, m.end() == len(arg.rstrip()) or arg[m.end():].strip() == ""


def _fixed(flags: str, width: str, precision: str | None, number: str) -> str:
    """`%f` of the number as bash holds it, an x86 long double (64-bit mantissa), printed exactly:
    a double would print 3.14159 as 3.1415899999999999 at `%.16f` (bash: 3.1415900000000000)."""
    from decimal import ROUND_HALF_EVEN, Decimal, localcontext
    from fractions import Fraction

    exact = Fraction(Decimal(number))
    if exact:
        shift = 63 - (abs(exact.numerator).bit_length() - exact.denominator.bit_length())
        scaled = exact * Fraction(2) ** shift
        while abs(scaled) >= 1 << 64:
            scaled, shift = scaled / 2, shift - 1
        while abs(scaled) < 1 << 63:
            scaled, shift = scaled * 2, shift + 1
        exact = Fraction(round(scaled)) / Fraction(2) ** shift
    digits = int(precision) if precision else (6 if precision is None else 0)
    with localcontext() as ctx:
        ctx.prec = 200
        value = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
    text = f"{value.copy_abs():f}" + ("." if "#" in flags and digits == 0 else "")
    negative = exact < 0 or number.strip().startswith("-")  # -0 and -0.001 print `-0.00` in C
    sign = "-" if negative else "+" if "+" in flags else " " if " " in flags else ""
    pad = int(width or 0) - len(sign) - len(text)
    if pad <= 0:
        return sign + text
    if "-" in flags:
        return sign + text + " " * pad
    return sign + "0" * pad + text if "0" in flags else " " * pad + sign + text


def _printf_one(spec: str, next_arg, ev: Evaluator | None = None) -> tuple[str | None, bool]:
    conv = spec[-1]
    if spec == "%":
        return "%", True
    m = re.fullmatch(r"%([-+ 0#]*)(\*|\d*)(?:\.(\*|\d*))?([a-zA-Z])", spec)
    if not m or conv not in "diouxXfFeEgGcsb":
        return None, True
    flags, width, precision = m.group(1), m.group(2), m.group(3)
    ok = True
    if width == "*":
        w, good = _printf_int(next_arg())
        ok &= good
        if w < 0:
            flags, w = flags + "-", -w
        width = str(w)
    if precision == "*":
        p, good = _printf_int(next_arg())
        ok &= good
        precision = str(p) if p >= 0 else None
    widest = max(int(width or 0), int(precision or 0))
    if ev is not None:  # checked before the text is built (migrate.limits)
        ev.budget.check_chars(widest, f"printf's `{spec[:40]}`", None)
    elif widest > 4096:
        return None, ok
    head = "%" + flags + width + ("." + precision if precision is not None else "")
    arg = next_arg()
    if conv in "di":
        value, good = _printf_int(arg)
        return (head + "d") % value, ok and good
    if conv in "ouxX":
        value, good = _printf_int(arg)
        value &= (1 << 64) - 1
        if conv == "o" and "#" in flags:
            return (head.replace("#", "") + "o") % value if value == 0 else \
                (head.replace("#", "") + "s") % ("0" + format(value, "o")), ok and good
        return (head + ("d" if conv == "u" else conv)) % value, ok and good
    if conv in "fFeEgG":
        m = re.match(r"\s*[+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)", arg or "", re.I)
        valid = ok and (not arg or (m is not None and not arg[m.end():].strip()))
        number = m.group(0).strip() if m else "0"
        if conv in "fF" and number.lstrip("+-")[:1].isdigit() | number.lstrip("+-").startswith("."):
            return _fixed(flags, width, precision, number), valid  # exact, as bash's long double is
        return (head + conv) % float(number), valid
    text = arg or ""
    if conv == "b":
        text = decode_c_string(text)
    elif conv == "c":
        text = text[:1]
    return (head + "s") % text, ok


@model("cat")
def cat(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    if len(words) == 1 and stdin is not None:
        return Output(stdin)
    return None


def _lines(stdin: str | None) -> list[str]:
    text = stdin or ""
    return text.splitlines()


@model("cut")
def cut(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    delim, fields, chars = "\t", None, None
    args = words[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-d"):
            delim = a[2:] if len(a) > 2 else (args[i + 1] if i + 1 < len(args) else "")
            i += 0 if len(a) > 2 else 1
        elif a.startswith("-f"):
            fields = a[2:] if len(a) > 2 else (args[i + 1] if i + 1 < len(args) else "")
            i += 0 if len(a) > 2 else 1
        elif a.startswith("-c"):
            chars = a[2:] if len(a) > 2 else (args[i + 1] if i + 1 < len(args) else "")
            i += 0 if len(a) > 2 else 1
        elif a.startswith("--delimiter="):
            delim = a.split("=", 1)[1]
        elif a.startswith("--fields="):
            fields = a.split("=", 1)[1]
        else:
            return None
        i += 1
    spec = fields if fields is not None else chars
    if spec is None or len(delim) != 1:
        return None
    wanted = _ranges(spec)
    if wanted is None:
        return None
    out = []
    for line in _lines(stdin):
        if fields is not None:
            if delim not in line:
                out.append(line)
                continue
            cols = line.split(delim)
            out.append(delim.join(c for n, c in enumerate(cols, 1) if wanted(n)))
        else:
            out.append("".join(c for n, c in enumerate(line, 1) if wanted(n)))
    return Output("".join(o + "\n" for o in out))


def _ranges(spec: str) -> Callable[[int], bool] | None:
    parts: list[tuple[int, int]] = []
    for item in spec.split(","):
        m = re.fullmatch(r"(\d*)(-?)(\d*)", item)
        if not m or not item:
            return None
        lo = int(m.group(1)) if m.group(1) else 1
        hi = int(m.group(3)) if m.group(3) else (lo if not m.group(2) else 1 << 30)
        parts.append((lo, hi))
    return lambda n: any(lo <= n <= hi for lo, hi in parts)


@model("tr")
def tr(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    delete = squeeze = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flag = args.pop(0)
        delete = delete or "d" in flag
        squeeze = squeeze or "s" in flag
        if set(flag[1:]) - set("ds"):
            return None
    text = stdin or ""
    sets = [_tr_set(a) for a in args]
    if delete and len(sets) == 1:
        return Output("".join(c for c in text if c not in sets[0]))
    if not delete and len(sets) == 2 and sets[1]:
        src, dst = sets
        dst = dst + dst[-1] * max(0, len(src) - len(dst))
        table = {ord(a): b for a, b in zip(src, dst)}
        text = text.translate(table)
        if squeeze:
            text = re.sub("([" + re.escape(dst) + r"])\1+", r"\1", text)
        return Output(text)
    if squeeze and len(sets) == 1:
        return Output(re.sub("([" + re.escape(sets[0]) + r"])\1+", r"\1", text))
    return None


def _tr_set(spec: str) -> str:
    classes = {"[:upper:]": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "[:lower:]": "abcdefghijklmnopqrstuvwxyz",
               "[:digit:]": "0123456789", "[:space:]": " \t\n\r\f\v"}
    for name, chars in classes.items():
        spec = spec.replace(name, chars)
    spec = decode_c_string(spec)
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


@model("sed")
def sed(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    extended = False
    scripts: list[str] = []
    while args:
        a = args.pop(0)
        if a in ("-E", "-r"):
            extended = True
        elif a == "-e" and args:
            scripts.append(args.pop(0))
        elif not a.startswith("-") and not scripts:
            scripts.append(a)
        else:
            return None
    text = stdin or ""
    lines = text.split("\n")
    trailing = text.endswith("\n")
    if trailing:
        lines = lines[:-1]
    for script in scripts:
        m = re.fullmatch(r"s(.)(.*?)(?<!\\)\1(.*?)(?<!\\)\1([gI0-9]*)", script, re.S)
        if not m:
            return None
        sep, pattern, repl, flags = m.groups()
        pattern = pattern.replace("\\" + sep, sep)
        repl = repl.replace("\\" + sep, sep)
        regex = pattern if extended else _bre_to_python(pattern)
        py_repl = re.sub(r"\\(\d)", r"\\g<\1>", repl.replace("\\&", "\x00")).replace("&", r"\g<0>").replace("\x00", "&")
        count = 0 if "g" in flags else 1
        try:
            lines = [rx.sub(regex, py_repl, line, count, "I" in flags, ev.budget) for line in lines]
        except (re.error, rx.Unsupported):
            return None  # not modelled: the output is unknown, with a warning
    return Output("\n".join(lines) + ("\n" if trailing else ""))


def _bre_to_python(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + ch if ch in "(){}|+?" else ch)
        i += 1
    return "".join(out)


@model("awk")
def awk(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    sep = None
    if args and args[0].startswith("-F"):
        sep = args[0][2:] or (args[1] if len(args) > 1 else None)
        args = args[1:] if args[0][2:] else args[2:]
    if len(args) != 1:
        return None
    m = re.fullmatch(r"\s*\{\s*print\s+((?:\$\d+|NF|\$NF)(?:\s*,\s*(?:\$\d+|\$NF))*)\s*;?\s*\}\s*", args[0])
    if not m:
        return None
    refs = [r.strip() for r in m.group(1).split(",")]
    out = []
    for line in _lines(stdin):
        cols = line.split() if sep in (None, " ") else line.split(sep)
        vals = []
        for ref in refs:
            if ref == "$NF":
                vals.append(cols[-1] if cols else "")
            elif ref == "NF":
                vals.append(str(len(cols)))
            else:
                n = int(ref[1:])
                vals.append(line if n == 0 else (cols[n - 1] if n <= len(cols) else ""))
        out.append(" ".join(vals))
    return Output("".join(o + "\n" for o in out))


@model("head", "tail")
def head_tail(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    n = 10
    if args and re.fullmatch(r"-n\d+|-\d+", args[0]):
        n = int(args[0].lstrip("-n"))
    elif len(args) >= 2 and args[0] == "-n" and args[1].isdigit():
        n = int(args[1])
    elif args:
        return None
    lines = _lines(stdin)
    picked = lines[:n] if words[0].endswith("head") else (lines[-n:] if n else [])
    return Output("".join(line + "\n" for line in picked))


@model("wc")
def wc(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    text = stdin or ""
    if words[1:] == ["-l"]:
        return Output(f"{text.count(chr(10))}\n")
    if words[1:] == ["-w"]:
        return Output(f"{len(text.split())}\n")
    if words[1:] == ["-c"]:
        return Output(f"{len(text.encode())}\n")
    return None


@model("grep")
def grep(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    flags = set()
    while args and args[0].startswith("-") and len(args) > 1:
        flag = args.pop(0)
        if set(flag[1:]) - set("cvEiqoF"):
            return None
        flags |= set(flag[1:])
    if len(args) != 1:
        return None
    pattern = args[0]
    regex = re.escape(pattern) if "F" in flags else (pattern if "E" in flags else _bre_to_python(pattern))
    try:
        hits = [line for line in _lines(stdin)
                if (rx.search(regex, line, "i" in flags, ev.budget) is not None) != ("v" in flags)]
    except (re.error, rx.Unsupported):
        return None  # not modelled: the output is unknown, with a warning
    status = 0 if hits else 1
    if "q" in flags:
        return Output("", status)
    if "c" in flags:
        return Output(f"{len(hits)}\n", status)
    if "o" in flags:
        return Output("".join(m.group(0) + "\n" for line in hits
                              for m in rx.finditer(regex, line, "i" in flags, ev.budget)), status)
    return Output("".join(h + "\n" for h in hits), status)


@model("seq")
def seq(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    try:
        nums = [int(w) for w in words[1:]]
    except ValueError:
        return None
    if len(nums) == 1:
        first, step, last = 1, 1, nums[0]
    elif len(nums) == 2:
        first, step, last = nums[0], 1, nums[1]
    elif len(nums) == 3:
        first, step, last = nums
    else:
        return None
    if step == 0 or abs(last - first) // abs(step) > 100000:
        return None
    values = range(first, last + (1 if step > 0 else -1), step)
    return Output("".join(f"{v}\n" for v in values))


@model("expr")
def expr(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    args = words[1:]
    if len(args) == 3 and args[1] in ("+", "-", "*", "/", "%"):
        try:
            a, b = int(args[0]), int(args[2])
        except ValueError:
            return None
        if args[1] in "/%" and b == 0:
            return None
        q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1) if args[1] in "/%" else 0
        value = {"+": a + b, "-": a - b, "*": a * b, "/": q, "%": a - b * q if args[1] == "%" else 0}[args[1]]
        return Output(f"{value}\n", 1 if value == 0 else 0)
    return None


@model("xargs")
def xargs(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    if len(words) == 1:
        return Output(" ".join((stdin or "").split()) + "\n")
    return None


@model("true", ":")
def true(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    return Output("")


@model("false")
def false(ev: Evaluator, words: list[str], stdin: str | None) -> Output | None:
    return Output("", 1)
