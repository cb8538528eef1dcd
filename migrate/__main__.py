"""`python -m migrate` and the `primus-migrate` console script."""

import os
import signal
import sys


def _quiet_exit(signum: int, frame: object) -> None:
    os._exit(128 + signum)  # nothing is written yet: end without a traceback from inside an import


# Until the CLI installs its own handlers (migrate.signals): a SIGINT/SIGTERM during start-up ends quietly.
signal.signal(signal.SIGINT, _quiet_exit)
signal.signal(signal.SIGTERM, _quiet_exit)

from migrate.cli import main as cli_main  # noqa: E402 - after the handlers above


def main() -> int:
    code = cli_main()
    signal.signal(signal.SIGINT, _quiet_exit)  # the output is complete: a late signal only ends the run
    signal.signal(signal.SIGTERM, _quiet_exit)
    return code


if __name__ == "__main__":
    sys.exit(main())
