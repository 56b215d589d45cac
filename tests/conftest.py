"""Shared fixtures: a real relay on 127.0.0.1, port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from rx_itty.relay import Relay


@pytest_asyncio.fixture
async def relay() -> AsyncIterator[Relay]:
    """A real relay with default configuration on a free loopback port."""
    async with Relay() as running:
        yield running
