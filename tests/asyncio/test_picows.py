"""What is particular to the picows transport (``rx_itty.asyncio.picows``).

The transport contract and the behaviour both network transports share are in
tests/test_transport_contract.py and tests/asyncio/test_transport.py; here: the
``ws_connect`` options it derives, TLS on a socket it connected itself (so the
host name must be passed on), its error text, its log, and its absence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from websockets.asyncio.server import ServerConnection, serve

from tests.conftest import Tls
from tests.rawws import accept_upgrade, server_frame
from tests.support import WaitingRecorder, run_python, scaled

picows = pytest.importorskip("picows", reason="the fast extra (picows) is not installed")

from rx_itty.asyncio import LoopRuntime  # noqa: E402
from rx_itty.asyncio.picows import PicowsTransport, _describe  # noqa: E402


def test_wss_passes_the_host_name_to_verify_and_ws_passes_none() -> None:
    transport = PicowsTransport()
    assert transport._options("wss://relay.example:8443/c/room?joinKey=k")["server_hostname"] == (
        "relay.example"
    )
    assert "server_hostname" not in transport._options("ws://relay.example/c/room")


def test_keepalive_pings_when_idle_and_waits_no_longer_than_the_interval() -> None:
    options = PicowsTransport(ping_interval=5.0, ping_timeout=30.0)._options("ws://h/c/r")
    assert options["enable_auto_ping"] is True
    assert options["auto_ping_idle_timeout"] == 5.0
    assert options["auto_ping_reply_timeout"] == 5.0  # at most ping_interval
    shorter = PicowsTransport(ping_interval=5.0, ping_timeout=2.0)._options("ws://h/c/r")
    assert shorter["auto_ping_reply_timeout"] == 2.0
    unlimited = PicowsTransport(ping_interval=5.0, ping_timeout=None)._options("ws://h/c/r")
    assert unlimited["auto_ping_reply_timeout"] == 5.0


def test_no_keepalive_when_ping_interval_is_none() -> None:
    options = PicowsTransport(ping_interval=None)._options("ws://h/c/r")
    assert "enable_auto_ping" not in options


def test_max_size_bounds_each_frame_and_open_timeout_covers_the_handshake() -> None:
    options = PicowsTransport(max_size=1234)._options("ws://h/c/r")
    assert options["max_frame_size"] == 1234
    assert options["websocket_handshake_timeout"] is None  # open_timeout spans it all


def test_an_invalid_url_is_described_without_its_query() -> None:
    error = picows.WSInvalidURL("ws://h/c/room?joinKey=secret", "hostname isn't provided")
    assert _describe(error) == "ws://h/c/room isn't a valid URL: hostname isn't provided"


def test_without_picows_importing_the_transport_says_how_to_install_it() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['picows'] = None\n"
        "from rx_itty.exceptions import MissingDependency\n"
        "try:\n"
        "    import rx_itty.asyncio.picows\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
    )
    assert "pip install 'rx_itty[fast]'" in done.stdout


# -- against a real server -----------------------------------------------------------------


async def greet(conn: ServerConnection) -> None:
    await conn.send("hello")
    await conn.wait_closed()


@pytest_asyncio.fixture
async def wss_port(tls: Tls) -> AsyncIterator[int]:
    async with serve(greet, "127.0.0.1", 0, ssl=tls.server) as running:
        yield next(iter(running.sockets)).getsockname()[1]


@pytest.mark.asyncio
async def test_wss_by_host_name_verifies_the_certificate_for_that_name(
    tls: Tls, wss_port: int
) -> None:
    # The link connects the TCP socket itself; TLS on it needs the name to check.
    listener = WaitingRecorder()
    link = PicowsTransport(ssl=tls.client).open(
        f"wss://localhost:{wss_port}/c/room", listener, LoopRuntime(asyncio.get_running_loop())
    )
    await listener.until(lambda: bool(listener.named("frame")) or listener.closed)
    assert listener.named("frame") == ["hello"], listener.calls
    link.close()
    await listener.until(lambda: listener.closed)


@pytest.mark.asyncio
async def test_picows_says_nothing_above_debug_for_a_connection_that_comes_and_goes(
    tls: Tls, wss_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    listener = WaitingRecorder()
    with caplog.at_level(logging.DEBUG, logger="rx_itty.client.picows"):
        link = PicowsTransport(ssl=tls.client).open(
            f"wss://127.0.0.1:{wss_port}/c/room", listener, LoopRuntime(asyncio.get_running_loop())
        )
        await listener.until(lambda: bool(listener.named("frame")))
        link.close()
        await listener.until(lambda: listener.closed, within=scaled(5))
    ours = [r for r in caplog.records if r.name.startswith("rx_itty.client.picows")]
    assert ours, "picows logged nothing at all: the test would not see a demotion"
    assert [r.getMessage() for r in ours if r.levelno > logging.DEBUG] == []


@pytest.mark.asyncio
async def test_a_frame_picows_refuses_closes_with_1002_and_logs_nothing_above_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def bad_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(server_frame(b"", opcode=0x3))  # a reserved opcode
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(bad_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    listener = WaitingRecorder()
    async with server:
        with caplog.at_level(logging.DEBUG, logger="rx_itty.client.picows"):
            PicowsTransport().open(
                f"ws://127.0.0.1:{port}/c/room", listener, LoopRuntime(asyncio.get_running_loop())
            )
            await listener.until(lambda: listener.closed)
    (close,) = listener.named("close")
    assert close.code == 1002
    ours = [r for r in caplog.records if r.name.startswith("rx_itty.client.picows")]
    assert any("parser error" in r.getMessage() for r in ours)  # it was said, at DEBUG
    assert [r.getMessage() for r in ours if r.levelno > logging.DEBUG] == []
