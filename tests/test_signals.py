"""signals.deferred: a SIGINT/SIGTERM inside the block is raised when the outermost block ends."""

from __future__ import annotations

import os
import signal

import pytest

from migrate import signals


@pytest.fixture
def installed():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signals.install()
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)
    signals._installed = False


def test_a_signal_inside_waits_for_the_outermost_block(installed):
    ran = []
    with pytest.raises(signals.Interrupted) as caught:
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            ran.append("after the signal")
            with signals.deferred():
                ran.append("nested")
            ran.append("after the nested block")  # the nested block's end does not raise it
    assert caught.value.exit_code == 143  # 128 + SIGTERM, the shell's status
    assert ran == ["after the signal", "nested", "after the nested block"]


def test_the_signal_wins_over_an_error_inside(installed):
    with pytest.raises(signals.Interrupted) as caught:
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError("inside")
    assert caught.value.exit_code == 130
    assert isinstance(caught.value.__context__, ValueError)


def test_outside_a_block_the_signal_is_raised_at_once(installed):
    with pytest.raises(signals.Interrupted):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):  # the handler runs between two bytecodes, well before this ends
            pass
