"""``python -m rx_itty`` runs the command line."""

from __future__ import annotations

import sys

from rx_itty.cli import main

if __name__ == "__main__":
    sys.exit(main())
