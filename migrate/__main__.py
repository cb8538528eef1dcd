"""`python -m migrate` and the `primus-migrate` console script."""

import sys

from migrate.cli import main

if __name__ == "__main__":
    sys.exit(main())
