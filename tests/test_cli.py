"""The ``rx-itty`` command line, run as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from rx_itty.cli.format import event_line, event_record, parse_message
from rx_itty.events import Join, Leave, Message, ServerError, Signal, Uid, User
from rx_itty.relay import Relay
from tests.support import Peer, scaled

_URL = re.compile(r"ws://\S+/c/")


@asynccontextmanager
async def serving(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Run ``python -m rx_itty serve --port 0 ARGS`` and yield it with its URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rx_itty",
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(scaled(20)):
            line = (await proc.stdout.readline()).decode()
        found = _URL.search(line)
        assert found, f"no URL in {line!r}"
        yield proc, found.group(0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run(args: Sequence[str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rx_itty",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(scaled(20)):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.asyncio
async def test_serve_prints_its_url_and_stops_cleanly_on_a_signal(sig: signal.Signals) -> None:
    async with serving() as (proc, url):
        async with await Peer.connect(url + "room?echo=true") as peer:
            await peer.joined()
            await peer.send("hello")
            assert (await peer.recv())["message"] == "hello"
            proc.send_signal(sig)
            with pytest.raises(ConnectionClosed) as closed:
                await peer.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1000  # a normal close, not a dropped socket
        assert proc.stdout is not None
        async with asyncio.timeout(scaled(20)):
            rest = (await proc.stdout.read()).decode()
            assert await proc.wait() == 0
        assert "relay stopped" in rest


@pytest.mark.asyncio
async def test_serve_reads_namespace_keys_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "relay.json"
    config.write_text(json.dumps({"namespaces": {"team": {"joinKey": "J"}}}))
    async with (
        serving("--config", str(config)) as (_, url),
        await Peer.connect(url + "team:room?joinKey=J") as peer,
    ):
        assert (await peer.joined())["total"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "abc"], "port must be a number"),
        (["serve", "--port", "70000"], "port must be 0-65535"),
        (["bogus"], "invalid choice"),
        ([], "required"),
        (["serve", "--config", "/nonexistent/relay.json"], "cannot read relay config"),
    ],
)
@pytest.mark.asyncio
async def test_bad_arguments_give_a_one_line_error_and_a_nonzero_exit(
    args: list[str], message: str
) -> None:
    code, _, err = await run(args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.asyncio
async def test_invalid_config_file_is_reported_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "relay.json"
    config.write_text('{"limits": {"max_frame_bytes": "big"}}')
    code, _, err = await run(["serve", "--port", "0", "--config", str(config)])
    assert code == 2
    assert err.strip() == (
        "rx-itty: error: limits.max_frame_bytes must be a non-negative number or null, got 'big'"
    )


@pytest.mark.asyncio
async def test_a_port_in_use_is_a_clear_error() -> None:
    async with serving() as (_, url):
        port = url.split(":")[2].split("/")[0]
        code, _, err = await run(["serve", "--port", port])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "choose another --port" in err


# -- listen and send -------------------------------------------------------------------

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


async def received(peer: Peer) -> dict[str, object]:
    """The next message envelope ``peer`` receives, skipping joins and leaves."""
    while True:
        frame = await peer.recv(within=10)
        if "type" not in frame:
            return frame


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


@pytest.mark.parametrize(
    ("args", "payload"),
    [
        (['{"type": "chat", "text": "hi"}'], {"type": "chat", "text": "hi"}),
        (["42"], 42),
        (["hello world"], "hello world"),
        (["NaN"], "NaN"),
        (["--raw-string", "42"], "42"),
        (['"quoted"'], "quoted"),
    ],
)
@pytest.mark.asyncio
async def test_send_delivers_json_or_else_a_string_and_exits_0(
    relay: Relay, args: list[str], payload: object
) -> None:
    async with await Peer.connect(relay.url + "room") as peer:
        await peer.joined()
        code, out, err = await run(["send", "room", "--server", relay.url, "--as", "cli", *args])
        assert (code, out) == (0, ""), err
        frame = await received(peer)
        assert (frame["message"], frame["alias"]) == (payload, "cli")
    assert err.splitlines() == [
        f"rx-itty: connecting to {relay.url}room",
        f"rx-itty: sent to {relay.url}room (1 other connection here)",
    ]


@pytest.mark.asyncio
async def test_send_to_a_uid_delivers_a_direct_message_to_it_alone(relay: Relay) -> None:
    async with (
        await Peer.connect(relay.url + "room") as target,
        await Peer.connect(relay.url + "room") as bystander,
    ):
        uid = (await target.joined())["uid"]
        await bystander.joined()
        code, _, err = await run(["send", "room", "psst", "--to", uid, "--server", relay.url])
        assert code == 0, err
        assert (await received(target))["message"] == "psst"
        assert err.splitlines()[-1] == f"rx-itty: sent to {uid} in {relay.url}room"
        await bystander.send("after")  # the bystander's next message is the first it sees
        assert (await received(target))["message"] == "after"


@pytest.mark.asyncio
async def test_send_to_an_unknown_uid_exits_1_with_the_relays_error(relay: Relay) -> None:
    code, out, err = await run(["send", "room", "x", "--to", "nobody", "--server", relay.url])
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        'rx-itty: error: the relay refused the message: Recipient "nobody" is not in this channel.'
    )


@pytest.mark.asyncio
async def test_send_without_the_send_key_exits_1_and_with_it_delivers(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "feed?sendKey=S") as owner:  # claims the keys
        await owner.joined()
        code, _, err = await run(["send", "feed", "x", "--server", relay.url])
        assert code == 1
        assert err.splitlines()[-1] == (
            "rx-itty: error: the relay refused the message: "
            "A valid sendKey is required to send on this channel."
        )
        code, _, err = await run(["send", "feed", "y", "--send-key", "S", "--server", relay.url])
        assert code == 0, err
        assert (await received(owner))["message"] == "y"


@pytest.mark.asyncio
async def test_send_to_a_join_keyed_channel_needs_the_key(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "vault?joinKey=J") as owner:
        await owner.joined()
        code, _, err = await run(["send", "vault", "x", "--server", relay.url])
        assert code == 1
        assert len(err.splitlines()) == 2  # connecting, then the one-line error
        assert "HTTP 403" in err
        assert "--join-key" in err
        code, _, err = await run(["send", "vault", "y", "--join-key", "J", "--server", relay.url])
        assert code == 0, err
        assert (await received(owner))["message"] == "y"


@pytest.mark.asyncio
async def test_send_to_a_relay_that_never_confirms_says_so_after_the_timeout() -> None:
    # A relay that greets but never delivers a direct message back to its sender.
    got: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def mute(conn: ServerConnection) -> None:
        await conn.send(json.dumps({"type": "join", "self": True, "uid": "me", "total": 1}))
        async for frame in conn:
            got.put_nowait(frame)

    async with serve(mute, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/c/"
        code, _, err = await run(["send", "room", "hi", "--timeout", "1", "--server", url])
    assert code == 0
    assert err.splitlines()[-1] == (
        f"rx-itty: sent to {url}room, but the relay did not confirm it within 1 s"
    )
    assert got.get_nowait() == '"hi"'


@pytest.mark.asyncio
async def test_send_to_an_unreachable_server_exits_1() -> None:
    code, _, err = await run(["send", "room", "x", "--server", "ws://127.0.0.1:9/c/"])
    assert code == 1
    assert err.splitlines()[-1].startswith(
        "rx-itty: error: cannot connect to ws://127.0.0.1:9/c/room"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["listen"], "the following arguments are required: CHANNEL"),
        (["listen", ""], "argument CHANNEL: must not be empty"),
        (["listen", "room", "--server", "http://x/c/"], "must start with ws:// or wss://"),
        (["listen", "room", "--bogus"], "unrecognized arguments: --bogus"),
        (["send", "room"], "the following arguments are required: MESSAGE"),
        (["send", "room", "x", "--to", ""], "argument --to: must not be empty"),
        (["send", "room", "x", "--timeout", "0"], "must be a positive number"),
        (["send", "room", "x", "--timeout", "soon"], "must be a number"),
        (["send", "room", "x", "--as", ""], "argument --as: must not be empty"),
        (["demo", "--speed", "-1"], "must be a positive number"),
        (["demo", "--seed", "x"], "must be a whole number"),
    ],
)
@pytest.mark.asyncio
async def test_client_commands_reject_bad_arguments_in_one_line(
    args: list[str], message: str
) -> None:
    code, out, err = await run(args)
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("command", "documented"),
    [
        ("listen", "TIME KIND WHO DETAIL"),
        ("send", "MESSAGE is sent as JSON if it is valid JSON, else as a string"),
        ("demo", "--speed"),
        ("serve", "--port"),
    ],
)
@pytest.mark.asyncio
async def test_every_command_documents_itself(command: str, documented: str) -> None:
    code, out, _ = await run([command, "--help"])
    assert code == 0
    assert documented in out


# -- how events and messages are shown and read (pure) --------------------------------


def test_a_message_argument_is_json_when_it_parses_and_a_string_otherwise() -> None:
    assert parse_message('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_message("true") is True
    assert parse_message("hi there") == "hi there"
    assert parse_message("Infinity") == "Infinity"  # not JSON, though Python's json takes it
    assert parse_message("{") == "{"
    assert parse_message("1", raw_string=True) == "1"


def test_events_have_one_readable_line_each() -> None:
    date = 1_774_300_000_123
    clock = datetime.fromtimestamp(date / 1000).strftime("%H:%M:%S.123")
    alice = Uid("k3v9qa")
    assert event_line(Join(total=1, uid=alice, alias="Alice", is_self=True, date=date)) == (
        f"{clock} join    Alice (k3v9qa) [you]  total=1"
    )
    assert event_line(Join(total=2, date=date)) == f"{clock} join    (anonymous)  total=2"
    assert event_line(Message({"n": 1}, alice, None, date)) == f'{clock} message k3v9qa  {{"n":1}}'
    assert event_line(Leave(total=1, alias="Bo", date=date)) == f"{clock} leave   Bo  total=1"
    assert event_line(ServerError("no", date)) == f"{clock} error   no"
    assert event_line(Signal("ping", date, {"type": "ping"})) == (
        f'{clock} signal  ping  {{"type":"ping"}}'
    )


def test_event_records_have_fixed_keys_per_kind() -> None:
    assert event_record(ServerError("no", 5)) == {"event": "error", "date": 5, "message": "no"}
    assert event_record(Signal("ping", None, {"type": "ping"})) == {
        "event": "signal",
        "date": None,
        "type": "ping",
        "frame": {"type": "ping"},
    }
    users = event_record(Join(total=1, users=(User(Uid("u"), "A", is_self=True),)))["users"]
    assert users == [{"uid": "u", "alias": "A", "self": True}]


@pytest.mark.asyncio
async def test_serve_can_accept_http_pushes_on_a_second_port(tmp_path: Path) -> None:
    config = tmp_path / "relay.json"
    config.write_text(json.dumps({"namespaces": {"app": {"sendKey": "K"}}}))
    async with serving("--config", str(config), "--http-port", "0") as (proc, url):
        assert proc.stdout is not None
        async with asyncio.timeout(scaled(10)):
            line = (await proc.stdout.readline()).decode()
        found = re.search(r"POST (http://\S+/c/)", line)
        assert found, line
        host, port = found.group(1).split("/")[2].split(":")
        async with await Peer.connect(url + "app:alerts?") as peer:
            await peer.joined()
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"POST /c/app:alerts HTTP/1.1\r\nContent-Length: 2\r\nx-send-key: K\r\n\r\n42"
            )
            async with asyncio.timeout(scaled(5)):
                assert (await reader.read()).startswith(b"HTTP/1.1 200 OK")
            writer.close()
            assert (await peer.recv())["message"] == 42
