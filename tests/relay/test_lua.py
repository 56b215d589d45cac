"""The backplane's Lua scripts, run on a real ``redis-server``: each one's own contract.

The scripts are called here as the Redis backplane calls them (``EVAL`` with no
keys, the prefix first), and what they leave in Redis and publish is read back
with a plain client. How a relay uses them is in ``test_redis.py`` and
``test_cluster.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from redis import asyncio as aioredis

from rx_itty.relay._lua import SCRIPTS
from tests.redis_server import RedisServer
from tests.support import scaled

pytestmark = pytest.mark.asyncio

NODE, OTHER = "node00000001", "node00000002"
TTL_MS = 60_000


class Scripts:
    """The scripts on one Redis, under one prefix, and a subscriber to their events."""

    def __init__(self, client: aioredis.Redis, prefix: str = "rxi") -> None:
        self.client = client
        self.prefix = prefix
        self.pubsub = client.pubsub()

    async def run(self, name: str, *args: Any) -> Any:
        return await self.client.eval(SCRIPTS[name], 0, self.prefix, *args)

    async def register(self, node: str = NODE, ttl_ms: int = TTL_MS) -> None:
        assert await self.run("beat", node, ttl_ms, "1") == 1

    async def join(
        self,
        channel: str,
        *uids: str,
        node: str = NODE,
        keys: tuple[str, str] = ("", ""),
        reserved: bool = False,
        announce: bool = False,
        alias: str = "",
        date: int = 1000,
        ref: str = "r",  # the join's token, handed back in its event
    ) -> list[str]:
        reply = await self.run(
            "join",
            channel,
            node,
            "1" if reserved else "0",
            *keys,
            "1" if announce else "0",
            alias,
            date,
            ref,
            *(uids or ("u1",)),
        )
        return [part.decode() for part in reply]

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def watch(self, channel: str) -> None:
        await self.pubsub.subscribe(self.key("c", channel))

    async def event(self) -> tuple[str, str, Any]:
        """The next event published: its letter, its node, its decoded JSON body."""
        async with asyncio.timeout(scaled(5)):
            while True:  # a subscription's confirmation comes back as None: read on
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                if message is not None:
                    break
        data = message["data"].decode()
        return data[0], data[1:13], json.loads(data[13:])

    async def quiet(self, channel: str) -> None:
        """Prove no other event is pending: the next one is a marker published now."""
        await self.client.publish(self.key("c", channel), "M" + NODE + '"marker"')
        assert await self.event() == ("M", NODE, "marker")


@pytest_asyncio.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Scripts]:
    client = aioredis.Redis.from_url(redis_server.url)
    scripts = Scripts(client)
    await scripts.register()
    yield scripts
    await scripts.pubsub.aclose()  # type: ignore[no-untyped-call]
    await client.aclose()


# -- join -------------------------------------------------------------------------


async def test_a_join_adds_the_member_and_announces_it_with_its_place(redis: Scripts) -> None:
    await redis.watch("room")
    assert await redis.join("room", "u1", announce=True, alias="Ann", date=111, ref="mine") == [
        "ok",
        "u1",
    ]
    letter, node, event = await redis.event()
    assert (letter, node) == ("J", NODE)
    # uid, seq, total, date, announce, alias, token; then the channel's keys, as it is new.
    assert event == ["u1", 1, 1, 111, 1, "Ann", "mine", "", ""]
    record = await redis.client.hget(redis.key("m", "room"), "u1")
    assert isinstance(record, bytes)
    assert json.loads(record) == [NODE, 1, 1, "Ann"]
    assert await redis.client.smembers(redis.key("u", NODE)) == {b"u1\0room"}


async def test_joins_and_leaves_take_their_places_in_one_sequence_for_all_channels(
    redis: Scripts,
) -> None:
    await redis.watch("room")
    await redis.join("room", "a")
    await redis.join("other", "x")
    await redis.join("room", "b")
    assert await redis.run("leave", "room", "a", 5) == 1
    events = [await redis.event() for _ in range(3)]
    assert [(letter, body[0], body[1], body[2]) for letter, _, body in events] == [
        ("J", "a", 1, 1),
        ("J", "b", 3, 2),  # place 2 went to the other channel
        ("L", "a", 4, 1),
    ]
    # Only a channel's first member's join carries its keys.
    assert len(events[0][2]) == 9
    assert len(events[1][2]) == 7


async def test_the_first_free_candidate_uid_is_taken(redis: Scripts) -> None:
    assert await redis.join("room", "a", "b") == ["ok", "a"]
    assert await redis.join("room", "a", "b", "c") == ["ok", "b"]
    assert await redis.join("room", "b", "a") == ["uid"]  # every candidate taken
    assert await redis.join("other", "a") == ["ok", "a"]  # uids are per channel
    assert await redis.client.hlen(redis.key("m", "room")) == 2


async def test_a_refused_join_adds_nobody_and_publishes_nothing(redis: Scripts) -> None:
    await redis.watch("room")
    await redis.join("room", "a", keys=("J", ""))
    await redis.event()
    assert await redis.join("room", "a", keys=("J", "")) == ["uid"]
    assert await redis.join("room", "b", keys=("wrong", "")) == ["key"]
    assert await redis.join("room", "b", node=OTHER) == ["gone"]  # not registered
    await redis.quiet("room")
    assert await redis.client.hkeys(redis.key("m", "room")) == [b"a"]


async def test_the_first_member_sets_the_channel_keys_and_later_ones_must_match(
    redis: Scripts,
) -> None:
    await redis.watch("room")
    assert await redis.join("room", "a", keys=("jd", "sd")) == ["ok", "a"]
    assert (await redis.event())[2][7:] == ["jd", "sd"]
    assert await redis.client.hgetall(redis.key("k", "room")) == {b"j": b"jd", b"s": b"sd"}
    assert await redis.join("room", "b", keys=("jd", "")) == ["ok", "b"]
    for wrong in ("", "jD", "jdx", "j"):  # missing, differing, longer, shorter
        assert await redis.join("room", "c", keys=(wrong, "")) == ["key"]
    assert await redis.run("keys", "room") == [b"jd", b"sd"]


async def test_a_channel_without_a_join_key_lets_anyone_join(redis: Scripts) -> None:
    assert await redis.join("room", "a", keys=("", "sd")) == ["ok", "a"]
    assert await redis.join("room", "b", keys=("whatever", "")) == ["ok", "b"]
    assert await redis.run("keys", "room") == [b"", b"sd"]


async def test_reserved_channels_take_their_keys_from_the_config_not_the_members(
    redis: Scripts,
) -> None:
    assert await redis.join("app:room", "a", keys=("jd", "sd"), reserved=True) == ["ok", "a"]
    assert await redis.join("app:room", "b", keys=("other", ""), reserved=True) == ["ok", "b"]
    assert await redis.run("keys", "app:room") == [b"", b""]


async def test_the_keys_go_with_the_last_member_and_the_next_first_sets_new_ones(
    redis: Scripts,
) -> None:
    await redis.join("room", "a", keys=("old", "old-send"))
    await redis.join("room", "b", keys=("old", ""))
    await redis.run("leave", "room", "a", 5)
    assert await redis.run("keys", "room") == [b"old", b"old-send"]
    await redis.run("leave", "room", "b", 6)
    assert await redis.run("keys", "room") == []
    assert await redis.client.exists(redis.key("k", "room"), redis.key("m", "room")) == 0
    assert await redis.join("room", "c", keys=("new", "")) == ["ok", "c"]
    assert await redis.run("keys", "room") == [b"new", b""]


# -- leave ------------------------------------------------------------------------


async def test_a_leave_announces_the_member_as_it_joined(redis: Scripts) -> None:
    await redis.watch("room")
    await redis.join("room", "a", announce=True, alias="Ann")
    await redis.join("room", "b", node=NODE)
    await redis.event()
    await redis.event()
    assert await redis.run("leave", "room", "a", 777) == 1
    # uid, seq, total, date, announce, alias; from the node the member was on.
    assert await redis.event() == ("L", NODE, ["a", 3, 1, 777, 1, "Ann"])
    assert await redis.client.smembers(redis.key("u", NODE)) == {b"b\0room"}


async def test_leaving_twice_or_as_a_stranger_changes_nothing(redis: Scripts) -> None:
    await redis.watch("room")
    await redis.join("room", "a")
    await redis.event()
    assert await redis.run("leave", "room", "a", 5) == 1
    await redis.event()
    assert await redis.run("leave", "room", "a", 6) == 0
    assert await redis.run("leave", "room", "nobody", 6) == 0
    await redis.quiet("room")
    assert await redis.client.get(redis.key("seq")) == b"2"


# -- snapshot, push ------------------------------------------------------------------


async def test_a_snapshot_holds_the_sequence_the_keys_and_the_roster(redis: Scripts) -> None:
    assert await redis.run("snapshot", "room") == [b"0", b"", b"", []]
    await redis.join("room", "a", keys=("jd", "sd"), alias="Ann")
    await redis.join("elsewhere", "x")
    seq, join_key, send_key, flat = await redis.run("snapshot", "room")
    assert (seq, join_key, send_key) == (b"2", b"jd", b"sd")
    roster = dict(zip(flat[::2], flat[1::2], strict=True))
    assert {uid: json.loads(record) for uid, record in roster.items()} == {
        b"a": [NODE, 1, 0, "Ann"]
    }


async def test_a_push_is_published_as_given_and_counts_the_members(redis: Scripts) -> None:
    await redis.watch("room")
    assert await redis.run("push", "room", "M" + OTHER + '"pushed"') == 0
    assert await redis.event() == ("M", OTHER, "pushed")
    await redis.join("room", "a")
    await redis.event()
    assert await redis.run("push", "room", "M" + OTHER + "1") == 1


# -- nodes: heartbeat, sweep, purge, config -------------------------------------------


async def test_a_beat_keeps_a_registered_node_and_refuses_a_swept_one(redis: Scripts) -> None:
    nodes = redis.key("nodes")
    before = await redis.client.zscore(nodes, NODE)
    assert await redis.run("beat", NODE, TTL_MS * 2, "0") == 1
    after = await redis.client.zscore(nodes, NODE)
    assert before is not None
    assert after is not None
    assert after >= before + TTL_MS  # the deadline moved on
    assert await redis.run("beat", OTHER, TTL_MS, "0") == 0  # never registered (or swept)
    assert await redis.client.zscore(nodes, OTHER) is None
    await redis.register(OTHER)
    assert await redis.client.zscore(nodes, OTHER) is not None


async def test_a_sweep_takes_out_expired_nodes_and_their_members_only(redis: Scripts) -> None:
    await redis.register(OTHER, ttl_ms=-1)  # its deadline has passed
    await redis.watch("room")
    await redis.join("room", "live")
    await redis.join("room", "dead1", node=OTHER, announce=True)
    await redis.join("other", "dead2", node=OTHER)
    await redis.run("config", OTHER, "digest")
    for _ in range(2):
        await redis.event()
    assert await redis.run("sweep") == 2
    letter, node, body = await redis.event()
    assert (letter, node, body[0], body[2], body[4]) == ("L", OTHER, "dead1", 1, 1)
    await redis.quiet("room")
    assert await redis.client.zrange(redis.key("nodes"), 0, -1) == [NODE.encode()]
    assert await redis.client.exists(redis.key("u", OTHER), redis.key("m", "other")) == 0
    assert await redis.client.hkeys(redis.key("config")) == []
    assert await redis.client.hkeys(redis.key("m", "room")) == [b"live"]
    assert await redis.run("sweep") == 0  # nothing left to sweep


async def test_a_purge_takes_out_one_node_alive_or_not(redis: Scripts) -> None:
    await redis.register(OTHER)
    await redis.join("room", "a")
    await redis.join("room", "b", node=OTHER)
    assert await redis.run("purge", NODE) == 1
    assert await redis.client.hkeys(redis.key("m", "room")) == [b"b"]
    assert await redis.client.zscore(redis.key("nodes"), NODE) is None
    assert await redis.join("room", "c") == ["gone"]  # until it registers again
    assert await redis.run("purge", NODE) == 0


async def test_config_records_a_digest_unless_a_live_node_has_another(redis: Scripts) -> None:
    config = redis.key("config")
    assert await redis.run("config", NODE, "same") == b""
    assert await redis.run("config", NODE, "changed") == b""  # its own entry: replaced
    await redis.register(OTHER)
    assert await redis.run("config", OTHER, "different") == NODE.encode()
    assert await redis.client.hget(config, OTHER) is None  # refused: nothing recorded
    assert await redis.run("config", OTHER, "changed") == b""
    assert await redis.client.hgetall(config) == {
        NODE.encode(): b"changed",
        OTHER.encode(): b"changed",
    }


async def test_config_ignores_expired_nodes_and_forgets_unregistered_ones(
    redis: Scripts,
) -> None:
    config = redis.key("config")
    await redis.register(OTHER, ttl_ms=-1)  # expired, not swept yet
    assert await redis.run("config", OTHER, "old") == b""
    await redis.client.hset(config, "node00000003", "stale")  # its node is gone
    assert await redis.run("config", NODE, "new") == b""  # neither stands in the way
    assert await redis.client.hgetall(config) == {NODE.encode(): b"new", OTHER.encode(): b"old"}


async def test_every_key_is_under_the_given_prefix(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        scripts = Scripts(client, prefix="app1")
        await scripts.register()
        await scripts.join("room", "a", keys=("jd", ""))
        await scripts.run("config", NODE, "d")
        assert sorted(await client.keys("*")) == [
            b"app1:config",
            b"app1:k:room",
            b"app1:m:room",
            b"app1:nodes",
            b"app1:seq",
            b"app1:u:" + NODE.encode(),
        ]
        assert await Scripts(client).run("snapshot", "room") == [b"0", b"", b"", []]
    finally:
        await client.aclose()
