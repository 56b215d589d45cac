"""``rx-itty listen``, run as a real subprocess against a real relay."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest

from rx_itty.relay import Relay
from tests.cli.support import run, spawn
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
async def listening(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``python -m rx_itty listen ARGS`` and yield it once it says it is open."""
    proc = await spawn(["listen", *args], env=env)
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
        "A valid joinKey is required to join this channel; "
        "pass the channel's join key with --join-key or $RX_ITTY_JOIN_KEY"
    )
    assert "right" not in err  # keys are never printed


@pytest.mark.asyncio
async def test_listen_takes_the_join_key_from_the_environment(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "vault?joinKey=right") as owner:
        await owner.joined()
        env = {"RX_ITTY_JOIN_KEY": "right"}
        async with listening("vault", "--server", relay.url, env=env) as proc:
            assert "[you]  total=2" in await next_line(proc)
            code, _ = await stop(proc, signal.SIGINT)
    assert code == 0


@pytest.mark.asyncio
async def test_an_alias_the_relay_refuses_is_one_line_without_doubled_punctuation(
    relay: Relay,
) -> None:
    code, out, err = await run(["listen", "room", "--server", relay.url, "--as", "x" * 300])
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        f"rx-itty: error: server refused {relay.url}room with HTTP 400: "
        "Alias exceeds 256 characters; check the channel name and --as"
    )


@pytest.mark.asyncio
async def test_listen_to_an_unreachable_server_fails_at_once() -> None:
    code, _, err = await run(["listen", "room", "--server", "ws://127.0.0.1:9/c/"])
    assert code == 1
    assert err.splitlines()[-1].startswith(
        "rx-itty: error: cannot connect to ws://127.0.0.1:9/c/room"
    )


async def ended(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Wait for ``proc`` to exit on its own: its status, the rest of stdout and of stderr."""
    assert proc.stdout is not None
    assert proc.stderr is not None
    async with asyncio.timeout(scaled(20)):
        out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
        return await proc.wait(), out.decode(), err.decode()


@pytest.mark.asyncio
async def test_listen_count_exits_0_after_that_many_messages(relay: Relay) -> None:
    async with (
        listening("room", "--server", relay.url, "--count", "2", "--type", "chat") as proc,
        await Peer.connect(relay.url + "room") as peer,
    ):
        await peer.joined()
        await peer.send({"type": "reading"})  # not of --type: not counted
        for n in (1, 2, 3):
            await peer.send({"type": "chat", "n": n})
        code, out, err = await ended(proc)
    assert code == 0, err
    assert [json.loads(line.split("  ", 1)[1])["n"] for line in out.splitlines()] == [1, 2]
    assert err.splitlines()[-1] == "rx-itty: closed"


@pytest.mark.asyncio
async def test_listen_timeout_without_count_ends_quietly_with_exit_0(relay: Relay) -> None:
    code, out, err = await run(["listen", "room", "--server", relay.url, "--timeout", "0.5"])
    assert code == 0, err
    assert "[you]  total=1" in out
    assert err.splitlines()[-1] == "rx-itty: closed"


@pytest.mark.asyncio
async def test_listen_count_not_reached_within_the_timeout_exits_1(relay: Relay) -> None:
    code, _, err = await run(
        ["listen", "room", "--server", relay.url, "--count", "3", "--timeout", "0.5"]
    )
    assert code == 1
    assert err.splitlines()[-1] == (
        "rx-itty: error: timed out after 0.5 s with no messages (--count 3)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "argument --count: must be 1 or more, got 0"),
        (["--count", "two"], "argument --count: must be a whole number, got 'two'"),
        (["--timeout", "-1"], "argument --timeout: must be a positive number, got '-1'"),
    ],
)
@pytest.mark.asyncio
async def test_listen_refuses_a_bad_count_or_timeout_in_one_line(
    args: list[str], message: str
) -> None:
    code, out, err = await run(["listen", "room", *args])
    assert (code, out) == (2, "")
    assert err == f"rx-itty listen: error: {message} (see rx-itty listen --help)\n"


@pytest.mark.asyncio
async def test_listen_record_writes_every_event_with_its_arrival_time(
    relay: Relay, tmp_path: Path
) -> None:
    path = tmp_path / "traffic.jsonl"
    async with (
        listening(
            "room",
            "--server",
            relay.url,
            "--join-key",
            "s3cret-key",
            "--record",
            str(path),
            "--count",
            "2",
        ) as proc,
        await Peer.connect(relay.url + "room?as=bob&joinKey=s3cret-key") as bob,
    ):
        await bob.joined()
        await bob.send({"type": "chat", "text": "one"})
        await bob.send("two")
        code, _, err = await ended(proc)
    assert code == 0
    assert err.splitlines()[-2:] == [f"rx-itty: recorded 4 events to {path}", "rx-itty: closed"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "rx_itty_recording": 1,
        "url": f"{relay.url}room",  # never the query: it holds the key
        "started": lines[0]["started"],
    }
    assert "s3cret-key" not in path.read_text()
    frames = [line["frame"] for line in lines[1:]]
    assert [frame.get("type") for frame in frames] == ["join", "join", None, None]
    assert frames[0]["self"] is True
    assert [frame["message"] for frame in frames[2:]] == [{"type": "chat", "text": "one"}, "two"]
    times = [line["t"] for line in lines[1:]]
    assert times == sorted(times)
    assert 0 <= times[0] < scaled(10)


@pytest.mark.asyncio
async def test_listen_record_never_overwrites_an_existing_file(
    relay: Relay, tmp_path: Path
) -> None:
    path = tmp_path / "yesterday.jsonl"
    path.write_text("what was recorded before\n")
    code, out, err = await run(["listen", "room", "--server", relay.url, "--record", str(path)])
    assert (code, out) == (2, "")
    assert err == (
        f"rx-itty: error: {str(path)!r} already exists; record to a new file (or remove it first)\n"
    )
    assert path.read_text() == "what was recorded before\n"


@pytest.mark.asyncio
async def test_listen_record_to_a_path_it_cannot_write_is_a_one_line_error(
    relay: Relay, tmp_path: Path
) -> None:
    path = tmp_path / "missing" / "traffic.jsonl"
    code, out, err = await run(["listen", "room", "--server", relay.url, "--record", str(path)])
    assert (code, out) == (2, "")
    assert err == (
        f"rx-itty: error: cannot write the recording to {str(path)!r}: No such file or directory\n"
    )


@pytest.mark.asyncio
async def test_listen_escapes_what_a_peer_sent_but_json_keeps_it_exact(relay: Relay) -> None:
    evil = "\x1b[2J\x1b]0;pwned\x07\x7f\x9b"
    async with (
        listening("room", "--server", relay.url) as text,
        listening("room", "--server", relay.url, "--json") as exact,
    ):
        await next_line(text)  # our join
        await next_line(exact)
        await next_line(text)  # the other listener's join
        async with await Peer.connect(relay.url + "room?" + urlencode({"as": evil})) as peer:
            await peer.joined()
            await peer.send({"text": evil})
            await next_line(text)  # its join
            await next_line(exact)
            line = await next_line(text)
            record = json.loads(await next_line(exact))
        for proc in (text, exact):
            await stop(proc, signal.SIGINT)
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in line), repr(line)
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\x7f\\x9b (" in line  # the alias, escaped
    assert (record["alias"], record["message"]) == (evil, {"text": evil})


@pytest.mark.asyncio
async def test_listen_cuts_a_long_message_in_text_mode_but_not_in_json(relay: Relay) -> None:
    payload = {"data": "x" * 100_000}
    async with (
        listening("room", "--server", relay.url) as text,
        listening("room", "--server", relay.url, "--json") as exact,
        await Peer.connect(relay.url + "room") as peer,
    ):
        await peer.joined()
        await peer.send(payload)
        for proc in (text, exact):
            line = ""
            while '"data"' not in line:
                line = await next_line(proc)
            if proc is text:
                assert len(line) < 500
                assert line.endswith("… (100011 bytes in all; --json shows it whole)")
            else:
                assert json.loads(line)["message"] == payload
            await stop(proc, signal.SIGINT)


@pytest.mark.asyncio
async def test_listen_completes_a_server_base_from_the_environment(relay: Relay) -> None:
    env = {"RX_ITTY_SERVER": relay.url.rstrip("/")}  # ws://127.0.0.1:PORT/c
    code, _, err = await run(["listen", "room", "--timeout", "0.5"], env=env)
    assert code == 0, err
    assert err.splitlines()[0] == f"rx-itty: connecting to {relay.url}room"


@pytest.mark.asyncio
async def test_listen_to_an_unreachable_server_from_the_environment_says_where_it_came_from() -> (
    None
):
    env = {"RX_ITTY_SERVER": "ws://127.0.0.1:9/c/"}
    code, _, err = await run(["listen", "room"], env=env)
    assert code == 1
    last = err.splitlines()[-1]
    assert last.startswith("rx-itty: error: cannot connect to ws://127.0.0.1:9/c/room: ")
    assert last.endswith(" (server from $RX_ITTY_SERVER)")


@pytest.mark.asyncio
async def test_a_bad_server_base_in_the_environment_is_named_in_one_line() -> None:
    code, out, err = await run(["listen", "room"], env={"RX_ITTY_SERVER": "http://x/c/"})
    assert (code, out) == (2, "")
    assert err == (
        "rx-itty: error: $RX_ITTY_SERVER is 'http://x/c/', but a server base must start with "
        "ws:// or wss://, e.g. ws://127.0.0.1:8080/c/; fix or unset $RX_ITTY_SERVER\n"
    )


@pytest.mark.asyncio
async def test_a_server_flag_without_its_final_slash_is_completed(relay: Relay) -> None:
    server = relay.url.rstrip("/")
    code, _, err = await run(["listen", "room", "--server", server, "--timeout", "0.5"])
    assert code == 0, err
    assert err.splitlines()[0] == f"rx-itty: connecting to {relay.url}room"


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.asyncio
async def test_quiet_before_or_after_the_command_leaves_only_the_events(
    relay: Relay, where: str
) -> None:
    args = ["listen", "room", "--server", relay.url, "--timeout", "0.5"]
    args = ["-q", *args] if where == "before" else [*args, "--quiet"]
    code, out, err = await run(args)
    assert (code, err) == (0, "")
    assert "[you]  total=1" in out
