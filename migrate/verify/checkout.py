"""Run a Primus checkout's own code on experiments, confined, and read back what it hands Megatron.

The checkout's `primus/` package is copied into a scratch folder (its `__pycache__` left behind, so
nothing is ever written into the user's checkout), the experiments' own model files are installed
among the copy's model presets as the `run.sh` that `convert` writes does, and `child.py` runs there
in a subprocess: working directory, HOME and TMPDIR inside the scratch folder, Python in isolated
mode, a time limit (`verify_seconds`) and a memory cap (`verify_memory`). The scratch folder is
removed on every way out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from migrate.diagnostics import MigrateError
from migrate.limits import current, exceeded, read_regular_file

CHILD = Path(__file__).with_name("child.py")
MARKER = "\n@@PRIMUS-MIGRATE-VERIFY@@"
MEGATRON_ARGUMENTS = Path("third_party/Megatron-LM/megatron/training/arguments.py")
# the file that marks each training runtime of a checkout (which one runs: child.choose_runtime)
RUNTIME_FILES = {"legacy": "primus/modules/trainer/megatron/trainer.py",   # v0.1.0-rc1 .. v26.4.0
                 "core": "primus/backends/megatron/megatron_adapter.py"}   # v0.6.0 on
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONSAFEPATH")


@dataclass
class CheckoutRun:
    """What the checkout's own code made of each experiment (path -> result or {"error": ...})."""

    runtime: str
    results: dict[str, dict[str, Any]]
    installed_models: list[str] = field(default_factory=list)
    skipped_mkdir: list[str] = field(default_factory=list)


def checkout_root(primus_path: str | Path) -> Path:
    """The folder holding the checkout's `primus` package (the checkout root, or its `primus/`)."""
    given = Path(primus_path)
    for root in (given, given.parent):
        package = root / "primus"
        if (package / "__init__.py").is_file() and (package / "configs" / "modules" / "megatron").is_dir():
            return root
    raise MigrateError(f"{primus_path} is not a Primus checkout (no primus/__init__.py with "
                       f"primus/configs/modules/megatron/ under it)",
                       hint="pass the root of a Primus git checkout (the folder that holds primus/)", exit_code=2)


def child_environment(work: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The environment the checkout's code sees: the caller's, with HOME, TMPDIR and PWD in `work`."""
    out = {k: v for k, v in env.items() if k not in _DROPPED_ENV}
    out.update({"HOME": str(work), "TMPDIR": str(work), "PWD": str(work), "PYTHONDONTWRITEBYTECODE": "1"})
    out.setdefault("PATH", os.defpath)
    return out


def _copy_tree(root: Path, tree: Path) -> None:
    shutil.copytree(root / "primus", tree / "primus", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
    arguments = root / MEGATRON_ARGUMENTS
    if arguments.is_file():  # Megatron's moe_freq_type for the legacy trainer
        (tree / MEGATRON_ARGUMENTS).parent.mkdir(parents=True)
        shutil.copyfile(arguments, tree / MEGATRON_ARGUMENTS)


def model_files(experiment: Path) -> dict[str, Path]:
    """The experiment's own model files, as `run.sh` installs them: each `modules.*.model` name found
    beside the experiment or in its models/megatron/ folder (migrate.primus.loader.USER_MODEL_DIRS)."""
    import yaml

    from migrate.primus.loader import USER_MODEL_DIRS

    text = read_regular_file(str(experiment), "config_bytes", str(experiment), "experiment").decode("utf-8", "replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}  # the checkout's own parser will say what is wrong with it
    modules = data.get("modules") if isinstance(data, dict) else None
    found: dict[str, Path] = {}
    for module in (modules or {}).values() if isinstance(modules, dict) else ():
        ref = module.get("model") if isinstance(module, dict) else None
        if not isinstance(ref, str) or not ref or os.path.isabs(ref) or "/" in ref or "${" in ref:
            continue
        for folder in USER_MODEL_DIRS:
            names = (ref,) if ref.endswith((".yaml", ".yml")) else (ref, ref + ".yaml")
            hit = next((experiment.parent / folder / n for n in names if (experiment.parent / folder / n).is_file()),
                       None)
            if hit is not None:
                found[hit.name] = hit
                break
    return found


def _install_models(experiments: list[Path], tree: Path) -> list[str]:
    presets = tree / "primus" / "configs" / "models" / "megatron"
    installed = []
    for experiment in experiments:
        for name, path in model_files(experiment).items():
            shutil.copyfile(path, presets / name)
            installed.append(str(path))
    return installed


def run_checkout(primus_path: str | Path, experiments: list[Path], megatron_defaults: dict[str, Any],
                 env: Mapping[str, str], scratch: Path, runtime: str = "auto") -> CheckoutRun:
    """Run the checkout's code on `experiments` in `scratch` with `env` (see `child_environment`); the
    experiments' model files of one name must agree (migrate.verify.session.batches)."""
    root = checkout_root(primus_path)
    _check_runtime(root, runtime, primus_path)
    tree, work = scratch / "tree", scratch / "work"
    work.mkdir()
    _copy_tree(root, tree)
    installed = _install_models(experiments, tree)
    limits = current()
    job = {"primus": str(tree), "scratch": str(scratch), "experiments": [str(p.resolve()) for p in experiments],
           "megatron_defaults": megatron_defaults, "memory_bytes": int(limits.verify_memory), "runtime": runtime,
           "runtime_files": RUNTIME_FILES}
    out, err, code = _run_child(job, work, dict(env), float(limits.verify_seconds))
    answer = _answer(out, err, code, primus_path)
    results = {str(p): answer["results"][str(p.resolve())] for p in experiments}
    return CheckoutRun(answer["runtime"], results, installed, answer.get("skipped_mkdir", []))


def _check_runtime(root: Path, runtime: str, primus_path: str | Path) -> None:
    """`--runtime legacy|core` names a runtime the checkout has."""
    if runtime in RUNTIME_FILES and not (root / RUNTIME_FILES[runtime]).is_file():
        have = [name for name, rel in RUNTIME_FILES.items() if (root / rel).is_file()]
        raise MigrateError(f"{primus_path} has no {runtime} runtime (no {RUNTIME_FILES[runtime]})",
                           hint=f"it has: {', '.join(have) or 'neither'}; leave --runtime at auto", exit_code=2)


def _run_child(job: dict, work: Path, env: dict[str, str], seconds: float) -> tuple[str, str, int]:
    proc = subprocess.Popen([sys.executable, "-I", "-B", str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=work, env=env, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(json.dumps(job), timeout=seconds)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise exceeded("verify_seconds", f"the checkout's code ran past {seconds:g} seconds") from None
    except BaseException:
        _kill(proc)
        raise
    return out, err, proc.returncode


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _answer(out: str, err: str, code: int, primus_path: str | Path) -> dict[str, Any]:
    if MARKER not in out:
        tail = "\n    ".join(err.strip().splitlines()[-6:]) or "(no output)"
        memory = " (it may have reached the verify_memory limit)" if "MemoryError" in err else ""
        raise MigrateError(f"the code of {primus_path} ended without an answer (exit code {code}){memory}:\n    {tail}",
                           hint="run it in the environment of that checkout, or raise the limit: "
                                "PRIMUS_MIGRATE_LIMITS=verify_memory=4G", exit_code=2)
    answer = json.loads(out.split(MARKER, 1)[1])
    fatal = answer.get("fatal")
    if fatal:
        module = f" (module '{fatal['module']}' could not be imported)" if fatal.get("module") else ""
        where = "\n    ".join(fatal.get("where") or [])
        raise MigrateError(f"the code of {primus_path} could not be loaded even with its GPU stack stubbed{module}: "
                           f"{fatal['error']}\n    {where}",
                           hint="install that module in this Python environment, or run verify where the "
                                "checkout runs", exit_code=2)
    return answer
