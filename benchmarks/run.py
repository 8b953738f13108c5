"""The speed benchmark lives in the package (`python -m queuectl.bench`); this runs it."""

from __future__ import annotations

import sys

from queuectl.bench.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
