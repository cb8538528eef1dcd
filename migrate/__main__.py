"""`python -m migrate` and the `primus-migrate` console script.

shfmt starts on the script named on the command line before the CLI's modules are
imported, so the parse and the imports overlap (or, for a script parsed before,
the cached tree is read) from the first millisecond.

Commands that neither train nor start worker processes end with `os._exit` once
their output is flushed: the interpreter's own teardown (freeing every syntax
node, clearing modules) costs 20-30 ms after a long script, a quarter of an
`inspect`. Everything they write is closed (and temporary folders removed) by
then; only the commands below keep the ordinary exit. The same commands leave
new parse-cache entries to a child forked at the very end (`parse_cache.DEFER`),
which closes its standard streams so that a reader of the output never waits
for it.
"""

import os
import signal
import sys


def _quiet_exit(signum: int, frame: object) -> None:
    os._exit(128 + signum)  # nothing is written yet: end without a traceback from inside an import


# Until the CLI installs its own handlers (migrate.signals): a SIGINT/SIGTERM during start-up ends quietly.
signal.signal(signal.SIGINT, _quiet_exit)
signal.signal(signal.SIGTERM, _quiet_exit)

from migrate.shell import early, parse_cache  # noqa: E402 - after the handlers above

_ORDINARY_EXIT = ("train", "parity", "batch")  # torch, worker processes: let them shut down normally


def main() -> int:
    argv = sys.argv[1:]
    command = next((word for word in argv if not word.startswith("-")), None)
    parse_cache.DEFER = command not in _ORDINARY_EXIT
    early.start(argv)
    from migrate.cli import main as cli_main

    code = cli_main()
    signal.signal(signal.SIGINT, _quiet_exit)  # the output is complete: a late signal only ends the run
    signal.signal(signal.SIGTERM, _quiet_exit)
    if command in _ORDINARY_EXIT:
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the output was not wanted
            pass
    parse_cache.write_deferred()  # a forked child writes new parse-cache entries; this process ends now
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
