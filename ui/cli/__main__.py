"""`python -m ui.cli ...`: the same as the `tunechat` console script."""

import sys

from ui.cli import main

sys.exit(main())
