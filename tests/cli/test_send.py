"""``rx-itty send``, run as a real subprocess against a real relay."""

from __future__ import annotations

import asyncio
import json
import re
import signal

import pytest
from websockets.asyncio.server import ServerConnection, serve

from rx_itty.relay import Limits, Relay, RelayConfig
from tests.cli.support import run, spawn
from tests.support import Peer, quoting_server, scaled


async def received(peer: Peer) -> dict[str, object]:
    """The next message envelope ``peer`` receives, skipping joins and leaves."""
    while True:
        frame = await peer.recv(within=10)
        if "type" not in frame:
            return frame


async def until_leave(peer: Peer) -> list[object]:
    """The messages ``peer`` receives until someone leaves (the relay sends a leave last)."""
    messages = []
    while (frame := await peer.recv(within=10)).get("type") != "leave":
        if "type" not in frame:
            messages.append(frame["message"])
    return messages


@pytest.mark.parametrize(
    ("args", "payload"),
    [
        (['{"type": "chat", "text": "hi"}'], {"type": "chat", "text": "hi"}),
        (["42"], 42),
        (["hello world"], "hello world"),
        (["NaN"], "NaN"),
        (["--raw-string", "42"], "42"),
        (["--text", '{"a":1,}'], '{"a":1,}'),
        (['"quoted"'], "quoted"),
        (["1.2.3"], "1.2.3"),
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
            "A valid sendKey is required to send on this channel; "
            "pass the channel's send key with --send-key or $RX_ITTY_SEND_KEY"
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
        code, _, err = await run(["send", "vault", "y", "--join-key", "K", "--server", relay.url])
        assert code == 1
        assert err.splitlines()[-1].endswith(
            "; the join key given (--join-key or $RX_ITTY_JOIN_KEY) is not this channel's"
        )
        code, _, err = await run(["send", "vault", "y", "--join-key", "J", "--server", relay.url])
        assert code == 0, err
        assert (await received(owner))["message"] == "y"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["room", "hi", "--as", "\udcff"], "argument --as: is not UTF-8 text (byte 0xff"),
        (["room", "hi", "--to", "u\udcff"], "argument --to: is not UTF-8 text (byte 0xff"),
        (["room", "h\udce9"], "argument MESSAGE: is not UTF-8 text (byte 0xe9"),
        (["r\udcff", "hi"], "argument CHANNEL: is not UTF-8 text (byte 0xff"),
        (["room", "hi", "--join-key", "\udcff"], "argument --join-key: is not UTF-8 text"),
        (
            ["room", "hi", "--server", "ws://127.0.0.1:80800/c/"],
            "ws://127.0.0.1:80800/c/room is not a valid URL: its port must be a whole number",
        ),
        (["room", "hi", "--server", "ws://127.0.0.1:0/c/"], "has port 0, which no server"),
    ],
)
@pytest.mark.asyncio
async def test_an_argument_no_relay_could_take_is_refused_in_one_line_before_connecting(
    args: list[str], error: str
) -> None:
    # Arguments arrive as bytes: \udcff is how Python reads a byte that is not UTF-8.
    code, out, err = await run(["send", *args])
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(("rx-itty: error: ", "rx-itty send: error: "))
    assert error in err


@pytest.mark.asyncio
async def test_a_refusal_quoting_the_request_is_shown_without_the_keys() -> None:
    async with quoting_server() as base:
        code, _, err = await run(
            ["send", "room", "x", "--server", base, "--send-key", "SECRET"],
            env={"RX_ITTY_JOIN_KEY": "SECRET"},
        )
    assert code == 1
    assert err.splitlines()[-1] == (
        f"rx-itty: error: server refused {base}room with HTTP 400: Bad request: "
        "GET /c/room?joinKey=***&sendKey=***; check the channel name and --as"
    )


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
async def test_send_to_an_unreachable_server_exits_1_and_says_what_to_check() -> None:
    code, _, err = await run(["send", "room", "x", "--server", "ws://127.0.0.1:9/c/"])
    assert code == 1
    assert err.splitlines()[-1] == (
        "rx-itty: error: cannot connect to ws://127.0.0.1:9/c/room: connection refused; "
        "no relay is listening there: check --server"
    )


@pytest.mark.asyncio
async def test_send_with_wss_to_a_relay_without_tls_suggests_ws(relay: Relay) -> None:
    server = relay.url.replace("ws://", "wss://")
    code, _, err = await run(["send", "room", "x", "--server", server, "--timeout", "5"])
    assert code == 1
    assert err.splitlines()[-1].startswith(f"rx-itty: error: cannot connect to {server}room: ")
    assert err.splitlines()[-1].endswith(
        "; if the relay does not use TLS (a plain rx-itty serve), use ws://"
    )


@pytest.mark.parametrize(
    ("message", "where"),
    [('{"a":1,}', "line 1, column 7"), ('{"type":"chat"', "line 1, column 15")],
)
@pytest.mark.asyncio
async def test_send_refuses_text_that_looks_like_json_but_does_not_parse(
    relay: Relay, message: str, where: str
) -> None:
    code, out, err = await run(["send", "room", message, "--server", relay.url])
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1  # refused before connecting
    assert err.startswith(f"rx-itty: error: MESSAGE is not valid JSON at {where}: ")
    assert err.endswith("; fix it, or pass --text to send it as a string\n")


@pytest.mark.asyncio
async def test_send_takes_the_send_key_from_the_environment(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "feed?sendKey=S") as owner:
        await owner.joined()
        code, _, err = await run(
            ["send", "feed", "y", "--server", relay.url], env={"RX_ITTY_SEND_KEY": "S"}
        )
        assert code == 0, err
        assert (await received(owner))["message"] == "y"


@pytest.mark.asyncio
async def test_send_dash_sends_each_line_of_stdin_and_says_how_many(relay: Relay) -> None:
    lines = b'{"n": 1}\n\n"two"\r\n3\nplain text\n'
    async with await Peer.connect(relay.url + "room") as peer:
        await peer.joined()
        code, out, err = await run(["send", "room", "-", "--server", relay.url], stdin=lines)
        assert (code, out) == (0, ""), err
        assert [(await received(peer))["message"] for _ in range(4)] == [
            {"n": 1},
            "two",
            3,
            "plain text",
        ]
    assert err.splitlines()[-1] == (
        f"rx-itty: sent 4 messages to {relay.url}room (1 other connection here)"
    )


@pytest.mark.asyncio
async def test_send_dash_text_sends_each_line_as_a_string(relay: Relay) -> None:
    async with await Peer.connect(relay.url + "room") as peer:
        await peer.joined()
        code, _, err = await run(
            ["send", "room", "-", "--text", "--server", relay.url], stdin=b'{"a":1}\n[\n'
        )
        assert code == 0, err
        assert [(await received(peer))["message"] for _ in range(2)] == ['{"a":1}', "["]


@pytest.mark.asyncio
async def test_send_dash_stops_at_a_bad_line_after_sending_the_ones_before(relay: Relay) -> None:
    lines = b'{"n": 1}\n{"n": 2}\n{"n": 3,}\n{"n": 4}\n'
    async with await Peer.connect(relay.url + "room") as peer:
        await peer.joined()
        code, _, err = await run(["send", "room", "-", "--server", relay.url], stdin=lines)
        assert code == 2
        assert await until_leave(peer) == [{"n": 1}, {"n": 2}]  # and nothing after
    last = err.splitlines()[-1]
    assert last.startswith("rx-itty: error: stdin is not valid JSON at line 3, column 8: ")
    assert last.endswith(
        "; fix it, or pass --text to send it as a string (the 2 messages before it went out)"
    )


@pytest.mark.asyncio
async def test_send_dash_reports_how_many_messages_the_relay_refused(relay: Relay) -> None:
    code, _, err = await run(
        ["send", "room", "-", "--to", "nobody", "--server", relay.url], stdin=b"1\n2\n"
    )
    assert code == 1
    assert err.splitlines()[-1] == (
        "rx-itty: error: the relay refused 2 of 2 messages; "
        'the first refusal: Recipient "nobody" is not in this channel'
    )


@pytest.mark.asyncio
async def test_send_dash_counts_only_its_messages_among_refusals_and_names_the_flag(
    relay: Relay,
) -> None:
    # The confirming probe is refused too, for want of the send key: not a message
    # of the user's, and its refusal is answer enough (no wait for the timeout).
    async with await Peer.connect(relay.url + "feed?sendKey=S") as owner:
        await owner.joined()
        code, _, err = await run(
            ["send", "feed", "-", "--server", relay.url, "--timeout", "60"], stdin=b"1\n2\n"
        )
    assert code == 1
    assert err.splitlines()[-1] == (
        "rx-itty: error: the relay refused 2 of 2 messages; the first refusal: "
        "A valid sendKey is required to send on this channel; "
        "pass the channel's send key with --send-key or $RX_ITTY_SEND_KEY"
    )


@pytest.mark.asyncio
async def test_send_dash_reads_no_faster_than_the_relay_takes_and_says_when_it_stalls() -> None:
    # A relay that greets, then never reads: once the buffers on the way are full,
    # nothing more goes out. 30 MB of stdin would overflow the socket's queue.
    stop = asyncio.Event()

    async def stalled(conn: ServerConnection) -> None:
        conn.transport.pause_reading()
        await conn.send(json.dumps({"type": "join", "self": True, "uid": "me", "total": 1}))
        await stop.wait()

    lines = b"".join(b'"%d %s"\n' % (n, b"x" * 1000) for n in range(30_000))
    async with serve(stalled, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/c/"
        code, _, err = await run(
            ["send", "room", "-", "--server", url, "--timeout", "1"], stdin=lines
        )
        stop.set()
    assert code == 1
    last = err.splitlines()[-1]
    assert re.fullmatch(
        r"rx-itty: error: the relay took no message for 1 s: (\d+) of (\d+) messages went out, "
        r"the rest were not sent; check the relay \(or raise --timeout\)",
        last,
    ), err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 2  # connecting, then that line


@pytest.mark.asyncio
async def test_send_dash_with_empty_stdin_sends_nothing_and_says_so(relay: Relay) -> None:
    code, _, err = await run(["send", "room", "-", "--server", relay.url], stdin=b"\n")
    assert code == 0, err
    assert err.splitlines()[-1] == "rx-itty: stdin had no messages; nothing was sent"


@pytest.mark.asyncio
async def test_send_dash_reports_a_close_by_the_relay_with_what_went_out() -> None:
    config = RelayConfig(limits=Limits(max_frame_bytes=100, warnings=0))
    async with Relay(config) as relay:
        url = relay.url
        lines = b'"small"\n"' + b"x" * 200 + b'"\n'
        code, _, err = await run(["send", "room", "-", "--server", url], stdin=lines)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"rx-itty: error: {url}room closed the connection "
        "(code 1008: too many limit violations) after 2 messages went out"
    )


@pytest.mark.asyncio
async def test_send_dash_streams_lines_as_they_come_and_stops_cleanly_on_ctrl_c(
    relay: Relay,
) -> None:
    async with await Peer.connect(relay.url + "room") as peer:
        await peer.joined()
        proc = await spawn(["send", "room", "-", "--server", relay.url], stdin=True)
        try:
            assert proc.stdin is not None
            proc.stdin.write(b'"first"\n')
            await proc.stdin.drain()
            assert (await received(peer))["message"] == "first"  # before stdin ended
            proc.send_signal(signal.SIGINT)
            assert proc.stderr is not None
            async with asyncio.timeout(scaled(20)):
                err = (await proc.stderr.read()).decode()
                assert await proc.wait() == 1
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert err.splitlines()[-1] == (
        "rx-itty: error: interrupted: 1 message went out; the relay had not confirmed them"
    )


@pytest.mark.asyncio
async def test_send_dash_stops_at_a_line_that_is_not_utf8(relay: Relay) -> None:
    code, _, err = await run(
        ["send", "room", "-", "--server", relay.url], stdin=b'"fine"\n"caf\xe9"\n'
    )
    assert code == 2
    assert err.splitlines()[-1] == (
        "rx-itty: error: line 2 of stdin is not UTF-8 text (the 1 message before it went out)"
    )


@pytest.mark.asyncio
async def test_send_to_an_unreachable_server_from_the_environment_says_where_it_came_from() -> None:
    code, _, err = await run(["send", "room", "x"], env={"RX_ITTY_SERVER": "ws://127.0.0.1:9/c"})
    assert code == 1
    last = err.splitlines()[-1]
    assert last.startswith("rx-itty: error: cannot connect to ws://127.0.0.1:9/c/room")
    assert last.endswith(" (server from $RX_ITTY_SERVER)")


@pytest.mark.asyncio
async def test_ctrl_c_while_the_handshake_hangs_is_a_one_line_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # accept, never answer the handshake
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        proc = await spawn(["send", "room", "x", "--server", f"ws://127.0.0.1:{port}/c/"])
        try:
            assert proc.stderr is not None
            async with asyncio.timeout(scaled(20)):
                assert (await proc.stderr.readline()).startswith(b"rx-itty: connecting to ")
                proc.send_signal(signal.SIGINT)
                err = (await proc.stderr.read()).decode()
                assert await proc.wait() == 1
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert err == "rx-itty: error: interrupted before the connection opened\n"
