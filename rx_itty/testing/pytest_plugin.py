"""pytest plugin: a real rx_itty relay for integration tests.

Loaded automatically when rx_itty is installed (entry point ``pytest11``)::

    def test_my_bot(itty_relay):
        ch = connect("room", server=itty_relay.url)
        ...

The relay runs on a background thread on 127.0.0.1 with a free port, so it works
for plain and async tests alike; it is stopped (clients closed normally) after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rx_itty.relay import RelayThread, start_relay_thread

__all__ = ["itty_relay"]


@pytest.fixture
def itty_relay() -> Iterator[RelayThread]:
    """A running relay; ``itty_relay.url`` is its base URL (``ws://127.0.0.1:PORT/c/``)."""
    relay = start_relay_thread()
    try:
        yield relay
    finally:
        relay.stop()
