"""``python -m keyturn`` entry point."""

from __future__ import annotations

import sys

from keyturn.cli import main

if __name__ == "__main__":
    sys.exit(main())
