"""`python -m migrate` and the `primus-migrate` console script.

shfmt starts on the script named on the command line before the CLI's modules are
imported, so the parse and the imports overlap (or, for a script parsed before,
the cached tree is read) from the first millisecond.
"""

import sys

from migrate.shell import early


def main() -> int:
    early.start(sys.argv[1:])
    from migrate.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
