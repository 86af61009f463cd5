"""`python -m kerascnn.cli`: the `kerascnn` command."""

import sys

from kerascnn.cli import main

sys.exit(main())
