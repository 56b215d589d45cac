"""``rx-itty serve``, run as a real subprocess: its URL, signals, config files, HTTP push."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.cli.support import run
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
        f"rx-itty: error: relay config {str(config)!r}: limits.max_frame_bytes must be "
        "a whole number >= 0 or null (no limit), got 'big'"
    )


@pytest.mark.asyncio
async def test_a_port_in_use_is_a_clear_error() -> None:
    async with serving() as (_, url):
        port = url.split(":")[2].split("/")[0]
        code, _, err = await run(["serve", "--port", port])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "choose another --port" in err


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
                b"POST /c/app:alerts HTTP/1.1\r\nHost: relay\r\nContent-Length: 2\r\n"
                b"x-send-key: K\r\nConnection: close\r\n\r\n42"
            )
            async with asyncio.timeout(scaled(5)):
                assert (await reader.read()).startswith(b"HTTP/1.1 200 OK")
            writer.close()
            assert (await peer.recv())["message"] == 42


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
