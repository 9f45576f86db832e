"""``python -m cloudphot``: the same command as the ``cloudphot`` console script."""

import sys

from .cli import main

sys.exit(main())
