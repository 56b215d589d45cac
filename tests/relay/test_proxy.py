"""Behind a reverse proxy: the forwarded client address, trusted only from trusted proxies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from rx_itty.exceptions import RelayConfigError
from rx_itty.relay import Limits, Relay, RelayConfig
from rx_itty.relay.config import config_from_dict
from rx_itty.relay.proxy import TrustedProxies
from tests.support import ENGINE, Peer, scaled

# -- TrustedProxies ------------------------------------------------------------------

NGINX = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "values", "client"),
    [
        ("127.0.0.1", ["198.51.100.9"], "198.51.100.9"),
        ("127.0.0.1", ["192.0.2.1, 198.51.100.9"], "198.51.100.9"),  # the left one is forged
        ("127.0.0.1", ["198.51.100.9, 10.1.2.3"], "198.51.100.9"),  # a trusted inner hop
        ("127.0.0.1", ["198.51.100.9", "10.1.2.3"], "198.51.100.9"),  # repeated header
        ("127.0.0.1", ["10.0.0.2, 10.1.2.3"], "10.0.0.2"),  # all trusted: the leftmost
        ("127.0.0.1", ["::ffff:198.51.100.9"], "198.51.100.9"),  # one spelling per address
        ("127.0.0.1", [], "127.0.0.1"),  # no header: the proxy itself
        ("127.0.0.1", [" , "], "127.0.0.1"),
        ("203.0.113.5", ["198.51.100.9"], "203.0.113.5"),  # not a trusted peer
        (None, ["198.51.100.9"], None),
    ],
)
def test_x_forwarded_for_is_read_from_the_right_skipping_trusted_hops(
    peer: str | None, values: list[str], client: str | None
) -> None:
    assert NGINX.client_address(peer, values) == client


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("for=198.51.100.9", "198.51.100.9"),
        ('for="[2001:db8::1]:4711";proto=https', "2001:db8::1"),
        ("for=192.0.2.1, for=198.51.100.9:80;by=10.0.0.1", "198.51.100.9"),
        ("For=_hidden", "_hidden"),  # an obfuscated node is an identity of its own
        ("proto=https", "127.0.0.1"),
    ],
)
def test_forwarded_gives_the_for_node_without_port_or_brackets(value: str, client: str) -> None:
    proxies = TrustedProxies(["127.0.0.1"], header="Forwarded")
    assert proxies.client_address("127.0.0.1", [value]) == client


def test_a_star_trusts_every_peer_and_takes_the_address_its_proxy_appended() -> None:
    # The rightmost hop is the one the proxy in front of the relay wrote; anything
    # left of it came from the client (nginx's $proxy_add_x_forwarded_for appends).
    proxies = TrustedProxies(["*"])
    assert proxies.trusts("203.0.113.5")
    assert proxies.client_address("203.0.113.5", ["192.0.2.1, 198.51.100.9"]) == "198.51.100.9"
    assert proxies.client_address("203.0.113.5", ["127.0.0.1", "198.51.100.9"]) == "198.51.100.9"


def test_nothing_is_trusted_by_default() -> None:
    assert not TrustedProxies()
    assert not TrustedProxies().trusts("127.0.0.1")
    assert TrustedProxies().client_address("127.0.0.1", ["198.51.100.9"]) == "127.0.0.1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"trusted_proxies": ["nginx.local"]}, "not an IP address or network"),
        ({"trusted_proxies": "127.0.0.1"}, "must be a list"),
        ({"trusted_proxies": [1]}, "must be a list"),
        ({"proxy_header": "X-Real-IP"}, "not one of X-Forwarded-For, Forwarded"),
    ],
)
def test_bad_proxy_settings_are_clear_config_errors(raw: dict[str, object], message: str) -> None:
    with pytest.raises(RelayConfigError, match=message):
        config_from_dict(raw)


def test_proxy_settings_come_from_the_config_file() -> None:
    config = config_from_dict(
        {"trusted_proxies": ["::1", "10.0.0.0/8"], "proxy_header": "Forwarded"}
    )
    assert (config.trusted_proxies, config.proxy_header) == (("::1", "10.0.0.0/8"), "Forwarded")


# -- over real sockets, through a fake nginx ---------------------------------------------


class FakeProxy:
    """A reverse proxy on 127.0.0.1 that adds the client to X-Forwarded-For, as nginx's
    ``proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`` does.

    Every client is on loopback here, so the address it appends is :attr:`client`.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.client = "203.0.113.7"
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/c/"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")[:-2]
        forwarded = [
            i for i, line in enumerate(lines) if line.lower().startswith("x-forwarded-for:")
        ]
        if forwarded:
            lines[forwarded[0]] += f", {self.client}"
        else:
            lines.append(f"X-Forwarded-For: {self.client}")
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, relay: Relay) -> AsyncIterator[FakeProxy]:
        proxy = cls(relay.port)
        proxy.server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
        try:
            yield proxy
        finally:
            proxy.server.close()


async def status(url: str, **kwargs: object) -> int:
    """101 if the handshake succeeds (the connection is closed again), else the HTTP status."""
    try:
        async with connect(url, open_timeout=scaled(5), **kwargs):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def relay_behind_proxy(**limits: object) -> Relay:
    config = RelayConfig(limits=Limits(**limits), trusted_proxies=("127.0.0.1",))  # type: ignore[arg-type]
    return Relay(config, engine=ENGINE)


@pytest.mark.asyncio
async def test_behind_a_same_host_proxy_each_client_gets_its_own_connection_budget() -> None:
    # The proxy is on loopback (exempt by default), yet the limit applies to its clients.
    async with (
        relay_behind_proxy(connections_per_second=2) as relay,
        FakeProxy.running(relay) as proxy,
    ):
        assert [await status(proxy.url + "r?") for _ in range(3)] == [101, 101, 429]
        proxy.client = "198.51.100.9"
        assert await status(proxy.url + "r?") == 101
        proxy.client = "127.0.0.1"  # a client on the relay's own host is still exempt
        assert [await status(proxy.url + "r?") for _ in range(3)] == [101, 101, 101]


@pytest.mark.asyncio
async def test_a_client_cannot_pick_its_address_by_sending_the_header_itself() -> None:
    async with (
        relay_behind_proxy(connections_per_second=1) as relay,
        FakeProxy.running(relay) as proxy,
    ):
        assert await status(proxy.url + "r?") == 101
        forged = {"additional_headers": {"X-Forwarded-For": "192.0.2.55"}}
        assert await status(proxy.url + "r?", **forged) == 429


@pytest.mark.asyncio
async def test_the_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored() -> None:
    limits = Limits(connections_per_second=1, exempt_loopback=False)
    async with Relay(
        RelayConfig(limits=limits, trusted_proxies=("10.0.0.1",)), engine=ENGINE
    ) as relay:
        first = {"additional_headers": {"X-Forwarded-For": "198.51.100.1"}}
        second = {"additional_headers": {"X-Forwarded-For": "198.51.100.2"}}
        assert await status(relay.url + "r?", **first) == 101
        assert await status(relay.url + "r?", **second) == 429  # both are 127.0.0.1


@pytest.mark.asyncio
async def test_a_ban_falls_on_the_forwarded_client_not_on_the_proxy() -> None:
    limits = {"messages_per_window": 1, "window_seconds": 60, "warnings": 0, "ban_seconds": 60}
    async with relay_behind_proxy(**limits) as relay, FakeProxy.running(relay) as proxy:
        async with await Peer.connect(proxy.url + "r?") as spammer:
            await spammer.joined()
            await spammer.send(1)
            await spammer.send(2)
            with contextlib.suppress(Exception):
                while True:
                    await spammer.recv()
        assert await status(proxy.url + "r?") == 429
        proxy.client = "198.51.100.9"
        assert await status(proxy.url + "r?") == 101


@pytest.mark.asyncio
async def test_the_forwarded_header_can_be_read_instead() -> None:
    config = RelayConfig(
        limits=Limits(connections_per_second=1),
        trusted_proxies=("127.0.0.1",),
        proxy_header="Forwarded",
    )
    async with Relay(config, engine=ENGINE) as relay:
        one = {"additional_headers": {"Forwarded": 'for="[2001:db8::1]:4711"'}}
        other = {"additional_headers": {"Forwarded": "for=198.51.100.3"}}
        assert [await status(relay.url + "r?", **one) for _ in range(2)] == [101, 429]
        assert await status(relay.url + "r?", **other) == 101


@pytest.mark.asyncio
async def test_an_untrusted_same_host_proxy_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rx_itty.relay")
    async with Relay(engine=ENGINE) as relay, FakeProxy.running(relay) as proxy:
        for _ in range(3):
            assert await status(proxy.url + "r?") == 101
    warnings = [r.getMessage() for r in caplog.records if "not a trusted proxy" in r.getMessage()]
    assert len(warnings) == 1
    assert "exempt from limits" in warnings[0]
    assert "trusted_proxies" in warnings[0]


@pytest.mark.asyncio
async def test_behind_a_star_a_client_cannot_pick_its_address_with_a_forged_header() -> None:
    limits = Limits(connections_per_second=2, exempt_loopback=False)
    async with Relay(RelayConfig(limits=limits, trusted_proxies=("*",))) as relay:
        statuses = []
        for n in range(3):  # the same client behind the proxy, a new forged address each time
            forged = {"additional_headers": {"X-Forwarded-For": f"10.0.0.{n}, 198.51.100.7"}}
            statuses.append(await status(relay.url + "r?", **forged))
        assert statuses == [101, 101, 429]
        loopback = {"additional_headers": {"X-Forwarded-For": "127.0.0.1, 198.51.100.7"}}
        assert await status(relay.url + "r?", **loopback) == 429  # no loopback exemption either
