"""The relay over real sockets on 127.0.0.1: every server requirement of PROTOCOL §12.1.

Each test uses raw ``websockets`` clients. "Nothing else arrived" is checked with
a sentinel: per-connection order is guaranteed (§6), so if the next frame a peer
gets is the sentinel, nothing was delivered before it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rx_itty.relay import Limits, NamespaceKeys, Relay, RelayConfig
from tests.rawws import open_socket, read_head, status_of, upgrade_request
from tests.support import ENGINE, Peer, scaled

pytestmark = pytest.mark.asyncio


def channel() -> str:
    return f"itty:itty-sockets:test-{secrets.token_hex(4)}"


@pytest_asyncio.fixture
async def url(relay: Relay) -> str:
    """A fresh channel's URL on the shared relay; append ``?query``."""
    return relay.url + channel()


async def sentinel(sender: Peer, *receivers: Peer) -> None:
    """Prove nothing else is queued for ``receivers``: the next frame is the sentinel."""
    marker = secrets.token_hex(4)
    await sender.send({"sentinel": marker})
    for peer in receivers:
        frame = await peer.recv()
        assert frame["message"] == {"sentinel": marker}, f"unexpected frame {frame}"


# -- 1-9: handshake and own join -----------------------------------------------


async def test_accepts_channel_with_colons_and_an_empty_query(url: str) -> None:
    async with await Peer.connect(url + "?") as peer:
        assert (await peer.recv())["type"] == "join"


async def test_a_fresh_channel_starts_at_total_one_and_is_isolated(relay: Relay) -> None:
    async with (
        await Peer.connect(relay.url + channel() + "?echo=true") as a,
        await Peer.connect(relay.url + channel() + "?echo=true") as b,
    ):
        assert (await a.joined())["total"] == 1
        assert (await b.joined())["total"] == 1
        await a.send("only for a")
        await sentinel(b, b)
        assert (await a.recv())["message"] == "only for a"


async def test_unknown_query_parameters_are_ignored(url: str) -> None:
    async with await Peer.connect(url + "?itty%3Aitty-sockets%3Atest-xyz=&foo=bar") as peer:
        assert (await peer.joined())["total"] == 1


async def test_own_join_is_first_with_self_uid_total_date_and_no_alias(url: str) -> None:
    async with await Peer.connect(url + "?") as peer:
        join = await peer.recv()
        assert join["type"] == "join"
        assert join["self"] is True
        assert isinstance(join["uid"], str)
        assert join["total"] == 1
        assert isinstance(join["date"], int)
        assert "alias" not in join
        assert "users" not in join


@pytest.mark.parametrize("param", ["alias", "as"])
async def test_own_join_carries_the_alias_given_as_alias_or_as(url: str, param: str) -> None:
    async with await Peer.connect(f"{url}?announce=true&{param}=test-user") as peer:
        assert (await peer.joined())["alias"] == "test-user"


async def test_list_gives_a_snapshot_of_announced_users(url: str) -> None:
    async with (
        await Peer.connect(url + "?announce=true&as=A") as a,
        await Peer.connect(url + "?") as b,
    ):
        a_uid = (await a.joined())["uid"]
        await b.joined()
        async with await Peer.connect(url + "?announce=true&list=true") as c:
            join = await c.joined()
            assert join["total"] == 3
            assert join["users"] == [
                {"uid": a_uid, "alias": "A"},
                {"uid": join["uid"], "self": True},
            ]


# -- 10, 11, 25: others' join ----------------------------------------------------


async def test_members_see_newcomers_with_identity_only_when_announced(url: str) -> None:
    async with await Peer.connect(url + "?") as a:
        await a.joined()
        async with await Peer.connect(url + "?as=Quiet") as b:
            b_join = await b.joined()
            assert b_join["alias"] == "Quiet"
            assert await a.recv() == {"type": "join", "total": 2, "date": b_join["date"]}
            async with await Peer.connect(url + "?announce=true") as c:
                c_uid = (await c.joined())["uid"]
                seen = await a.recv()
                assert (seen["uid"], seen["total"]) == (c_uid, 3)
                assert "alias" not in seen
                assert not seen.get("self")
            async with await Peer.connect(url + "?announce=true&alias=Loud") as d:
                d_uid = (await d.joined())["uid"]
                await a.recv()  # c's leave
                seen = await a.recv()
                assert (seen["uid"], seen["alias"]) == (d_uid, "Loud")


async def test_a_newcomer_is_dm_addressable_when_others_see_its_join(url: str) -> None:
    async with await Peer.connect(url + "?") as a:
        await a.joined()
        async with await Peer.connect(url + "?announce=true") as b:
            await b.joined()
            newcomer = (await a.recv())["uid"]
            await a.send("welcome", to=newcomer)
            assert (await b.recv())["message"] == "welcome"


# -- 12-22: messages -------------------------------------------------------------


async def test_echo_returns_the_senders_own_broadcast(url: str) -> None:
    async with await Peer.connect(url + "?echo=true") as a:
        await a.joined()
        await a.send("test")
        assert (await a.recv())["message"] == "test"


@pytest.mark.parametrize(
    "payload",
    [
        "test",
        {"foo": "bar"},
        [1, 2, 3],
        13,
        None,
        True,
        {"type": "chat", "user": "Kevin", "text": "hi"},
        {"uid": "foo", "alias": "bar", "date": 12345},
    ],
)
async def test_payloads_round_trip_under_message_in_an_unmerged_envelope(
    url: str, payload: object
) -> None:
    async with await Peer.connect(url + "?") as a, await Peer.connect(url + "?") as b:
        a_uid = (await a.joined())["uid"]
        await b.joined()
        await a.recv()  # b's join
        await b.send(payload)
        await a.send(payload)
        envelope = await b.recv()
        assert set(envelope) == {"date", "uid", "message"}  # no type, no alias
        assert envelope["message"] == payload
        assert envelope["uid"] == a_uid
        assert isinstance(envelope["date"], int)


@pytest.mark.parametrize("param", ["alias", "as"])
async def test_envelope_carries_the_alias_without_announce(url: str, param: str) -> None:
    async with await Peer.connect(f"{url}?echo=true&{param}=Kev") as a:
        await a.joined()
        await a.send({"type": "chat"})
        assert (await a.recv())["alias"] == "Kev"


async def test_back_to_back_frames_are_relayed_and_echoed_in_order(url: str) -> None:
    async with await Peer.connect(url + "?echo=true") as a, await Peer.connect(url + "?") as b:
        await a.joined()
        await b.joined()
        await a.recv()
        for word in ("first", "second", "third"):
            await a.send(word)
        for peer in (a, b):
            assert [(await peer.recv())["message"] for _ in range(3)] == [
                "first",
                "second",
                "third",
            ]


async def test_own_join_precedes_the_echo_of_a_message_sent_at_open(url: str) -> None:
    async with connect(url + "?echo=true") as conn:
        await conn.send('"queued"')  # sent before reading anything, as a flushed queue is
        peer = Peer(conn)
        assert (await peer.recv())["type"] == "join"
        assert (await peer.recv())["message"] == "queued"


# -- 23-26: direct messages ------------------------------------------------------


async def test_direct_messages_reach_only_the_recipient(url: str) -> None:
    async with (
        await Peer.connect(url + "?echo=true&as=Al") as a,
        await Peer.connect(url + "?") as b,
        await Peer.connect(url + "?") as c,
    ):
        await a.joined()
        b_uid = (await b.joined())["uid"]
        await c.joined()
        for _ in range(2):
            await a.recv()
        await b.recv()
        await a.send("psst", to=b_uid)
        dm = await b.recv()
        assert dm["message"] == "psst"
        assert dm["alias"] == "Al"
        assert "type" not in dm
        await sentinel(b, a, c)  # neither the sender (echo) nor c got the DM


async def test_direct_message_to_an_unknown_uid_errors_to_the_sender_only(url: str) -> None:
    async with await Peer.connect(url + "?") as a, await Peer.connect(url + "?") as b:
        await a.joined()
        await b.joined()
        await a.recv()
        await a.send("hi", to="non-existent-user")
        error = await a.recv()
        assert error["type"] == "error"
        assert "non-existent-user" in error["message"]
        assert "uid" not in error
        await sentinel(a, b)


# -- 27-32: leave and close --------------------------------------------------------


async def test_frames_sent_just_before_close_arrive_before_the_leave(url: str) -> None:
    async with await Peer.connect(url + "?") as a:
        await a.joined()
        b = await Peer.connect(url + "?announce=true&as=Bo")
        b_uid = (await b.joined())["uid"]
        await a.recv()
        await b.send("bye")
        await b.close()
        assert (await a.recv())["message"] == "bye"
        leave = await a.recv()
        assert leave["type"] == "leave"
        assert (leave["total"], leave["uid"], leave["alias"]) == (1, b_uid, "Bo")
        assert isinstance(leave["date"], int)


async def test_leave_of_an_unannounced_member_has_no_identity(url: str) -> None:
    async with await Peer.connect(url + "?") as a:
        await a.joined()
        b = await Peer.connect(url + "?as=Hidden")
        await b.joined()
        await a.recv()
        await b.close()
        leave = await a.recv()
        assert set(leave) == {"type", "total", "date"}
        assert leave["total"] == 1


async def test_client_initiated_close_completes_normally(url: str) -> None:
    conn = await connect(url + "?")
    await conn.recv()
    await conn.close()
    assert conn.close_code == 1000


async def test_survives_undefined_frames_and_sockets_that_vanish(relay: Relay, url: str) -> None:
    async with await Peer.connect(url + "?echo=true") as a:
        await a.joined()
        await a.conn.send("undefined")
        assert (await a.recv())["type"] == "error"
        for _ in range(5):
            conn = await connect(relay.url + channel() + "?")
            await conn.close()
        # A client that dies mid-frame: a frame header promising 100 bytes, then EOF.
        host, port = "127.0.0.1", relay.port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"GET /c/" + channel().encode() + b"? HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
        writer.write(b"\x81\xe4" + b"\x00" * 4 + b'{"partial":')
        writer.close()
        await writer.wait_closed()
        await a.send("still here")
        assert (await a.recv())["message"] == "still here"


# -- access control, limits, status codes --------------------------------------------


async def expect_status(url: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await connect(url, open_timeout=scaled(5))
    assert caught.value.response.status_code == status


async def test_wrong_or_missing_join_key_is_refused_with_403(url: str) -> None:
    async with await Peer.connect(url + "?joinKey=sesame") as a:
        await a.joined()
        await expect_status(url + "?", 403)
        await expect_status(url + "?joinKey=wrong", 403)
        async with await Peer.connect(url + "?joinKey=sesame") as b:
            assert (await b.joined())["total"] == 2


async def test_sending_without_the_send_key_errors_and_relays_nothing(url: str) -> None:
    async with await Peer.connect(url + "?sendKey=s&echo=true") as a:
        await a.joined()
        async with await Peer.connect(url + "?") as b:
            await b.joined()
            await a.recv()
            await b.send("spam")
            error = await b.recv()
            assert error["type"] == "error"
            assert "sendKey" in error["message"]
            await a.send("ok")
            assert (await a.recv())["message"] == "ok"  # a saw nothing before it
            assert (await b.recv())["message"] == "ok"


async def test_namespace_keys_from_the_config_are_enforced() -> None:
    config = RelayConfig(namespaces={"myapp": NamespaceKeys(join_key="J", send_key="S")})
    async with Relay(config, engine=ENGINE) as relay:
        await expect_status(relay.url + "myapp:room?", 403)
        async with await Peer.connect(relay.url + "myapp:room?joinKey=J&sendKey=S&echo=true") as a:
            await a.joined()
            await a.send(1)
            assert (await a.recv())["message"] == 1


@pytest.mark.parametrize(("path", "status"), [("x/room?", 404), ("c/?", 400)])
async def test_bad_paths_get_http_errors(relay: Relay, path: str, status: int) -> None:
    await expect_status(relay.url.removesuffix("c/") + path, status)


async def test_oversize_frames_get_an_error_event_then_a_policy_close() -> None:
    config = RelayConfig(limits=Limits(max_frame_bytes=1000, warnings=1))
    async with (
        Relay(config, engine=ENGINE) as relay,
        await Peer.connect(relay.url + "r?echo=true") as a,
    ):
        await a.joined()
        big = "x" * 2000
        await a.send(big)
        assert (await a.recv())["message"] == "Message exceeds 1000 bytes (warning 1 of 1)."
        await a.send("fine")
        assert (await a.recv())["message"] == "fine"
        await a.send(big)
        assert (await a.recv())["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            await a.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008


async def test_rate_limit_applies_to_loopback_when_not_exempt() -> None:
    limits = Limits(messages_per_window=3, window_seconds=60, exempt_loopback=False)
    async with (
        Relay(RelayConfig(limits=limits), engine=ENGINE) as relay,
        await Peer.connect(relay.url + "r?echo=true") as a,
    ):
        await a.joined()
        for n in range(4):
            await a.send(n)
        assert [(await a.recv()).get("type") for _ in range(4)] == [None, None, None, "error"]


async def test_one_clients_bad_frames_never_disturb_another(url: str) -> None:
    async with await Peer.connect(url + "?") as bad, await Peer.connect(url + "?") as good:
        await bad.joined()
        await good.joined()
        await bad.recv()
        for garbage in ("undefined", "{", "\x1fnobody", "\x1fx\x1f1"):
            await bad.conn.send(garbage)
        await bad.conn.send(b"\x00\x01")
        for _ in range(5):
            assert (await bad.recv())["type"] == "error"
        await sentinel(bad, good)


# -- operations --------------------------------------------------------------------


async def test_compression_is_off_by_default(url: str) -> None:
    async with connect(url + "?") as conn:
        assert conn.response is not None
        assert "Sec-WebSocket-Extensions" not in conn.response.headers


async def test_stopping_the_relay_closes_clients_normally() -> None:
    relay = Relay(engine=ENGINE)
    await relay.start()
    peer = await Peer.connect(relay.url + "r?")
    await peer.joined()
    await relay.aclose()
    with pytest.raises(ConnectionClosed) as closed:
        await peer.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000


async def test_keys_are_never_logged_even_at_debug_level(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with await Peer.connect(url + "?joinKey=TOPSECRET1&sendKey=TOPSECRET2") as a:
        await a.joined()
        await expect_status(url + "?joinKey=TOPSECRET3", 403)
    relay_records = [r for r in caplog.records if r.name.startswith("rx_itty")]
    assert any("GET /c/" in r.getMessage() for r in relay_records)  # request lines were logged
    assert not [r for r in relay_records if "TOPSECRET" in r.getMessage()]


async def test_a_key_with_whitespace_in_it_is_masked_whole_at_debug_level(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    # The relay reads the key up to the next '&', vertical tab and all.
    caplog.set_level(logging.DEBUG)
    reader, writer = await open_socket(relay.port)
    writer.write(upgrade_request("/c/vt?joinKey=AA\x0bTOPSECRET4&as=Ann"))
    assert status_of(await read_head(reader)) == 101
    writer.close()
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("rx_itty")]
    assert any("joinKey=***&as=Ann" in message for message in logged)
    assert "TOPSECRET4" not in caplog.text


async def test_a_payload_nested_deeper_than_clients_decode_is_refused_not_relayed(
    url: str,
) -> None:
    async with await Peer.connect(url + "?") as sender, await Peer.connect(url + "?") as other:
        await sender.joined()
        await other.joined()
        await sender.recv()
        await sender.conn.send("[" * 1024 + "]" * 1024)  # every rx_itty client would fail on it
        error = await sender.recv()
        assert error["type"] == "error"
        assert "nested more than 511 levels deep" in error["message"]
        await sentinel(sender, other)  # the other member got nothing before the sentinel
