"""Testing support for rx_itty users: an in-memory relay for virtual-time tests.

- :class:`MemoryRelay` — the relay core behind the transport seam; pass it as
  ``connect(..., transport=relay, scheduler=test_scheduler)``.
"""

from __future__ import annotations

from rx_itty.testing.memory import MemoryRelay

__all__ = ["MemoryRelay"]
