"""HTTP push over a real socket: POST /c/<channel> with an x-send-key header."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from rx_itty.relay import NamespaceKeys, Relay, RelayConfig
from tests.support import Peer, scaled

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def pushing_relay() -> AsyncIterator[Relay]:
    config = RelayConfig(namespaces={"app": NamespaceKeys(send_key="S3CRET")})
    async with Relay(config, http_port=0) as relay:
        yield relay


async def http(relay: Relay, request: bytes) -> tuple[int, dict[str, Any]]:
    assert relay.http_url is not None
    return await http_at(relay.http_url, request)


async def http_at(base: str, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send one raw HTTP request to the push listener at ``base``; the status and JSON answer."""
    port = int(base.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    async with asyncio.timeout(scaled(5)):
        response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def post(path: str, body: bytes, key: str | None = "S3CRET") -> bytes:
    headers = f"POST {path} HTTP/1.1\r\nHost: relay\r\nContent-Length: {len(body)}\r\n"
    if key is not None:
        headers += f"x-send-key: {key}\r\n"
    return headers.encode() + b"\r\n" + body


async def test_a_push_reaches_every_websocket_member(pushing_relay: Relay) -> None:
    url = pushing_relay.url + "app:alerts?"
    async with await Peer.connect(url) as a, await Peer.connect(url) as b:
        await a.joined()
        await b.joined()
        await a.recv()
        status, answer = await http(pushing_relay, post("/c/app:alerts", b'{"level":"high"}'))
        assert (status, answer["ok"], answer["message"]) == (
            200,
            True,
            "Delivered to 2 connections.",
        )
        for peer in (a, b):
            envelope = await peer.recv()
            assert set(envelope) == {"date", "message"}
            assert envelope["message"] == {"level": "high"}


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (post("/c/app:x", b"1", key=None), 403),
        (post("/c/app:x", b"1", key="wrong"), 403),
        (post("/c/app:x", b"{nope"), 400),
        (b"GET /c/app:x HTTP/1.1\r\nHost: relay\r\n\r\n", 405),
        (b"POST /c/app:x HTTP/1.1\r\nHost: relay\r\n\r\n", 411),
        (post("/c/app:x", b"1" * 200_000), 413),
    ],
)
async def test_bad_pushes_get_a_clear_status(
    pushing_relay: Relay, request_bytes: bytes, status: int
) -> None:
    got, answer = await http(pushing_relay, request_bytes)
    assert got == status
    assert answer["ok"] is False
    assert answer["message"]


async def test_http_push_is_off_unless_asked_for(relay: Relay) -> None:
    assert relay.http_url is None
