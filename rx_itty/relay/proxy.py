"""The client's address behind a reverse proxy, for connection limits, bans and the loopback rule.

Behind a proxy every connection comes from the proxy's address. With the
proxy's address (or network) in ``trusted_proxies``, the relay reads the
client's address from the header the proxy sets, as uvicorn does with
``forwarded_allow_ips``: the addresses in ``X-Forwarded-For`` (or the ``for=``
of ``Forwarded``) are read from the right, skipping trusted proxies, and the
first untrusted one is the client; if all are trusted, the leftmost is. With
``"*"`` (any peer is a proxy) the rightmost is: the address the proxy in front of
the relay appended, the only one a client cannot write (uvicorn takes the
leftmost there, which the client controls). The header is ignored on
connections from anyone else, so a client cannot pick its own address::

    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    proxies.client_address("127.0.0.1", ["198.51.100.9, 10.0.0.2"])   # '198.51.100.9'
    proxies.client_address("203.0.113.5", ["198.51.100.9"])           # '203.0.113.5'

Only one header is read (``X-Forwarded-For`` by default, or ``Forwarded``): a
proxy that sets one passes the other through from the client untouched.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final, final

from rx_itty.exceptions import RelayConfigError

__all__ = ["PROXY_HEADERS", "TrustedProxies", "parse_address"]

PROXY_HEADERS: Final = ("X-Forwarded-For", "Forwarded")
"""The headers a proxy can name the client in; a relay reads the one it is configured with."""

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> _Address | None:
    """The IP address ``text`` names (an IPv4-mapped one as IPv4, a zone id dropped), or None.

    The relay's one address parser: limits, bans, the loopback exemption and the
    trusted-proxy check all see an address the same way.
    """
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` nodes of a ``Forwarded`` header, ports and brackets removed (RFC 7239)."""
    nodes = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, node = pair.strip().partition("=")
            if name.strip().lower() != "for":
                continue
            node = node.strip().strip('"')
            if node.startswith("["):  # "[2001:db8::1]:4711"
                node = node[1:].partition("]")[0]
            elif node.count(":") == 1:  # "192.0.2.60:4711"
                node = node.partition(":")[0]
            nodes.append(node)
    return nodes


@final
class TrustedProxies:
    """Which peers may name the client, and how to read the name.

    Args:
        trusted: Addresses and networks (``"127.0.0.1"``, ``"10.0.0.0/8"``, ``"::1"``),
            or ``"*"`` for any peer: only when nothing but one proxy can reach the relay,
            which then takes the address that proxy appended (behind a chain of proxies,
            name them instead: with ``"*"`` the client is the innermost proxy).
        header: ``"X-Forwarded-For"`` (nginx's ``$proxy_add_x_forwarded_for``) or
            ``"Forwarded"`` (RFC 7239).

    Raises:
        RelayConfigError: an entry is not an address or network, or an unknown header.
    """

    def __init__(self, trusted: Iterable[str] = (), header: str = "X-Forwarded-For") -> None:
        self.header = header
        self._any = False
        self._networks: list[_Network] = []
        for entry in trusted:
            if entry.strip() == "*":
                self._any = True
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise RelayConfigError(
                    f"trusted proxy {entry!r} is not an IP address or network (e.g. 10.0.0.0/8)"
                ) from None
        if header.lower() not in {name.lower() for name in PROXY_HEADERS}:
            raise RelayConfigError(
                f"proxy header {header!r} is not one of {', '.join(PROXY_HEADERS)}"
            )
        self._forwarded = header.lower() == "forwarded"

    def __bool__(self) -> bool:
        """True if any proxy is trusted."""
        return self._any or bool(self._networks)

    def trusts(self, host: str | None) -> bool:
        """True if ``host`` (an address; anything else is never trusted) is a trusted proxy."""
        if self._any:
            return True
        address = None if host is None else parse_address(host)
        return address is not None and any(address in network for network in self._networks)

    def client_address(self, peer: str | None, values: Sequence[str]) -> str | None:
        """The client's address for a connection from ``peer`` carrying header ``values``."""
        if not values or not self.trusts(peer):
            return peer
        if self._forwarded:
            hops = [node for value in values for node in _forwarded_for(value)]
        else:
            hops = [hop.strip() for value in values for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        if not hops:
            return peer
        if self._any:
            # Every hop would count as a proxy: only the last one, written by the proxy
            # in front of us, is not the client's own word.
            return _canonical(hops[-1])
        for hop in reversed(hops):
            if not self.trusts(hop):
                return _canonical(hop)
        return _canonical(hops[0])


def _canonical(host: str) -> str:
    """One spelling per address (``::ffff:1.2.3.4`` is ``1.2.3.4``), so limits count it once."""
    address = parse_address(host)
    return host if address is None else str(address)
