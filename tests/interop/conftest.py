"""Fixtures for the JS interop tests: a fresh channel URL and spawned JS peers."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from rx_itty.relay import Relay
from tests.interop.jspeer import INSTALL, JS_DIR, JsPeer, SpawnJs


@pytest_asyncio.fixture
async def url(relay: Relay) -> str:
    """A fresh channel's URL on the relay (no ``?``: the JS client adds one)."""
    return f"{relay.url}itty:interop:js-{secrets.token_hex(4)}"


@pytest_asyncio.fixture
async def js(relay: Relay) -> AsyncIterator[SpawnJs]:
    """Starts JS peers; every one is killed at test end, before the relay stops.

    A missing ``node`` or ``node_modules`` fails the test (in its body, so it is
    reported as FAILED rather than as a setup error) and never skips it.
    """
    peers: list[JsPeer] = []

    async def spawn() -> JsPeer:
        node = shutil.which("node")
        if node is None:
            pytest.fail(f"JS interop needs Node.js 20+ on PATH, then: {INSTALL}", pytrace=False)
        if not all((JS_DIR / "node_modules" / pkg).is_dir() for pkg in ("itty-sockets", "ws")):
            pytest.fail(f"JS interop packages are missing: run {INSTALL}", pytrace=False)
        peer = await JsPeer.start(node)
        peers.append(peer)
        return peer

    try:
        yield spawn
    finally:
        await asyncio.gather(*(peer.kill() for peer in peers))
