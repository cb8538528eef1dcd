import sys

from migrate.shell import early

early.start(sys.argv[1:])  # shfmt parses the script while the CLI is imported

from migrate.cli import main  # noqa: E402

sys.exit(main())
