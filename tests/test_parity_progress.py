"""`parity` progress: phases and iteration i/N per side on stderr, nothing on stdout."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from helpers_parity import fake_backends, fake_conversion, fake_train
from migrate.parity.progress import PlainProgress, Progress, RichProgress


def writing_train(cfg, ro):
    """The fake trainer, writing metrics.jsonl one line per iteration as the runtime does."""
    result = fake_train(cfg, ro)
    out = Path(ro.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "metrics.jsonl", "w") as handle:
        for row in result.metrics:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            time.sleep(0.01)
    return result


def test_cli_progress_goes_to_stderr_and_json_stays_parseable(cli, monkeypatch, tmp_path):
    from migrate.cli import parity_cmd

    script = tmp_path / "train.sh"
    script.write_text("#!/bin/bash\n")
    monkeypatch.setattr(parity_cmd, "_backends_hook",
                        lambda: fake_backends(fake_conversion(), train=writing_train))
    r = cli("parity", script, "--iters", "5", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["ok"] is True  # stdout is exactly the report
    lines = [li for li in r.err.splitlines() if li.startswith("parity: ")]
    assert lines[0].startswith("parity: converting train.sh")
    for side in ("legacy", "primus"):
        # every iteration once, in order (the watcher catches up when a poll comes late)
        assert [li for li in lines if li.startswith(f"parity: {side} iteration")] == [
            f"parity: {side} iteration {i}/5" for i in range(1, 6)]
    assert any("training legacy" in li for li in lines) and lines[-1].startswith("parity: comparing")


def test_static_parity_prints_no_progress(cli, monkeypatch, tmp_path):
    from migrate.cli import parity_cmd

    script = tmp_path / "train.sh"
    script.write_text("#!/bin/bash\n")
    monkeypatch.setattr(parity_cmd, "_backends_hook", lambda: fake_backends(fake_conversion()))
    r = cli("parity", "--static", script)
    assert r.code == 0 and "parity: converting" not in r.err


def test_watcher_reports_lines_as_the_file_grows(tmp_path):
    seen = []

    class Recorder(Progress):
        def iteration(self, side, done, total):
            seen.append((side, done, total))

    path = tmp_path / "metrics.jsonl"
    with Recorder().watch([("legacy", path), ("primus", tmp_path / "absent.jsonl")], 3) as watcher:
        path.write_text('{"iteration": 1}\n{"iteration": 2}\n{"iter')  # a half-written line does not count
        watcher.poll()
        assert seen == [("legacy", 1, 3), ("legacy", 2, 3)]
        path.write_text('{"iteration": 1}\n{"iteration": 2}\n{"iteration": 3}\n')
    assert seen[-1] == ("legacy", 3, 3) and len(seen) == 3


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_the_live_display_and_a_pipe_gets_plain_lines():
    assert isinstance(Progress.for_stream(io.StringIO()), PlainProgress)
    screen = _Terminal()
    progress = Progress.for_stream(screen)
    assert isinstance(progress, RichProgress)
    progress.phase("training legacy and primus")
    progress.iteration("legacy", 2, 4)
    progress.close()
    drawn = screen.getvalue()
    assert "training legacy and primus" in drawn and "legacy" in drawn and "iteration 2/4" in drawn
