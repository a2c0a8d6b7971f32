"""`python -m agent` runs the same CLI as the `pantau` console script."""

from __future__ import annotations

import sys

from agent.cli import main

sys.exit(main())
