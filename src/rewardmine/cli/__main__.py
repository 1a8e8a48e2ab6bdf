"""``python -m rewardmine.cli ...``: the ``rewardmine`` command without its console script."""

import sys

from rewardmine.cli import main

sys.exit(main())
