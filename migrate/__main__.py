"""`python -m migrate` and the `primus-migrate` console script.

shfmt starts on the script named on the command line before the CLI's modules are
imported, so the parse and the imports overlap (or, for a script parsed before,
the cached tree is read) from the first millisecond.

Commands that neither train nor start worker processes end with `os._exit` once
their output is flushed: the interpreter's own teardown (freeing every syntax
node, clearing modules) costs 20-30 ms after a long script, a quarter of an
`inspect`. Everything they write is closed (and temporary folders removed) by
then; only the commands below keep the ordinary exit.
"""

import os
import sys

from migrate.shell import early

_ORDINARY_EXIT = ("train", "parity", "batch")  # torch, worker processes: let them shut down normally


def main() -> int:
    argv = sys.argv[1:]
    early.start(argv)
    from migrate.cli import main as cli_main

    code = cli_main()
    command = next((word for word in argv if not word.startswith("-")), None)
    if command in _ORDINARY_EXIT:
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the output was not wanted
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
