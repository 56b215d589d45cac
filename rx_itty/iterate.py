"""The old home of the stream iterators; they live in :mod:`rx_itty.streams` now.

Kept so that ``from rx_itty.iterate import Stream, aiterate, iterate`` still works.
Prefer ``from rx_itty import iterate`` or ``from rx_itty.streams import ...``: a
module named like the function it holds would shadow that function on the package.
"""

from __future__ import annotations

from rx_itty.streams import AsyncStreamIterator, Stream, StreamIterator, aiterate, iterate

__all__ = ["AsyncStreamIterator", "Stream", "StreamIterator", "aiterate", "iterate"]
