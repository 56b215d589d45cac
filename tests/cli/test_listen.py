"""``rx-itty listen``, run as a real subprocess against a real relay."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from rx_itty.relay import Relay
from tests.cli.support import run
from tests.support import Peer, scaled

_CLOCK = r"\d\d:\d\d:\d\d\.\d{3}"


class Matches(str):
    """A string that equals any string the pattern fully matches (readable assert output)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and re.fullmatch(self, other) is not None

    def __hash__(self) -> int:
        return str.__hash__(self)


@asynccontextmanager
async def listening(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``python -m rx_itty listen ARGS`` and yield it once it says it is open."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rx_itty",
        "listen",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(scaled(20)):
            status = ""
            while not status.startswith("rx-itty: open "):
                status = (await proc.stderr.readline()).decode()
                assert status, "listen ended before it opened"
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def next_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(scaled(10)):
        line = (await proc.stdout.readline()).decode()
    assert line.endswith("\n"), f"stdout ended: {line!r}"
    return line.rstrip("\n")


async def next_status(proc: asyncio.subprocess.Process) -> str:
    assert proc.stderr is not None
    async with asyncio.timeout(scaled(10)):
        return (await proc.stderr.readline()).decode().rstrip("\n")


async def stop(proc: asyncio.subprocess.Process, sig: signal.Signals) -> tuple[int, str]:
    """Signal ``proc`` and return its exit status and the rest of its stderr."""
    proc.send_signal(sig)
    assert proc.stderr is not None
    async with asyncio.timeout(scaled(20)):
        rest = (await proc.stderr.read()).decode()
        return await proc.wait(), rest


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.asyncio
async def test_listen_prints_a_readable_line_per_event_and_stops_cleanly_on_a_signal(
    relay: Relay, sig: signal.Signals
) -> None:
    async with listening("room", "--server", relay.url) as proc:
        assert re.fullmatch(rf"{_CLOCK} join    \w+ \[you\]  total=1", await next_line(proc))
        async with await Peer.connect(relay.url + "room?as=bob&announce=true") as bob:
            uid = (await bob.joined())["uid"]
            assert await next_line(proc) == Matches(rf"{_CLOCK} join    bob \({uid}\)  total=2")
            await bob.send({"type": "chat", "text": "hi ✓"})
            assert await next_line(proc) == Matches(
                rf'{_CLOCK} message bob \({uid}\)  {{"type":"chat","text":"hi ✓"}}'
            )
            await bob.send("plain")
            assert await next_line(proc) == Matches(rf'{_CLOCK} message bob \({uid}\)  "plain"')
        assert await next_line(proc) == Matches(rf"{_CLOCK} leave   bob \({uid}\)  total=1")
        code, rest = await stop(proc, sig)
    assert code == 0
    assert rest == "rx-itty: closed\n"


@pytest.mark.asyncio
async def test_listen_json_prints_one_object_per_event_with_fixed_keys(relay: Relay) -> None:
    async with listening("room", "--server", relay.url, "--json", "--as", "me") as proc:
        own = json.loads(await next_line(proc))
        assert own == {
            "event": "join",
            "date": own["date"],
            "uid": own["uid"],
            "alias": "me",
            "self": True,
            "total": 1,
            "users": None,
        }
        async with await Peer.connect(relay.url + "room") as peer:
            uid = (await peer.joined())["uid"]
            await peer.send({"type": "chat", "text": "hi"})
            await peer.send([1, 2])
            joined = json.loads(await next_line(proc))
            assert list(joined) == ["event", "date", "uid", "alias", "self", "total", "users"]
            assert (joined["event"], joined["uid"], joined["total"]) == ("join", None, 2)
            chat = json.loads(await next_line(proc))
            assert chat == {
                "event": "message",
                "date": chat["date"],
                "uid": uid,
                "alias": None,
                "type": "chat",
                "message": {"type": "chat", "text": "hi"},
            }
            untyped = json.loads(await next_line(proc))
            assert (untyped["type"], untyped["message"]) == (None, [1, 2])
        left = json.loads(await next_line(proc))
        assert left == {
            "event": "leave",
            "date": left["date"],
            "uid": None,
            "alias": None,
            "total": 1,
        }
        code, _ = await stop(proc, signal.SIGINT)
    assert code == 0


@pytest.mark.asyncio
async def test_listen_type_shows_only_messages_of_that_payload_type(relay: Relay) -> None:
    async with (
        listening("room", "--server", relay.url, "--type", "reading", "--json") as proc,
        await Peer.connect(relay.url + "room") as peer,
    ):
        await peer.joined()
        await peer.send({"type": "chat", "text": "not shown"})
        await peer.send({"type": "join", "text": "a payload type, not a system event"})
        await peer.send({"type": "reading", "celsius": 21.5})
        line = json.loads(await next_line(proc))
        assert line["message"] == {"type": "reading", "celsius": 21.5}
        code, _ = await stop(proc, signal.SIGINT)
    assert code == 0


@pytest.mark.asyncio
async def test_listen_reports_a_lost_connection_and_reconnects_by_itself() -> None:
    relay = Relay()
    await relay.start()
    port = relay.port
    try:
        async with listening("room", "--server", relay.url) as proc:
            assert "[you]  total=1" in await next_line(proc)
            await relay.aclose()
            assert await next_status(proc) == "rx-itty: connection lost (code 1000); reconnecting"
            relay = Relay(port=port)
            await relay.start()
            status = await next_status(proc)
            while status.startswith(("rx-itty: connecting", "rx-itty: cannot connect")):
                status = await next_status(proc)
            assert status == Matches(rf"rx-itty: open {relay.url}room as \w+ \(1 connection here\)")
            assert "[you]  total=1" in await next_line(proc)
            code, _ = await stop(proc, signal.SIGINT)
            assert code == 0
    finally:
        await relay.aclose()


@pytest.mark.asyncio
async def test_listen_refused_by_the_join_key_is_a_one_line_error(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "vault?joinKey=right") as owner:
        await owner.joined()
        code, out, err = await run(["listen", "vault", "--server", relay.url])
    assert code == 1
    assert out == ""
    assert err.splitlines()[-1] == (
        f"rx-itty: error: server refused {relay.url}vault with HTTP 403: "
        "A valid joinKey is required to join this channel.; pass the channel's key with --join-key"
    )
    assert "right" not in err  # keys are never printed


@pytest.mark.asyncio
async def test_listen_to_an_unreachable_server_fails_at_once() -> None:
    code, _, err = await run(["listen", "room", "--server", "ws://127.0.0.1:9/c/"])
    assert code == 1
    assert err.splitlines()[-1].startswith(
        "rx-itty: error: cannot connect to ws://127.0.0.1:9/c/room"
    )
