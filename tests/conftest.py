"""Shared fixtures: a real relay on 127.0.0.1 port 0, each network transport in turn, TLS.

With ``RX_ITTY_TEST_BACKPLANE=redis`` the ``relay`` fixture runs on a Redis
backplane instead (a throwaway ``redis-server`` for the session), so every test
written against one relay also runs, unchanged, through the cluster code path::

    RX_ITTY_TEST_BACKPLANE=redis .venv/bin/python -m pytest tests/relay tests/interop
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from rx_itty.asyncio import TRANSPORT_ENV, WebsocketsTransport
from rx_itty.relay import Relay
from rx_itty.transport import Transport
from tests.redis_server import RedisServer, redis_or_skip
from tests.support import ENGINE

BACKPLANE_ENV = "RX_ITTY_TEST_BACKPLANE"
TRANSPORT_NAMES = ("websockets", "picows")

TransportClass = Callable[..., Transport]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty ``redis-server`` for one test (skips without one: see redis_or_skip)."""
    with RedisServer.running(redis_or_skip()) as server:
        yield server


@pytest.fixture(scope="session")
def test_backplane() -> Iterator[str | None]:
    """The backplane URL the ``relay`` fixture uses: ``None`` unless ``BACKPLANE_ENV=redis``."""
    choice = os.environ.get(BACKPLANE_ENV, "")
    if choice not in ("", "redis"):
        pytest.fail(f"{BACKPLANE_ENV} must be 'redis' or unset, got {choice!r}", pytrace=False)
    if not choice:
        yield None
        return
    with RedisServer.running(redis_or_skip()) as server:
        yield server.url


@pytest_asyncio.fixture
async def relay(test_backplane: str | None) -> AsyncIterator[Relay]:
    """A real relay with default configuration on a free loopback port."""
    async with Relay(backplane=test_backplane, engine=ENGINE) as running:
        yield running


@pytest.fixture(params=TRANSPORT_NAMES)
def transport_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each network transport in turn, also made the default of ``connect()`` (and of
    the programs a test starts) through ``$RX_ITTY_TRANSPORT``. picows' turn is
    skipped where the fast extra is not installed."""
    name: str = request.param
    if name == "picows":
        pytest.importorskip("picows", reason="the fast extra (picows) is not installed")
    monkeypatch.setenv(TRANSPORT_ENV, name)
    return name


@pytest.fixture
def transport_class(transport_name: str) -> TransportClass:
    """The class of :func:`transport_name`'s transport, to make one with options."""
    if transport_name == "picows":
        from rx_itty.asyncio.picows import PicowsTransport

        return PicowsTransport
    return WebsocketsTransport


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, and contexts using it."""

    cafile: Path  # the certificate, which is its own certificate authority
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A certificate made for this test run by the ``openssl`` command line tool."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "the TLS tests need the openssl command line tool"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return Tls(cert, server, ssl.create_default_context(cafile=cert))
