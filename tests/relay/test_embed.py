"""rx_itty.relay.embed: a relay on a background thread, for scripts and notebooks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import socket
import threading
import urllib.request
import warnings
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from rx_itty import (
    connect,
    start_relay_thread,
)
from rx_itty.exceptions import RelayNotStarted
from rx_itty.relay import NamespaceKeys, Relay, RelayConfig, RelayThread
from tests.support import ENGINE, first, scaled


@pytest.mark.asyncio
async def test_stopping_a_relay_thread_from_a_running_loop_does_not_block_it() -> None:
    # The notebook shape: the relay's clients live on the loop calling stop().
    relay = start_relay_thread(engine=ENGINE)
    ch = connect("room", server=relay.url, reconnect=False)
    await ch.opened(scaled(5))
    closed = asyncio.ensure_future(first(ch.closes, lambda _: True))
    relay.stop()  # returns at once; the loop stays free for the close handshake
    assert (await closed).code == 1000
    await relay.astop()
    ch.dispose()


def refuses_connections(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:``port`` any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=scaled(5)).close()
    except ConnectionRefusedError:
        return True
    return False


def own_join(url: str) -> dict[str, Any]:
    with ws_connect(url, open_timeout=scaled(5)) as conn:
        frame = json.loads(conn.recv(timeout=scaled(5)))
    assert isinstance(frame, dict)
    return frame


def test_start_returns_the_url_and_is_idempotent() -> None:
    relay = RelayThread(engine=ENGINE)
    try:
        url = relay.start()
        assert relay.start() == url == relay.url
        assert url == f"ws://127.0.0.1:{relay.port}/c/"
        assert relay.port > 0
        assert own_join(url + "room")["self"] is True
    finally:
        relay.stop()


def test_stop_closes_the_port_and_is_idempotent() -> None:
    relay = start_relay_thread(engine=ENGINE)
    port = relay.port
    relay.stop()
    relay.stop()
    assert refuses_connections(port)


def test_stop_before_start_does_nothing() -> None:
    relay = RelayThread(engine=ENGINE)
    relay.stop()
    relay.start()  # still startable
    relay.stop()


def test_a_relay_thread_that_never_started_leaves_no_unclosed_loop() -> None:
    relay = RelayThread(engine=ENGINE)
    relay.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del relay
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


def test_a_with_block_serves_inside_and_stops_after() -> None:
    with start_relay_thread(engine=ENGINE) as relay:
        port = relay.port
        assert own_join(relay.url + "room")["type"] == "join"
    assert refuses_connections(port)


def test_a_with_block_starts_a_relay_thread_that_was_not_started() -> None:
    with RelayThread(engine=ENGINE) as relay:
        assert own_join(relay.url + "room")["self"] is True
        port = relay.port
    assert refuses_connections(port)


def test_a_port_already_in_use_raises_os_error_from_start() -> None:
    with start_relay_thread(engine=ENGINE) as taken:
        with pytest.raises(OSError, match="address already in use"):
            RelayThread(port=taken.port, engine=ENGINE).start()
        with pytest.raises(OSError, match="address already in use"):
            start_relay_thread(port=taken.port, engine=ENGINE)
        assert own_join(taken.url + "room")["self"] is True  # the first one is unharmed


def test_http_port_passes_through_and_accepts_pushes() -> None:
    config = RelayConfig(namespaces={"app": NamespaceKeys(send_key="S3CRET")})
    with start_relay_thread(config, http_port=0, engine=ENGINE) as relay:
        http_url = relay.relay.http_url
        assert http_url is not None
        assert http_url.startswith("http://127.0.0.1:")
        with ws_connect(relay.url + "app:alerts", open_timeout=scaled(5)) as member:
            assert json.loads(member.recv(timeout=scaled(5)))["type"] == "join"
            request = urllib.request.Request(  # noqa: S310 - a loopback http:// URL we built
                http_url + "app:alerts",
                data=b'{"level":"high"}',
                headers={"x-send-key": "S3CRET"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=scaled(5)) as response:  # noqa: S310
                assert response.status == 200
            envelope = json.loads(member.recv(timeout=scaled(5)))
    assert envelope["message"] == {"level": "high"}


def test_without_http_port_there_is_no_http_push() -> None:
    with start_relay_thread(engine=ENGINE) as relay:
        assert relay.relay.http_url is None


@pytest.mark.parametrize("name", ["port", "url"])
def test_reading_a_relays_address_before_start_raises_relay_not_started(name: str) -> None:
    with pytest.raises(RelayNotStarted, match="not started"):
        getattr(Relay(engine=ENGINE), name)


def test_reading_a_relay_threads_port_before_start_raises_relay_not_started() -> None:
    relay = RelayThread(engine=ENGINE)
    answer: concurrent.futures.Future[int] = concurrent.futures.Future()

    def read() -> None:
        try:
            answer.set_result(relay.port)
        except BaseException as exc:
            answer.set_exception(exc)

    # A daemon thread, so that the blocking read cannot hang the test run.
    threading.Thread(target=read, daemon=True).start()
    try:
        with pytest.raises(RelayNotStarted):
            answer.result(scaled(1))
    finally:
        relay.start()  # releases a blocked read
        relay.stop()
