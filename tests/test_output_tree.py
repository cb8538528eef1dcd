"""The output tree is all or nothing, locked against a concurrent run, and every path problem is exit 2.

Interrupts are real signals sent to a real `python -m migrate` process whose renames are slowed
down (the window the hostile review found), run with its own HOME, TMPDIR and working directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migrate.diagnostics import MigrateError
from migrate.output import OutputTree

REPO = Path(__file__).resolve().parent.parent

SCRIPT = ("torchrun pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 128 "
          "--max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 --train-iters 10 --lr 1e-4 "
          "--mock-data --tokenizer-type NullTokenizer --vocab-size 1000\n")

# A real command line (signals installed as by the console script) whose renames take `SLOW` seconds.
DRIVER = """
import os, sys, time
slow = float(os.environ.get("SLOW", "0"))
real_rename = os.rename
def rename(a, b):
    time.sleep(slow)
    return real_rename(a, b)
os.rename = rename
sys.argv = ["primus-migrate", *sys.argv[1:]]
from migrate.__main__ import main
sys.exit(main())  # as the console script does
"""


# The same, sending itself SIGNAL the moment module AT is first imported: a signal at an exact point.
SIGNAL_AT = """
import os, sys, signal
class Hook:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["AT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), int(os.environ["SIGNAL"]))
        return None
sys.meta_path.insert(0, Hook())
sys.argv = ["primus-migrate", *sys.argv[1:]]
from migrate.__main__ import main
sys.exit(main())  # as the console script does
"""


def _sandbox(tmp_path: Path) -> dict[str, str]:
    for sub in ("home", "tmp"):
        (tmp_path / sub).mkdir(exist_ok=True)
    (tmp_path / "t.sh").write_text(SCRIPT)
    return {**os.environ, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp"),
            "PYTHONPATH": os.environ.get("PYTHONPATH") or str(REPO), "PRIMUS_MIGRATE_NO_CACHE": "1"}


def _start(tmp_path: Path, *argv: str, slow: float = 0.0) -> subprocess.Popen:
    env = {**_sandbox(tmp_path), "SLOW": str(slow)}
    return subprocess.Popen([sys.executable, "-c", DRIVER, *argv], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*")
            if "primus-migrate" in p.name or p.parent == folder and folder.name == "tmp"]


# ---- the OutputTree itself ----------------------------------------------------------------

def test_a_new_folder_appears_whole_and_no_temporary_folder_stays(tmp_path):
    tree = OutputTree(tmp_path / "out")
    tree.add("a.yaml", "a: 1\n")
    tree.add("models/megatron/m.yaml", "b: 2\n")
    tree.commit()
    assert _tree(tmp_path / "out") == {"a.yaml": b"a: 1\n", "models/megatron/m.yaml": b"b: 2\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_existing_folder_keeps_the_files_the_tree_does_not_name(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    tree = OutputTree(tmp_path)
    tree.add("a.yaml", "a: 1\n")
    tree.commit()
    assert _tree(tmp_path) == {"a.yaml": b"a: 1\n", "notes.txt": b"mine"}


@pytest.mark.parametrize("root", ["", "  "])
def test_an_empty_output_name_is_refused(root):
    with pytest.raises(MigrateError) as info:
        OutputTree(root)
    assert info.value.exit_code == 2


def test_a_failing_rename_puts_every_old_file_back(tmp_path, monkeypatch):
    for name in ("a.yaml", "b.yaml", "c.yaml"):
        (tmp_path / name).write_text("old")
    tree = OutputTree(tmp_path, force=True)
    for name in ("a.yaml", "b.yaml", "c.yaml", "new/d.yaml"):
        tree.add(name, "new")
    real, calls = os.rename, []

    def failing(a, b):
        calls.append(b)
        if len(calls) == 5:  # in the middle of the swap
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(MigrateError) as info:
        tree.commit()
    assert info.value.exit_code == 2 and "no space left" in str(info.value)
    assert _tree(tmp_path) == {n: b"old" for n in ("a.yaml", "b.yaml", "c.yaml")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml", "c.yaml"]


def test_an_unwritable_folder_is_bad_input(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    tree = OutputTree(tmp_path / "out")
    tree.add("a.yaml", "x")
    with pytest.raises(MigrateError) as info:
        tree.commit()
    assert info.value.exit_code == 2 and "permission denied" in str(info.value)
    assert "tmp" not in str(info.value).replace(str(tmp_path), "")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_bad_input(tmp_path, cli):
    (tmp_path / "ro").mkdir(mode=0o500)
    (tmp_path / "t.sh").write_text(SCRIPT)
    result = cli("convert", tmp_path / "t.sh", "-o", tmp_path / "ro" / "out")
    assert result.code == 2 and "permission denied" in result.err


# ---- through the CLI ------------------------------------------------------------------------

def test_empty_output_does_not_write_into_the_current_folder(cli, tmp_path, monkeypatch):
    (tmp_path / "t.sh").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    result = cli("convert", "t.sh", "-o", "")
    assert result.code == 2 and "empty" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.sh"]


def test_a_script_named_dot_dot_sh_makes_no_hidden_files(cli, tmp_path):
    (tmp_path / "..sh").write_text(SCRIPT)
    result = cli("convert", tmp_path / "..sh", "-o", tmp_path / "out")
    assert result.code == 0, result.err
    assert not [p for p in (tmp_path / "out").rglob(".*")]


@pytest.mark.parametrize("name", [".hidden", "-x", "a/b", "a" * 201])
def test_unusable_names_are_refused(cli, tmp_path, name):
    (tmp_path / "t.sh").write_text(SCRIPT)
    result = cli("convert", tmp_path / "t.sh", f"--name={name}", "-o", tmp_path / "out")
    assert result.code == 2 and "not a usable file name" in result.err
    assert not (tmp_path / "out").exists()


def test_a_dangling_symlink_and_a_too_long_name_are_bad_input(cli, tmp_path):
    (tmp_path / "t.sh").write_text(SCRIPT)
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    result = cli("convert", tmp_path / "t.sh", "-o", tmp_path / "link")
    assert result.code == 2 and "does not exist" in result.err
    result = cli("convert", tmp_path / "t.sh", "-o", tmp_path / ("a" * 300))
    assert result.code == 2 and "longer than the file system allows" in result.err


def test_force_onto_a_directory_where_a_file_goes_writes_nothing(cli, tmp_path):
    (tmp_path / "t.sh").write_text(SCRIPT)
    (tmp_path / "out" / "run.sh").mkdir(parents=True)
    result = cli("convert", tmp_path / "t.sh", "-o", tmp_path / "out", "--force")
    assert result.code == 2 and "run.sh (a directory)" in result.err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["run.sh"]
    assert not list((tmp_path / "out" / "run.sh").iterdir())


def test_two_concurrent_runs_into_one_folder_do_not_both_succeed(tmp_path):
    _sandbox(tmp_path)
    (tmp_path / "u.sh").write_text(SCRIPT.replace("--num-layers 2", "--num-layers 3"))
    runs = [_start(tmp_path, "convert", script, "-o", "out", slow=0.05) for script in ("t.sh", "u.sh")]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    assert any("would be overwritten" in err for _, err in results)
    winner = "t" if results[0][0] == 0 else "u"
    assert _tree(tmp_path / "out") == {**{k: v for k, v in _tree(tmp_path / "out").items()}}
    assert sorted(p.name for p in (tmp_path / "out").glob("*.yaml")) == [f"{winner}-pretrain.yaml"]
    assert not _leftovers(tmp_path / "tmp", tmp_path)


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("delay", [0.6] + [pytest.param(d, marks=pytest.mark.slow) for d in (0.3, 0.9, 1.2)])
def test_sigterm_leaves_the_old_tree_or_the_new_one_and_no_temporary_files(tmp_path, existing, delay):
    out = tmp_path / "out"
    if existing:
        first = _start(tmp_path, "convert", "t.sh", "-o", "out")
        assert first.wait(timeout=120) == 0, first.stderr.read()
        (tmp_path / "t.sh").write_text(SCRIPT.replace("--num-layers 2", "--num-layers 3"))
    before = _tree(out) if existing else {}
    proc = _start(tmp_path, "convert", "t.sh", "-o", "out", "--force", slow=0.15)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=120)
    err = proc.stderr.read()
    # -SIGTERM: the signal came while the interpreter was still starting (a loaded machine can take
    # longer than `delay` to get there), before any handler exists: then nothing may have been written
    assert "Traceback" not in err and code in (0, 143, -signal.SIGTERM), (code, err)
    after = _tree(out) if out.exists() else {}
    if code in (143, -signal.SIGTERM) and after == before:
        pass  # nothing published
    else:
        assert after != before and set(after) >= {"run.sh", "report.md", "t-pretrain.yaml"}
        assert (b"num_layers: 3" in after["t-pretrain.yaml"]) is existing
    assert not _leftovers(tmp_path / "tmp", tmp_path, out)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("delay", [0.2] + [pytest.param(d, marks=pytest.mark.slow) for d in (0.35, 0.5)])
def test_a_signal_early_in_a_run_exits_quietly(tmp_path, sig, code, delay):
    """From the first line of `migrate/__main__.py` on (before that only the interpreter's own start-up
    runs, a few tens of ms that no program can guard): the earliest delays land in the imports."""
    proc = _start(tmp_path, "convert", "t.sh", "-o", "out")
    time.sleep(delay)
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    err = proc.stderr.read()
    assert "Traceback" not in err and "internal error" not in err
    # 0: it finished before the signal came; -sig: the signal came while the interpreter itself was starting,
    # before any code of ours ran (Python's default action then, no output either)
    assert rc in (code, 0, -sig), (rc, err)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("module", ["migrate.cli", "migrate.cli.convert", "migrate.pipeline", "migrate.output"])
def test_a_signal_at_each_stage_exits_quietly_and_leaves_nothing(tmp_path, sig, code, module):
    env = {**_sandbox(tmp_path), "AT": module, "SIGNAL": str(int(sig))}
    proc = subprocess.run([sys.executable, "-c", SIGNAL_AT, "convert", "t.sh", "-o", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and proc.returncode == code, (proc.returncode, proc.stderr)
    assert not (tmp_path / "out").exists()
    assert not _leftovers(tmp_path / "tmp", tmp_path)


@pytest.mark.parametrize("name", [".", ".."])
def test_a_single_output_file_named_as_a_folder_is_bad_input(cli, name):
    logs = REPO / "fixtures" / "logs"
    result = cli("compare-logs", logs / "megatron_llama3_8b.log", logs / "primus_llama3_8b.log", "--plot", name)
    assert result.code == 2 and "output file name is empty" in result.err, result.err


def test_batch_with_an_empty_output_is_refused_before_any_work(cli, tmp_path, monkeypatch):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "t.sh").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    result = cli("batch", "repo", "-o", "")
    assert result.code == 2 and "empty" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
