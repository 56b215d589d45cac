"""Shared fixtures: a real relay on 127.0.0.1, port 0.

With ``RX_ITTY_TEST_BACKPLANE=redis`` the ``relay`` fixture runs on a Redis
backplane instead (a throwaway ``redis-server`` for the session), so every test
written against one relay also runs, unchanged, through the cluster code path::

    RX_ITTY_TEST_BACKPLANE=redis .venv/bin/python -m pytest tests/relay tests/interop
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from rx_itty.relay import Relay
from tests.redis_server import RedisServer, redis_or_skip
from tests.support import ENGINE

BACKPLANE_ENV = "RX_ITTY_TEST_BACKPLANE"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty ``redis-server`` for one test (skips without one: see redis_or_skip)."""
    with RedisServer.running(redis_or_skip()) as server:
        yield server


@pytest.fixture(scope="session")
def test_backplane() -> Iterator[str | None]:
    """The backplane URL the ``relay`` fixture uses: ``None`` unless ``BACKPLANE_ENV=redis``."""
    choice = os.environ.get(BACKPLANE_ENV, "")
    if choice not in ("", "redis"):
        pytest.fail(f"{BACKPLANE_ENV} must be 'redis' or unset, got {choice!r}", pytrace=False)
    if not choice:
        yield None
        return
    with RedisServer.running(redis_or_skip()) as server:
        yield server.url


@pytest_asyncio.fixture
async def relay(test_backplane: str | None) -> AsyncIterator[Relay]:
    """A real relay with default configuration on a free loopback port."""
    async with Relay(backplane=test_backplane, engine=ENGINE) as running:
        yield running
