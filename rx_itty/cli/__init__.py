"""The ``rx-itty`` command line: ``serve``, ``listen``, ``send`` and ``demo``.

Run it as ``rx-itty`` or ``python -m rx_itty``; :func:`main` is the entry point.
"""

from __future__ import annotations

from rx_itty.cli.app import main

__all__ = ["main"]
