"""``python -m asynchttp``: the same command as the ``asynchttp`` console script."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
