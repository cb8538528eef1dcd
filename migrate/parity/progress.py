"""What `parity` is doing while it imports torch and trains both sides (10-50 s of otherwise silence).

A `Progress` is told the phase ("converting", "loading torch and megatron-core", "training") and,
while a run trains, follows each side's `metrics.jsonl` (one line per finished iteration, written
by the runtime in this process or by its last rank in a worker process), so the same watcher works
for every layout. On a terminal it draws a rich display on stderr; otherwise it writes plain lines
to stderr. Nothing goes to stdout: `--json` output stays one JSON document.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO, Sequence

POLL_S = 0.2


class Progress:
    """Silent by default; `for_stream` picks the terminal or the plain rendering."""

    def phase(self, text: str) -> None:
        pass

    def iteration(self, side: str, done: int, total: int) -> None:
        pass

    def close(self) -> None:
        pass

    def watch(self, sides: Sequence[tuple[str, Path]], total: int) -> "_Watcher":
        """Report `side i/N` as `path` (a metrics.jsonl) grows, until the `with` block ends."""
        return _Watcher(self, sides, total)

    @staticmethod
    def for_stream(stream: IO[str] | None = None) -> "Progress":
        stream = stream or sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        return RichProgress(stream) if tty else PlainProgress(stream)


class PlainProgress(Progress):
    """One line per phase and per finished iteration: readable in CI logs and pipes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            try:
                print(f"parity: {text}", file=self.stream, flush=True)
            except (OSError, ValueError):  # a closed stderr must not fail the check
                pass

    def phase(self, text: str) -> None:
        self._line(text)

    def iteration(self, side: str, done: int, total: int) -> None:
        self._line(f"{side} iteration {done}/{total}")


class RichProgress(Progress):
    """A spinner with the phase and one bar per side, removed when parity ends."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                          TextColumn("{task.fields[count]}"), TimeElapsedColumn(), console=Console(file=stream),
                          transient=True)
        self._phase = self._bars.add_task("parity", total=None, count="")  # the phase: a pulsing bar, no count
        self._sides: dict[str, TaskID] = {}
        self._bars.start()

    def phase(self, text: str) -> None:
        self._bars.update(self._phase, description=text)

    def iteration(self, side: str, done: int, total: int) -> None:
        if side not in self._sides:
            self._sides[side] = self._bars.add_task(f"  {side}", total=total, count="")
        self._bars.update(self._sides[side], completed=done, total=total, count=f"iteration {done}/{total}")

    def close(self) -> None:
        self._bars.stop()


class _Watcher:
    """A thread counting the lines of each side's metrics file (torch releases the GIL while it computes)."""

    def __init__(self, progress: Progress, sides: Sequence[tuple[str, Path]], total: int) -> None:
        self.progress, self.sides, self.total = progress, list(sides), total
        self.seen = {name: 0 for name, _ in self.sides}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parity-progress", daemon=True)

    def __enter__(self) -> "_Watcher":
        if type(self.progress) is not Progress:  # the silent one needs no thread
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self.poll()  # the last iterations, written just before the run returned

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self.poll()

    def poll(self) -> None:
        for name, path in self.sides:
            done = min(_lines(path), self.total)
            while self.seen[name] < done:  # every iteration once, in order, even after a slow poll
                self.seen[name] += 1
                self.progress.iteration(name, self.seen[name], self.total)


def _lines(path: Path) -> int:
    """Finished iterations in a metrics.jsonl being written (a partial last line does not count)."""
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return 0
