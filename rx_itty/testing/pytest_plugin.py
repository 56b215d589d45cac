"""pytest plugin: real rx_itty relays for integration tests.

Loaded automatically when rx_itty is installed (entry point ``pytest11``).
The names follow pytest-httpserver's: a ready server, a fixture to override
its configuration, and a ``make_`` factory::

    def test_my_bot(itty_relay):                     # a relay with the default config
        ch = connect("room", server=itty_relay.url)
        ...

    @pytest.fixture
    def itty_relay_config():                         # in a test module or conftest.py:
        return RelayConfig(namespaces={"app": NamespaceKeys(send_key="k")})  # its relays

    def test_two_regions(make_itty_relay):           # several relays, or several configs
        eu, us = make_itty_relay(), make_itty_relay(RelayConfig(...), http_port=0)

Each relay runs on a background thread on 127.0.0.1 with a free port, so it works
for plain and async tests alike; every relay a test made is stopped (clients
closed normally) after that test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, Unpack

import pytest

from rx_itty.relay.config import RelayConfig

if TYPE_CHECKING:  # the relay itself loads only when a test asks for one
    from rx_itty.relay.embed import RelayThread
    from rx_itty.relay.server import RelayOptions

__all__ = ["MakeIttyRelay", "itty_relay", "itty_relay_config", "make_itty_relay"]


class MakeIttyRelay(Protocol):
    """What ``make_itty_relay`` is: call it to start one more relay for this test."""

    def __call__(
        self, config: RelayConfig | None = None, **options: Unpack[RelayOptions]
    ) -> RelayThread:
        """Start a relay (``itty_relay_config`` unless ``config`` is given) and return it.

        Args:
            config: This relay's configuration; ``None`` uses ``itty_relay_config``.
            **options: ``host``, ``port`` (0: a free one), ``http_port`` (also accept
                HTTP pushes there), as for :func:`~rx_itty.relay.start_relay_thread`.
        """
        ...


@pytest.fixture
def itty_relay_config() -> RelayConfig:
    """The configuration of ``itty_relay`` (and of ``make_itty_relay()`` without one).

    The default: the hosted service's limits, no reserved namespaces. Override
    this fixture in a test module, a class or a ``conftest.py`` to give every
    relay there keys, namespaces or limits of its own.
    """
    return RelayConfig()


@pytest.fixture
def make_itty_relay(itty_relay_config: RelayConfig) -> Iterator[MakeIttyRelay]:
    """A factory of running relays; all of them are stopped after the test."""
    relays: list[RelayThread] = []

    from rx_itty.relay.embed import start_relay_thread

    def make(config: RelayConfig | None = None, **options: Unpack[RelayOptions]) -> RelayThread:
        relay = start_relay_thread(itty_relay_config if config is None else config, **options)
        relays.append(relay)
        return relay

    try:
        yield make
    finally:
        for relay in reversed(relays):
            relay.stop()


@pytest.fixture
def itty_relay(make_itty_relay: MakeIttyRelay) -> RelayThread:
    """A running relay; ``itty_relay.url`` is its base URL (``ws://127.0.0.1:PORT/c/``)."""
    return make_itty_relay()
