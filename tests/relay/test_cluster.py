"""One relay over several processes: real ``rx-itty serve --backplane`` nodes on a real Redis.

Every test starts its own ``redis-server`` (a temp dir, a unix socket, no
persistence) and two or three node processes, and talks to them with raw
``websockets`` peers. "Nothing else arrived" is proved with a sentinel: frames
from one sender keep their order for every receiver, so if a peer's next frame
is the sentinel, nothing came before it. Without ``redis-server`` these tests
skip, saying how to install it (``RX_ITTY_REQUIRE_REDIS=1`` makes that a failure).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rx_itty import Backoff, connect
from tests.cli.support import run
from tests.rawws import Stalled, read_frame
from tests.redis_server import RedisServer
from tests.relay.cluster import Node, running_nodes
from tests.relay.test_http_push import Client, post
from tests.relay.test_http_push import one as push_once
from tests.relay.test_server import sentinel
from tests.support import Peer, first, scaled

pytestmark = pytest.mark.asyncio


def channel() -> str:
    return f"itty:cluster:test-{secrets.token_hex(4)}"


@pytest_asyncio.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[list[Node]]:
    async with running_nodes(redis_server.url, 2) as nodes:
        yield nodes


async def join(node: Node, name: str, query: str = "") -> tuple[Peer, dict[str, Any]]:
    peer = await Peer.connect(f"{node.url}{name}?{query}")
    return peer, await peer.joined()


async def expect_status(url: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await ws_connect(url, open_timeout=scaled(5))
    assert caught.value.response.status_code == status


PUSHABLE = {"namespaces": {"app": {"sendKey": "S"}}}
"""A config under which ``app:...`` channels take HTTP pushes with send key ``S``."""


def serve_args(tmp_path: Path, config: dict[str, Any], *more: str) -> tuple[str, ...]:
    """``rx-itty serve`` arguments: ``config`` written to a file in ``tmp_path``, then ``more``."""
    path = tmp_path / "relay.json"
    path.write_text(json.dumps(config))
    return ("--config", str(path), *more)


async def commandstats(server: RedisServer) -> dict[str, int]:
    """Calls per command since the server started (``INFO commandstats``)."""
    from redis import asyncio as aioredis

    client = aioredis.Redis.from_url(server.url)
    try:
        info = await client.info("commandstats")
    finally:
        await client.aclose()
    return {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in info.items()}


# -- start -------------------------------------------------------------------------


async def test_every_node_prints_its_own_node_id(redis_server: RedisServer) -> None:
    async with running_nodes(redis_server.url, 3) as nodes:
        assert len({node.node_id for node in nodes}) == 3
        assert {node.backplane for node in nodes} == {redis_server.url}


async def test_a_node_that_cannot_reach_redis_fails_with_one_line_naming_the_url() -> None:
    code, out, err = await run(
        ["serve", "--port", "0", "--backplane", "redis://admin:hunter2@127.0.0.1:1/3"]
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "cannot reach the Redis backplane at redis://127.0.0.1:1/3" in lines[0]
    assert "hunter2" not in lines[0]
    assert "admin" not in lines[0]
    assert "listening" not in out


async def test_a_malformed_backplane_url_fails_with_one_line_and_no_credentials() -> None:
    code, out, err = await run(
        ["serve", "--port", "0", "--backplane", "redis://admin:hun/ter2@127.0.0.1:1/3"]
    )
    assert code == 2  # a configuration error, as for any other bad setting
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "redis://127.0.0.1:1/3 is not a valid Redis URL" in lines[0]
    for secret in ("admin", "hun", "ter2"):
        assert secret not in err
    assert "listening" not in out


# -- one relay over two nodes ------------------------------------------------------------


async def test_broadcast_echo_and_cluster_wide_totals_across_nodes(two: list[Node]) -> None:
    name = channel()
    a, own_a = await join(two[0], name, "announce=true&as=A&echo=true")
    b, own_b = await join(two[1], name, "announce=true&as=B")
    assert own_a["total"] == 1
    assert own_b["total"] == 2
    seen = await a.recv()
    assert (seen["type"], seen["uid"], seen["alias"], seen["total"]) == (
        "join",
        own_b["uid"],
        "B",
        2,
    )

    await a.send({"text": "hi"})
    for peer in (a, b):
        envelope = await peer.recv()
        assert envelope["message"] == {"text": "hi"}
        assert (envelope["uid"], envelope["alias"]) == (own_a["uid"], "A")
    await b.send("from b")
    assert (await a.recv())["message"] == "from b"
    await sentinel(a, a, b)  # each got exactly one copy of everything

    await b.close()
    leave = await a.recv()
    assert (leave["type"], leave["uid"], leave["total"]) == ("leave", own_b["uid"], 1)
    await a.close()


async def test_list_gives_the_cluster_wide_roster_in_join_order(two: list[Node]) -> None:
    name = channel()
    peers = []
    expected = []
    for i, node in enumerate([two[0], two[1], two[0], two[1]]):
        announced = i != 2
        peer, own = await join(node, name, f"announce=true&as=P{i}" if announced else "")
        peers.append(peer)
        if announced:
            expected.append({"uid": own["uid"], "alias": f"P{i}"})
    last, own = await join(two[0], name, "announce=true&list=true")
    assert own["total"] == 5
    assert own["users"] == [*expected, {"uid": own["uid"], "self": True}]
    for peer in [*peers, last]:
        await peer.close()


async def test_direct_messages_reach_a_uid_on_another_node_and_only_it(two: list[Node]) -> None:
    name = channel()
    a, _ = await join(two[0], name, "as=Al")
    bystander, _ = await join(two[0], name)
    b, own_b = await join(two[1], name)
    for peer in (a, a, bystander):
        await peer.recv()  # the joins of bystander (a only) and b
    await a.send("psst", to=own_b["uid"])
    dm = await b.recv()
    assert (dm["message"], dm["alias"]) == ("psst", "Al")
    await sentinel(b, a, bystander)  # neither the sender nor the bystander got it

    await a.send("anyone?", to="non-existent-user")
    error = await a.recv()
    assert error["type"] == "error"
    assert "non-existent-user" in error["message"]
    for peer in (a, bystander, b):
        await peer.close()


async def test_a_newcomer_on_another_node_is_dm_addressable_once_its_join_is_seen(
    two: list[Node],
) -> None:
    name = channel()
    a, _ = await join(two[0], name)
    for _ in range(5):
        newcomer, own = await join(two[1], name, "announce=true")
        seen = await a.recv()
        assert seen["uid"] == own["uid"]
        await a.send("welcome", to=seen["uid"])  # at once: no chance to settle
        assert (await newcomer.recv())["message"] == "welcome"
        await newcomer.close()
        assert (await a.recv())["type"] == "leave"
    await a.close()


async def test_frames_from_one_sender_keep_their_order_on_every_other_node(
    two: list[Node],
) -> None:
    name = channel()
    receivers = [(await join(node, name))[0] for node in (two[1], two[1])]
    sender, _ = await join(two[0], name, "echo=true")
    for peer in receivers:
        for _ in range(2 if peer is receivers[0] else 1):
            await peer.recv()  # later joins
    count = 300
    for n in range(count):
        await sender.send(n)
    for peer in [sender, *receivers]:
        assert [(await peer.recv())["message"] for _ in range(count)] == list(range(count))
    for peer in [sender, *receivers]:
        await peer.close()


async def test_each_frame_crosses_redis_once_and_is_delivered_once(
    redis_server: RedisServer, two: list[Node]
) -> None:
    name = channel()
    a, _ = await join(two[0], name, "echo=true")
    b, _ = await join(two[1], name)
    await a.recv()
    await sentinel(a, a, b)  # everything about the joins is settled
    before = await commandstats(redis_server)
    count = 50
    for n in range(count):
        await a.send(n)
    for peer in (a, b):
        assert [(await peer.recv())["message"] for _ in range(count)] == list(range(count))
    await sentinel(a, a, b)  # and no second copy of anything
    after = await commandstats(redis_server)
    # The messages and the sentinel, one PUBLISH each at most (a node publishes the
    # frames it has queued for one channel together), never one per node or receiver.
    assert 1 <= after["publish"] - before["publish"] <= count + 1
    for peer in (a, b):
        await peer.close()


# -- keys and HTTP push ------------------------------------------------------------------


async def test_a_join_key_set_on_one_node_is_enforced_on_every_node_and_dies_with_the_channel(
    two: list[Node],
) -> None:
    name = channel()
    a, _ = await join(two[0], name, "joinKey=first")
    await expect_status(f"{two[1].url}{name}?", 403)
    await expect_status(f"{two[1].url}{name}?joinKey=wrong", 403)
    b, own = await join(two[1], name, "joinKey=first")
    assert own["total"] == 2
    await a.close()
    assert (await b.recv())["total"] == 1
    await b.close()
    # The channel ended with its last member: a new first joiner sets a new key.
    c, own = await join(two[1], name, "joinKey=second")
    assert own["total"] == 1
    await expect_status(f"{two[0].url}{name}?joinKey=first", 403)
    await c.close()


async def test_a_send_key_set_on_one_node_gates_senders_on_every_node(two: list[Node]) -> None:
    name = channel()
    owner, _ = await join(two[0], name, "sendKey=s&echo=true")
    other, _ = await join(two[1], name)
    await owner.recv()
    await other.send("spam")
    error = await other.recv()
    assert error["type"] == "error"
    assert "sendKey" in error["message"]
    await sentinel(owner, owner, other)  # the spam reached nobody
    await owner.close()
    await other.close()


async def test_namespaces_and_http_push_work_across_nodes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    namespaces = {"app": {"joinKey": "J", "sendKey": "S"}}
    args = serve_args(tmp_path, {"namespaces": namespaces}, "--http-port", "0")
    async with running_nodes(redis_server.url, 2, *args) as (one, other):
        await expect_status(f"{other.url}app:alerts?", 403)
        a, _ = await join(one, "app:alerts", "joinKey=J")
        b, _ = await join(other, "app:alerts", "joinKey=J")
        await a.recv()
        status, _, answer = await push_once(
            other.http_url, post("/c/app:alerts", b'{"level":1}', key="S")
        )
        assert (status, answer["message"]) == (200, "Delivered to 2 connections.")
        for peer in (a, b):
            envelope = await peer.recv()
            assert envelope["message"] == {"level": 1}
            assert set(envelope) == {"date", "message"}
        await sentinel(a, b)  # one copy each
        await a.close()
        await b.close()


async def test_per_connection_limits_stay_with_the_connection(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    limits = {"messages_per_window": 2, "window_seconds": 60, "exempt_loopback": False}
    args = serve_args(tmp_path, {"limits": limits})
    async with running_nodes(redis_server.url, 2, *args) as (one, other):
        name = channel()
        a, _ = await join(one, name, "echo=true")
        b, _ = await join(other, name, "echo=true")
        await a.recv()
        for n in range(3):
            await a.send(n)
        assert [(await a.recv()).get("type") for _ in range(3)] == [None, None, "error"]
        assert [(await b.recv())["message"] for _ in range(2)] == [0, 1]
        for n in range(2):  # b's budget is its own, on its own node
            await b.send(n)
        assert [(await b.recv())["message"] for _ in range(2)] == [0, 1]
        await a.close()
        await b.close()


async def test_a_replacement_for_the_last_member_on_another_node_gets_its_own_join(
    two: list[Node],
) -> None:
    # A page reload behind a load balancer: the only member of a room, on one node,
    # closes while its replacement, just upgraded by the other node, is joining. Its
    # leave can reach that node between the room's roster and the replacement's join;
    # before the fix about one try in six left the replacement with no own join, ever.
    for _ in range(40):
        name = channel()
        old, _ = await join(two[1], name)
        new = await Peer.connect(f"{two[0].url}{name}?")
        await old.close()
        own = await new.joined()
        if own["total"] == 2:  # it joined first: the old one's leave follows
            assert (await new.recv())["type"] == "leave"
        else:
            assert own["total"] == 1
        await new.close()


# -- faults ---------------------------------------------------------------------------------


async def test_a_killed_nodes_members_leave_with_corrected_totals(
    redis_server: RedisServer,
) -> None:
    name = channel()
    async with running_nodes(redis_server.url, 3) as (one, doomed, other):
        a, _ = await join(one, name)
        _, own_b = await join(doomed, name, "announce=true&as=B")
        await join(doomed, name)
        c, _ = await join(other, name)
        for _ in range(3):
            await a.recv()
        await doomed.kill()
        leaves = [await a.recv(within=10), await a.recv(within=10)]
        assert [leave["type"] for leave in leaves] == ["leave", "leave"]
        assert [leave["total"] for leave in leaves] == [3, 2]
        assert [leave.get("uid") for leave in leaves].count(own_b["uid"]) == 1
        assert [(await c.recv(within=10))["total"] for _ in range(2)] == [3, 2]
        await sentinel(c, a)  # nothing else: no duplicated leave
        await a.close()
        await c.close()


async def test_a_redis_restart_closes_with_1012_refuses_with_503_then_recovers_without_ghosts(
    redis_server: RedisServer, two: list[Node]
) -> None:
    name = channel()
    a, _ = await join(two[0], name, "announce=true")
    b, _ = await join(two[1], name, "announce=true")
    await a.recv()
    redis_server.kill()
    for peer in (a, b):
        with pytest.raises(ConnectionClosed) as closed:
            await peer.recv(within=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012  # service restart: reconnect
    await expect_status(f"{two[0].url}{name}?", 503)

    # Clients that reconnect by themselves (rx_itty does on 1012 and 503) get back in.
    retry = Backoff(initial=0.05, maximum=0.5)
    x = connect(two[0].url + name, announce=True, list=True, reconnect=retry).open()
    y = connect(two[1].url + name, announce=True, reconnect=retry).open()
    try:
        refused = await first(x.closes, lambda close: close.rejected == 503, within=10)
        assert refused.reconnecting
        redis_server.start()
        await x.opened(timeout=scaled(20))
        await y.opened(timeout=scaled(20))
        for node in two:  # the recovery is logged as loudly as the outage
            warnings = [line for line in node.log().splitlines() if " WARNING " in line]
            assert any("lost the Redis backplane" in line for line in warnings), node.log()
            assert any("is back on the Redis backplane" in line for line in warnings), node.log()
        roster = await first(x.presence, lambda p: p.total == 2, within=10)
        assert {u.uid for u in roster.users} == {x.uid, y.uid}  # the old members are gone
        seen: list[object] = []
        watching = y.messages.subscribe(lambda m: seen.append(m.message))
        last = asyncio.ensure_future(first(y.messages, lambda m: m.message == "last"))
        x.send("after the restart")
        x.send("last")
        await last
        watching.dispose()
        assert seen == ["after the restart", "last"]  # each once: no duplicated delivery
        # A newcomer's snapshot holds exactly the two reconnected members.
        c, own = await join(two[1], name, "list=true")
        assert own["total"] == 3
        assert {user["uid"] for user in own["users"]} == {x.uid, y.uid}
        await c.close()
    finally:
        x.dispose()
        y.dispose()


# -- the relay's own limits, on a cluster -------------------------------------------------


def port_of(node: Node) -> int:
    port = urlsplit(node.url).port
    assert port is not None
    return port


async def next_of_type(peer: Peer, kind: str) -> dict[str, Any]:
    """The next system event of ``kind`` (``join``, ``leave``), skipping messages."""
    while (frame := await peer.recv(within=30)).get("type") != kind:
        pass
    return frame


async def test_a_slow_reader_on_one_node_is_dropped_with_1013_and_the_cluster_carries_on(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    limits = {"max_buffered_bytes": 64 * 1024, "slow_reader_seconds": scaled(3)}
    args = serve_args(tmp_path, {"limits": limits})
    async with running_nodes(redis_server.url, 2, *args) as (one, other):
        name = channel()
        watcher = await Peer.connect(f"{one.url}{name}?", max_queue=None)
        await watcher.joined()
        fast = await Peer.connect(f"{other.url}{name}?", max_queue=None)
        await fast.joined()
        stalled = await Stalled.join(port_of(other), f"/c/{name}?")  # never reads
        sender, _ = await join(one, name)
        for peer, joins in ((watcher, 3), (fast, 2)):
            assert [(await peer.recv())["type"] for _ in range(joins)] == ["join"] * joins

        # Node A relays 8 MB to node B, twice what the kernel may buffer for a socket:
        # B drops its stalled member after the grace, and the watcher on A hears of
        # it through Redis.
        sent = 400
        for n in range(sent):
            await sender.send({"n": n, "pad": "x" * 20_000})
        await sender.send({"n": "end"})
        assert (await next_of_type(watcher, "leave"))["total"] == 3  # watcher, fast, sender

        # The stalled member, reading at last, finds a 1013 close behind its backlog.
        stalled.transport.resume_reading()
        async with asyncio.timeout(scaled(20)):
            while (close := await read_frame(stalled.reader))[0] != 0x8:
                pass
        assert int.from_bytes(close[1][:2], "big") == 1013
        assert b"too slow" in close[1]
        stalled.close()
        assert "too slow a reader" in other.log()

        # Nobody else was disturbed: the fast member on the same node got every
        # message in order, and the leave once; the roster is right cluster-wide.
        numbers: list[Any] = []
        leaves: list[tuple[str, int]] = []
        while len(numbers) <= sent or not leaves:
            frame = await fast.recv(within=30)
            if "message" in frame:
                numbers.append(frame["message"]["n"])
            else:
                leaves.append((frame["type"], frame["total"]))
        assert numbers == [*range(sent), "end"]
        assert leaves == [("leave", 3)]
        newcomer, own = await join(other, name)
        assert own["total"] == 4
        assert (await next_of_type(watcher, "join"))["total"] == 4
        frame = await fast.recv()  # the next thing after the leave: no second one
        assert (frame["type"], frame["total"]) == ("join", 4)
        for peer in (watcher, fast, sender, newcomer):
            await peer.close()


async def test_behind_a_trusted_proxy_a_node_bans_the_forwarded_client_not_the_proxy(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    limits = {"messages_per_window": 1, "window_seconds": 60, "warnings": 0, "ban_seconds": 60}
    args = serve_args(tmp_path, {"limits": limits}, "--trusted-proxy", "127.0.0.1")
    spammer_ip = {"X-Forwarded-For": "198.51.100.9"}
    other_ip = {"X-Forwarded-For": "198.51.100.10"}
    async with running_nodes(redis_server.url, 2, *args) as (one, other):
        name = channel()
        url = f"{one.url}{name}?"
        bystander, _ = await join(other, name)
        spammer = await Peer.connect(url, additional_headers=spammer_ip)
        await spammer.joined()
        await spammer.send(1)
        await spammer.send(2)  # over the rate: with no warnings left, closed and banned
        assert "disconnecting" in (await spammer.recv())["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await spammer.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        # On the other node, the bystander saw it come, say one thing, and go.
        seen = [await bystander.recv() for _ in range(3)]
        assert [frame.get("type") for frame in seen] == ["join", None, "leave"]
        assert (seen[1]["message"], seen[2]["total"]) == (1, 1)
        # Banned is the client the proxy named, not the proxy (loopback: exempt anyway).
        with pytest.raises(InvalidStatus) as refused:
            await ws_connect(url, open_timeout=scaled(5), additional_headers=spammer_ip)
        assert refused.value.response.status_code == 429
        # Another client behind the same proxy is let in, into the cluster-wide channel.
        newcomer = await Peer.connect(url, additional_headers=other_ip)
        assert (await newcomer.joined())["total"] == 2
        await newcomer.close()
        await bystander.close()


async def test_a_push_with_expect_100_continue_to_one_node_reaches_members_on_another(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    args = serve_args(tmp_path, PUSHABLE, "--http-port", "0")
    async with running_nodes(redis_server.url, 2, *args) as (one, other):
        member, _ = await join(other, "app:alerts")
        client = await Client.open(one.http_url)
        body = b'{"level":2}'
        head = post("/c/app:alerts", body, key="S", extra="Expect: 100-continue\r\n")
        client.writer.write(head[: -len(body)])
        async with asyncio.timeout(scaled(5)):  # no body sent yet: node A must speak first
            interim = await client.reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 ")
        client.writer.write(body)
        status, headers, answer = await client.response()
        assert (status, answer["message"]) == (200, "Delivered to 1 connection.")
        assert headers.get("connection") != "close"  # kept alive for the next push
        envelope = await member.recv()
        assert (envelope["message"], set(envelope)) == ({"level": 2}, {"date", "message"})
        client.writer.write(post("/c/app:alerts", b"3", key="S"))  # same connection
        assert (await client.response())[0] == 200
        assert (await member.recv())["message"] == 3
        await client.close()
        await member.close()


async def test_a_push_while_redis_is_down_is_answered_503_and_the_connection_kept(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    args = serve_args(tmp_path, PUSHABLE, "--http-port", "0")
    async with running_nodes(redis_server.url, 1, *args) as (node,):
        member, _ = await join(node, "app:alerts")
        redis_server.kill()
        with pytest.raises(ConnectionClosed) as closed:
            await member.recv(within=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012  # the node knows Redis is gone
        client = await Client.open(node.http_url)
        for _ in range(2):  # a refusal after the whole body was read keeps the connection
            client.writer.write(post("/c/app:alerts", b"1", key="S"))
            status, headers, answer = await client.response()
            assert (status, answer["ok"]) == (503, False)
            assert "backplane" in answer["message"]
            assert headers.get("connection") != "close"
        await client.close()


async def test_a_push_answered_503_was_not_delivered_on_its_node(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # Redis stops answering while a push is on its way: the node answers 503 once it
    # notices, and a member on that node must not have the push already, or the
    # client's retry would give it a second copy.
    args = serve_args(tmp_path, PUSHABLE, "--http-port", "0")
    async with running_nodes(redis_server.url, 2, *args) as (here, there):
        local, _ = await join(here, "app:alerts")
        await join(there, "app:alerts")
        assert (await local.recv())["type"] == "join"
        assert redis_server.proc is not None
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        try:
            status, _, answer = await push_once(here.http_url, post("/c/app:alerts", b"1", key="S"))
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        assert (status, answer["ok"]) == (503, False)
        with pytest.raises(ConnectionClosed) as closed:  # the close, and not the push first
            await local.recv(within=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
