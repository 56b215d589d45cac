"""Testing support for rx_itty users: marbles, event builders, an in-memory relay, a fixture.

- :func:`marble_socket` / :class:`MarbleSocket` — a real socket whose incoming events
  come from marble strings and whose outgoing frames are recorded, in virtual time.
- :func:`message`, :func:`join`, :func:`leave`, :func:`error` — event builders.
- :class:`MemoryRelay` — the relay's semantics behind the transport seam, for
  multi-socket tests in virtual time.
- The pytest plugin (``rx_itty.testing.pytest_plugin``, loaded automatically) gives
  the ``itty_relay`` fixture: a real relay on 127.0.0.1 for integration tests.
"""

from __future__ import annotations

from rx_itty.testing.builders import error, frame, join, leave, message
from rx_itty.testing.marbles import MarbleSocket, Outgoing, marble_socket
from rx_itty.testing.memory import MemoryRelay

__all__ = [
    "MarbleSocket",
    "MemoryRelay",
    "Outgoing",
    "error",
    "frame",
    "join",
    "leave",
    "marble_socket",
    "message",
]
