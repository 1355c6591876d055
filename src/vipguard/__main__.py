"""``python -m vipguard ...``: the same command line as the ``vipguard`` entry point."""

import sys

from .cli import main

sys.exit(main())
