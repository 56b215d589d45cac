"""Keys never reach a log, at any level, on any path, however the query spells them.

Everything runs at DEBUG, where ``websockets`` logs every request line: accepted
and refused handshakes, malformed requests, HTTP pushes, and the client side.
Every secret below contains ``SECRET``; the captured log text must not.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from rx_itty import Close, connect
from rx_itty.exceptions import HandshakeRejected
from rx_itty.relay import NamespaceKeys, Relay, RelayConfig
from tests.rawws import open_socket, read_head
from tests.support import quoting_server, scaled

pytestmark = pytest.mark.asyncio

# The test's own raw clients log what they send: their records are not the library's.
TOOLING = logging.getLogger("tests.tooling")

ACCEPTED = [
    "joinKey=SECRETa1&sendKey=SECRETa2",
    "join%4Bey=SECRETb1&send%4bey=SECRETb2",
    "%6A%6F%69%6E%4B%65%79=SECRETc1&as=Ann",
    "echo=true&joinKey=SECRET%2Dd1",  # the value percent-encoded too
    "x=1?sendKey=SECRETe1",  # a second '?' inside a value
]
REFUSED = [
    ("vault", "joinKey=SECRETf1", 403),  # the wrong key
    ("vault", "join%4Bey=SECRETf2", 403),
    ("fresh", "joinKey=&join%4Bey=SECRETg1", 400),  # a key twice
    ("fresh", "sendKey=SECRETg2&send%4Bey=SECRETg3", 400),
]


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await open_socket(port)
    writer.write(request)
    head = await read_head(reader)
    writer.close()
    await writer.wait_closed()
    return head


async def test_no_key_reaches_any_log_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = RelayConfig(namespaces={"app": NamespaceKeys(send_key="SECRETpush")})
    async with Relay(config, http_port=0) as relay:
        async with ws_connect(
            relay.url + "vault?joinKey=SECRETvault", open_timeout=scaled(5), logger=TOOLING
        ):
            for n, query in enumerate(ACCEPTED):
                async with ws_connect(
                    f"{relay.url}room{n}?{query}", open_timeout=scaled(5), logger=TOOLING
                ):
                    pass
            for channel, query, status in REFUSED:
                with pytest.raises(InvalidStatus) as refused:
                    await ws_connect(
                        f"{relay.url}{channel}?{query}", open_timeout=scaled(5), logger=TOOLING
                    )
                assert refused.value.response.status_code == status

        # Malformed or oversize request lines end up in exception texts.
        bad_line = b"GET /c/r?join%4Bey=SECRETh1 HTTP/1.1 junk\r\nHost: x\r\n\r\n"
        assert await raw_request(relay.port, bad_line) == b""
        long_line = f"GET /c/r?sendKey=SECRETh2&pad={'a' * 9000} HTTP/1.1\r\n\r\n".encode()
        assert b" 414 " in await raw_request(relay.port, long_line)

        # HTTP push: the key header, and keys in the query, whatever the answer.
        assert relay.http_url is not None
        port = int(relay.http_url.split(":")[2].split("/")[0])
        for key, path in [("SECRETpush", "/c/app:x?sendKey=SECRETi1"), ("SECRETi2", "/c/app:x")]:
            push = (
                f"POST {path} HTTP/1.1\r\nHost: r\r\nx-send-key: {key}\r\n"
                "Content-Length: 1\r\nConnection: close\r\n\r\n1"
            ).encode()
            assert await raw_request(port, push)

        # The client: options, a raw URL with an encoded name, and a refusal.
        async with connect(
            "client", server=relay.url, join_key="SECRETj1", send_key="SECRETj2"
        ) as ch:
            await ch.opened(timeout=scaled(5))
            ch.send("hello")
        async with connect(relay.url + "raw?join%4Bey=SECRETj3") as ch:
            await ch.opened(timeout=scaled(5))
        intruder = connect("vault2", server=relay.url, join_key="SECRETj4")
        async with connect("vault2", server=relay.url, join_key="SECRETj5") as ch:
            await ch.opened(timeout=scaled(5))
            with pytest.raises(HandshakeRejected):
                await intruder.opened(timeout=scaled(5))
        intruder.dispose()
        await asyncio.sleep(0)  # let the last close callbacks log

    records = [record for record in caplog.records if record.name != TOOLING.name]
    text = "\n".join(caplog.handler.format(record) for record in records)
    assert "GET /c/room1?join%4Bey=***&send%4bey=*** HTTP/1.1" in text  # request lines were logged
    assert "GET /c/client?joinKey=***&sendKey=*** HTTP/1.1" in text  # on the client side too
    assert "GET /c/r?join%4Bey=*** HTTP/1.1 junk" in text  # in a logged traceback
    assert "SECRET" not in text


async def test_a_refusal_that_quotes_the_request_never_shows_the_key() -> None:
    async with quoting_server() as base:
        ch = connect("room", server=base, join_key="SECRETk1", send_key="SECRETk2")
        closes: list[Close] = []
        ch.closes.subscribe(closes.append)
        with pytest.raises(HandshakeRejected) as refused:
            await ch.opened(timeout=scaled(5))
        await ch.adispose()
    assert refused.value.status == 400
    assert "Bad request: GET /c/room?joinKey=***&sendKey=***" in str(refused.value)
    shown = [str(refused.value), refused.value.reason, *(close.reason for close in closes)]
    assert closes
    assert "SECRET" not in "\n".join(shown)
    assert "SECRET" not in str(HandshakeRejected("ws://h/c/r", 400, "GET /c/r?joinKey=SECRETk3"))
