"""`python -m lab` runs the same CLI as the `pantau-lab` console script."""

from __future__ import annotations

import sys

from lab.cli import main

sys.exit(main())
