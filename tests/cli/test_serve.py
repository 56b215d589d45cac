"""``rx-itty serve``, run as a real subprocess: its URL, signals, config files, HTTP push."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.cli.support import run, start_serve
from tests.support import Peer, scaled

_URL = re.compile(r"ws://\S+/c/")


@asynccontextmanager
async def serving(
    *args: str, before: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Run ``python -m rx_itty [BEFORE] serve --port 0 ARGS`` and yield it with its URL."""
    proc, line = await start_serve(*args, before=before, env=env)
    try:
        found = _URL.search(line)
        assert found, f"no URL in {line!r}"
        yield proc, found.group(0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.asyncio
async def test_serve_prints_its_url_and_stops_cleanly_on_a_signal(
    sig: signal.Signals, loop: str
) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="the fast extra (uvloop) is not installed")
    async with serving(env={"RX_ITTY_LOOP": loop}) as (proc, url):
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
        (["serve", "--node-ttl", "1"], "--node-ttl needs a backplane: add --backplane URL"),
        (["serve", "--backplane", "http://h:1"], "backplane URL must look like redis://"),
        (["serve", "--backplane", "redis://h", "--node-ttl", "0"], "must be a positive number"),
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
async def test_the_same_port_for_websockets_and_http_pushes_is_refused_as_such() -> None:
    code, out, err = await run(["serve", "--port", "8090", "--http-port", "8090"])
    assert (code, out) == (2, "")
    assert err == (
        "rx-itty: error: --port and --http-port are both 8090: "
        "give HTTP pushes a port of their own\n"
    )


@pytest.mark.asyncio
async def test_quiet_serve_prints_only_its_url(tmp_path: Path) -> None:
    async with serving("-q") as (proc, url):
        assert proc.stdout is not None
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(scaled(20)):
            rest = (await proc.stdout.read()).decode()
            assert await proc.wait() == 0
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/c/", url)
    assert rest == ""


@pytest.mark.asyncio
async def test_serving_on_all_interfaces_says_so_and_how_to_connect_from_here() -> None:
    proc, line = await start_serve("--host", "0.0.0.0")  # noqa: S104 - what is tested
    try:
        found = re.fullmatch(
            r"rx_itty relay listening on all interfaces \(port (\d+)\); "
            r"from this machine: (ws://127\.0\.0\.1:\1/c/)  \(Ctrl-C to stop\)\n",
            line,
        )
        assert found, line
        assert proc.stdout is not None
        connect_line = (await proc.stdout.readline()).decode()
        assert connect_line == f"connect with: rx_itty.connect('{found.group(2)}my-room')\n"
    finally:
        proc.kill()
        await proc.wait()


@pytest.mark.asyncio
async def test_a_backplane_from_the_config_file_that_cannot_be_reached_names_the_file(
    tmp_path: Path,
) -> None:
    pytest.importorskip("redis", reason="the redis extra is not installed")
    config = tmp_path / "relay.json"
    config.write_text(json.dumps({"backplane": "redis://127.0.0.1:1/0"}))
    code, _, err = await run(["serve", "--port", "0", "--config", str(config)])
    assert code == 1
    assert err.splitlines()[-1].endswith(f'; start Redis there or fix "backplane" in {config}')


@pytest.mark.asyncio
async def test_invalid_config_file_is_reported_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "relay.json"
    config.write_text('{"limits": {"max_frame_bytes": "big"}}')
    code, _, err = await run(["serve", "--port", "0", "--config", str(config)])
    assert code == 2
    assert err.strip() == (
        f"rx-itty: error: relay config {str(config)!r}: limits.max_frame_bytes must be "
        "a whole number >= 0 or null (no limit), got 'big'"
    )


@pytest.mark.asyncio
async def test_a_port_in_use_is_a_clear_error() -> None:
    async with serving() as (_, url):
        port = url.split(":")[2].split("/")[0]
        code, out, err = await run(["serve", "--port", port])
        assert (code, out) == (1, "")
        assert err == (
            f"rx-itty: error: cannot listen on 127.0.0.1:{port}: address already in use; "
            "choose another --port (0 picks a free one)\n"
        )
        code, _, err = await run(["serve", "--port", "0", "--http-port", port])
    assert code == 1
    assert err == (
        f"rx-itty: error: cannot listen on 127.0.0.1:{port}: address already in use; "
        "choose another --http-port (0 picks a free one)\n"
    )


@pytest.mark.asyncio
async def test_an_address_of_no_interface_here_blames_the_host_not_the_port() -> None:
    code, out, err = await run(["serve", "--host", "10.255.255.1", "--port", "0"])
    assert (code, out) == (1, "")
    assert err == (
        "rx-itty: error: cannot listen on 10.255.255.1:0: cannot assign requested address; "
        "no interface of this machine has that address: choose another --host "
        "(127.0.0.1 for this machine only, 0.0.0.0 for all)\n"
    )


@pytest.mark.asyncio
async def test_an_unknown_host_name_is_a_one_line_error() -> None:
    code, _, err = await run(["serve", "--host", "no-such-host.invalid", "--port", "0"])
    assert code == 1
    assert err.startswith("rx-itty: error: cannot listen on no-such-host.invalid: unknown host (")
    assert err.endswith("); check --host\n")
    assert len(err.splitlines()) == 1


async def log_lines_of(before: tuple[str, ...], after: tuple[str, ...]) -> str:
    """Serve with options before and after the command, let one client come and go, stop.

    Returns everything it logged.
    """
    async with serving(*after, before=before) as (proc, url):
        async with await Peer.connect(url + "room") as peer:
            await peer.joined()
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        async with asyncio.timeout(scaled(20)):
            err = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0
    return err


@pytest.mark.parametrize(
    ("before", "after", "levels"),
    [
        ((), (), set()),
        (("-v",), (), {"INFO"}),
        ((), ("-v",), {"INFO"}),
        ((), ("-vv",), {"INFO", "DEBUG"}),
        (("-v",), ("--verbose",), {"INFO", "DEBUG"}),  # counted on both sides
        ((), ("--log-level", "debug"), {"INFO", "DEBUG"}),
        (("--log-level", "DEBUG"), ("-q",), {"INFO", "DEBUG"}),  # a named level wins
        (("-v",), ("-q",), set()),
    ],
    ids=["default", "-v-before", "-v-after", "-vv", "-v-both", "log-level", "level-over-q", "-v-q"],
)
@pytest.mark.asyncio
async def test_serve_logs_at_the_level_asked_for(
    before: tuple[str, ...], after: tuple[str, ...], levels: set[str]
) -> None:
    err = await log_lines_of(before, after)
    logged = {word for line in err.splitlines() for word in line.split()[3:4]}
    assert logged == levels, err


@pytest.mark.asyncio
async def test_serve_trusts_the_proxies_named_with_trusted_proxy(tmp_path: Path) -> None:
    config = tmp_path / "relay.json"
    config.write_text(json.dumps({"limits": {"connections_per_second": 1}}))
    forwarded = {"additional_headers": {"X-Forwarded-For": "198.51.100.9"}}
    async with serving("--config", str(config), "--trusted-proxy", "127.0.0.1") as (_, url):
        async with await Peer.connect(url + "r?", **forwarded) as peer:
            await peer.joined()
        with pytest.raises(InvalidStatus) as refused:
            await Peer.connect(url + "r?", **forwarded)  # the client's budget, not loopback's
        assert refused.value.response.status_code == 429


@pytest.mark.asyncio
async def test_serve_with_an_unknown_loop_in_the_environment_exits_2_saying_so() -> None:
    code, _, err = await run(["serve", "--port", "0"], env={"RX_ITTY_LOOP": "trio"})
    assert code == 2
    assert err.strip().splitlines() == [
        "rx-itty: error: $RX_ITTY_LOOP is 'trio'; use one of: uvloop, asyncio"
    ]
