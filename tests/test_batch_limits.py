"""`batch` gives every script a wall-clock and a memory limit, and its workers die with it.

Runs the real CLI in a subprocess (bounded by a timeout and a data-size rlimit of its own).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_limits import LAUNCH, REPO, _cap_memory

GOOD = f"#!/bin/bash\n{LAUNCH}\n"
# quadratic: each turn copies the whole array (minutes of evaluation once the limits allow it)
SLOW = f"#!/bin/bash\nA=()\nwhile true; do A=(\"${{A[@]}}\" xxxxxxxxxxxxxxxx); done\n{LAUNCH}\n"
HUNGRY = "#!/bin/bash\nX=ab\n" + "X=$X$X\n" * 40 + f"{LAUNCH}\n"  # 2**41 characters
# every other limit out of the way, so that only the batch's own limits can stop these scripts
LIFTED = "eval_seconds=100000,expansion_work=1G,string_chars=100G,eval_memory=1000G,loop_iterations=1G"


def _repo(tmp_path: Path, scripts: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name, text in scripts.items():
        (repo / name).write_text(text)
    return repo


def _batch(tmp_path: Path, repo: Path, limits: str, jobs: int = 2) -> subprocess.Popen:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(home),
           "PYTHONPATH": str(REPO), "PRIMUS_MIGRATE_NO_CACHE": "1", "PRIMUS_MIGRATE_LIMITS": limits}
    return subprocess.Popen([sys.executable, "-m", "migrate", "batch", str(repo), "-o", str(tmp_path / "out"),
                             "--jobs", str(jobs), "--json"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_cap_memory)


@pytest.mark.slow
def test_a_hanging_and_a_hungry_script_become_rows_and_the_rest_is_converted(tmp_path):
    repo = _repo(tmp_path, {"train_good.sh": GOOD, "train_slow.sh": SLOW, "train_hungry.sh": HUNGRY})
    start = time.monotonic()
    proc = _batch(tmp_path, repo, f"{LIFTED},batch_script_seconds=4,batch_script_memory=300M")
    out, err = proc.communicate(timeout=120)
    assert time.monotonic() - start < 60
    assert proc.returncode == 2, err or out[-4000:]  # rejected rows, no internal error
    rows = {row["script"]: row for row in json.loads(out)["scripts"]}
    assert rows["train_good.sh"]["status"] == "converted"
    slow, hungry = rows["train_slow.sh"], rows["train_hungry.sh"]
    assert slow["status"] == "rejected" and slow["reason"].startswith("timed out: the script took more than 4 s")
    assert "PRIMUS_MIGRATE_LIMITS=batch_script_seconds=" in slow["reason"]
    assert hungry["status"] == "rejected" and hungry["reason"].startswith("out of memory")
    assert "PRIMUS_MIGRATE_LIMITS=batch_script_memory=" in hungry["reason"]
    assert slow["category"] == "timed-out" and hungry["category"] == "out-of-memory"
    # the next step reruns the batch with the limit the hint suggests
    assert slow["next_step"].startswith("PRIMUS_MIGRATE_LIMITS=batch_script_seconds=16 primus-migrate batch DIR -o OUT")
    assert hungry["next_step"].startswith("PRIMUS_MIGRATE_LIMITS=batch_script_memory=")
    report = (tmp_path / "out/batch_report.md").read_text()
    assert "timed out" in report and "out of memory" in report
    assert list((tmp_path / "out").rglob("*.yaml")), "the good script's files are written"


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_workers_die_with_the_batch(tmp_path, sig):
    repo = _repo(tmp_path, {"train_a.sh": SLOW, "train_b.sh": SLOW})
    proc = _batch(tmp_path, repo, f"{LIFTED},batch_script_seconds=300")
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = [p for p in _children(proc.pid) if _alive(p)]
        assert len(workers) == 2, "both workers started"
        os.kill(proc.pid, sig)
        proc.communicate(timeout=30)
        if sig != signal.SIGKILL:
            assert proc.returncode in (-sig, 128 + sig, 130), proc.returncode
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "a worker outlived the batch"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_a_pipe_and_an_oversized_script_in_the_repository_do_not_stop_the_batch(tmp_path):
    repo = _repo(tmp_path, {"train_good.sh": GOOD, "train_big.sh": GOOD + "#" + "x" * 300_000 + "\n"})
    os.mkfifo(repo / "train_pipe.sh")  # discovery used to block reading it
    proc = _batch(tmp_path, repo, "script_bytes=100K")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    rows = {row["script"]: row for row in json.loads(out)["scripts"]}
    assert rows["train_good.sh"]["status"] == "converted"
    assert rows["train_big.sh"]["status"] == "rejected"
    assert "over the limit script_bytes=100K" in rows["train_big.sh"]["reason"]
    assert "train_pipe.sh" not in rows
