"""Testing support for rx_itty users: marbles, event builders, an in-memory relay, a fixture.

- :func:`marble_socket` / :class:`MarbleSocket` — a real socket whose incoming events
  come from marble strings and whose outgoing frames are recorded, in virtual time.
- :func:`message`, :func:`join`, :func:`leave`, :func:`error` — event builders.
- :class:`MemoryRelay` — the relay's semantics behind the transport seam, for
  multi-socket tests in virtual time.
- :func:`load_recording` and :func:`replay` — real traffic recorded with
  ``rx-itty listen ROOM --record FILE``, played back on a scheduler (or into a
  :class:`MarbleSocket` with its ``replay`` method), in virtual time.
- The pytest plugin (``rx_itty.testing.pytest_plugin``, loaded automatically) gives
  the ``itty_relay`` fixture (a real relay on 127.0.0.1 for integration tests),
  ``itty_relay_config`` to override its configuration, and ``make_itty_relay``
  for several relays in one test.
"""

from __future__ import annotations

from rx_itty.recording import Recording, load_recording
from rx_itty.testing.builders import error, frame, join, leave, message
from rx_itty.testing.marbles import MarbleSocket, Outgoing, marble_socket
from rx_itty.testing.memory import MemoryRelay
from rx_itty.testing.replay import replay

__all__ = [
    "MarbleSocket",
    "MemoryRelay",
    "Outgoing",
    "Recording",
    "error",
    "frame",
    "join",
    "leave",
    "load_recording",
    "marble_socket",
    "message",
    "replay",
]
