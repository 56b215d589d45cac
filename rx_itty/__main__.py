"""``python -m rx_itty`` runs the command line."""

from __future__ import annotations

import sys

__all__: list[str] = []

if __name__ == "__main__":
    try:
        from rx_itty.cli import main

        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while still importing
        sys.exit(130)
