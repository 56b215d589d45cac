"""Relay configuration: limits, reserved namespaces and their keys.

Everything is a frozen value whose defaults are the hosted service's limits (100 KB
frames, 40 messages per 5 ms, 3 warnings, 10 new connections per second per IP),
so a relay with no configuration behaves like the hosted service, minus the limits that would
get in the way of local testing (loopback peers are exempt from rate limits,
connection limits and bans unless ``exempt_loopback`` is turned off).

A configuration file is JSON::

    {
      "namespaces": {"myapp": {"joinKey": "...", "sendKey": "..."}, "public": {}},
      "limits": {"max_frame_bytes": 102400, "messages_per_window": 40,
                 "window_seconds": 0.005, "exempt_loopback": false},
      "backplane": {"url": "redis://127.0.0.1:6379/0", "node_ttl": 5},
      "trusted_proxies": ["127.0.0.1"],
      "engine": "picows"
    }

``"backplane"`` may also be just the URL; without it the relay is one process.
``"engine"`` picks what runs the sockets (see :data:`ENGINES`); the relay behaves
the same on either.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, final

from rx_itty import _json
from rx_itty._logging import without_credentials
from rx_itty.exceptions import RelayConfigError
from rx_itty.relay.proxy import TrustedProxies

__all__ = [
    "ENGINES",
    "BackplaneConfig",
    "Limits",
    "NamespaceKeys",
    "RelayConfig",
    "backplane_at",
    "check_engine",
    "config_from_dict",
    "load_config",
    "match_namespace",
]

_BOUNDARIES = ":/"

ENGINES: Final = ("websockets", "picows")
"""What can run a relay's sockets: ``websockets`` (the default, always installed) or
``picows`` (frames parsed and written in C, from ``pip install 'rx_itty[fast]'``; no
compression). The relay behaves the same on either."""


def _check_limit(name: str, declared: str, value: Any) -> None:
    """Check one limit against its declared type: bool, whole number or seconds."""
    if declared == "bool":
        if not isinstance(value, bool):
            raise RelayConfigError(f"limits.{name} must be true or false, got {value!r}")
        return
    if value is None and "None" in declared:
        return
    whole = declared.startswith("int")
    number = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, number) or not 0 <= value < math.inf:
        kind = "a whole number" if whole else "a number of seconds"
        off = " or null (no limit)" if "None" in declared else ""
        raise RelayConfigError(f"limits.{name} must be {kind} >= 0{off}, got {value!r}")


@final
@dataclass(frozen=True, slots=True)
class Limits:
    """Per-relay limits; ``None`` turns a limit off.

    Attributes:
        max_frame_bytes: Largest inbound frame, in UTF-8 bytes including any DM prefix.
        messages_per_window: Messages one connection may send per ``window_seconds``.
        window_seconds: Length of the rate window (hosted: 40 per 5 ms).
        warnings: Violations (size or rate) answered with a warning before the
            next one closes the connection with code 1008.
        connections_per_second: New connections per client IP per second (HTTP 429).
        ban_seconds: After a 1008 close, refuse that IP's handshakes for this long (0: never).
        exempt_loopback: Exempt 127.0.0.0/8 and ::1 from rate, connection and ban limits.
        max_alias_length: Longest accepted alias, in characters (HTTP 400 above it).
        max_channel_length: Longest accepted channel name, in characters (HTTP 400 above it).
        max_buffered_bytes: High-water mark of one member's unread output, in bytes.
            Above it the member has ``slow_reader_seconds`` to catch up, or it is
            dropped with close code 1013 (try again later).
        slow_reader_seconds: That grace period (and how long a dropped member gets
            to read its close frame before the TCP connection is cut).
        max_total_buffered_bytes: Relay-wide budget for unread output (of all members
            more than 32 KiB behind); past it, the members most behind are cut off at
            once until it fits, whether past their own mark or not.
        max_request_line_bytes: Longest handshake request line (HTTP 414 above it).
        max_header_count: Most handshake request headers (HTTP 431 above it).
        max_header_bytes: Largest handshake request head, request line and headers
            together (HTTP 431 above it).
        max_push_connections: HTTP push connections served at once (HTTP 503 to the
            next); each has 10 s per request and while idle.
    """

    max_frame_bytes: int | None = 102_400
    messages_per_window: int | None = 40
    window_seconds: float = 0.005
    warnings: int = 3
    connections_per_second: int | None = 10
    ban_seconds: float = 0.0
    exempt_loopback: bool = True
    max_alias_length: int | None = 256
    max_channel_length: int | None = 1024
    max_buffered_bytes: int | None = 1024 * 1024
    slow_reader_seconds: float = 2.0
    max_total_buffered_bytes: int | None = 64 * 1024 * 1024
    max_request_line_bytes: int | None = 8 * 1024
    max_header_count: int | None = 100
    max_header_bytes: int | None = 32 * 1024
    max_push_connections: int | None = 256

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_limit(f.name, str(f.type), getattr(self, f.name))
        if self.window_seconds <= 0:
            raise RelayConfigError("limits.window_seconds must be greater than 0")


@final
@dataclass(frozen=True, slots=True)
class NamespaceKeys:
    """Keys of a reserved namespace. ``None`` leaves that gate open.

    A reservation without keys is still useful: it stops the first joiner of a
    channel under it from setting ephemeral keys (the first joiner's keys).
    """

    join_key: str | None = field(default=None, repr=False)
    send_key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # keys never appear in logs or tracebacks
        return (
            f"NamespaceKeys(join_key={'set' if self.join_key else None}, "
            f"send_key={'set' if self.send_key else None})"
        )


_BACKPLANE_SCHEMES = ("redis", "rediss", "unix")


@final
@dataclass(frozen=True, slots=True)
class BackplaneConfig:
    """Where a relay node meets the other nodes of its cluster.

    Attributes:
        url: The Redis server: ``redis://[user:password@]HOST:PORT/DB``, ``rediss://``
            for TLS, or ``unix:///path/to/redis.sock?db=0``.
        node_ttl: Seconds after which a node that stopped refreshing its heartbeat
            (killed, frozen, cut off) is declared dead and its members leave on
            every other node. Nodes refresh every third of it.
        prefix: Prefix of every Redis key and pub/sub channel; clusters sharing one
            Redis database need different prefixes.
    """

    url: str
    node_ttl: float = 5.0
    prefix: str = "rxi"

    def __post_init__(self) -> None:
        scheme = self.url.partition("://")[0].lower() if "://" in self.url else ""
        if scheme not in _BACKPLANE_SCHEMES:
            raise RelayConfigError(
                f"backplane URL must look like redis://HOST:PORT/DB, rediss://... or "
                f"unix:///path?db=0, got {without_credentials(self.url)!r}"
            )
        ttl = self.node_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
            raise RelayConfigError(
                f"backplane.node_ttl must be a number of seconds > 0, got {ttl!r}"
            )
        if not isinstance(self.prefix, str) or not self.prefix or not self.prefix.isprintable():
            raise RelayConfigError(
                f"backplane.prefix must be a non-empty printable string, got {self.prefix!r}"
            )

    def __repr__(self) -> str:  # credentials never appear in logs or tracebacks
        return (
            f"BackplaneConfig(url={without_credentials(self.url)!r}, "
            f"node_ttl={self.node_ttl!r}, prefix={self.prefix!r})"
        )


def backplane_at(url: str, settings: BackplaneConfig | None = None) -> BackplaneConfig:
    """A backplane at ``url``, with the other settings of ``settings`` (or the defaults)."""
    return BackplaneConfig(url) if settings is None else dataclasses.replace(settings, url=url)


@final
@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Everything a relay needs to know besides where to listen.

    Attributes:
        limits: See :class:`Limits`.
        namespaces: Reserved namespaces (``"myapp"``, ``"myapp/private"``) and their keys.
        compression: Offer permessage-deflate. Off by default: it costs about 2x CPU
            per delivered message and 3x memory per connection.
        backplane: Share channels with other relay nodes through Redis; ``None``
            (the default) keeps the relay to this process. Every node of a
            cluster needs the same namespaces (a node with others cannot join).
        trusted_proxies: Addresses and networks of reverse proxies (``"127.0.0.1"``,
            ``"10.0.0.0/8"``) whose ``proxy_header`` names the client; limits, bans and
            the loopback exemption then apply to that client address. ``"*"`` trusts
            any peer and takes the address the nearest proxy appended: only for a relay
            that nothing but one proxy can reach. Empty by default: the header is
            never trusted.
        proxy_header: ``"X-Forwarded-For"`` (the default) or ``"Forwarded"``.
        engine: What runs the sockets, one of :data:`ENGINES`: ``"websockets"`` (the
            default) or ``"picows"`` (``rx_itty[fast]``; it cannot compress).
    """

    limits: Limits = field(default_factory=Limits)
    namespaces: Mapping[str, NamespaceKeys] = field(default_factory=dict)
    compression: bool = False
    backplane: BackplaneConfig | None = None
    trusted_proxies: tuple[str, ...] = ()
    proxy_header: str = "X-Forwarded-For"
    engine: str = "websockets"

    def __post_init__(self) -> None:
        check_engine(self.engine, self.compression)
        if isinstance(self.trusted_proxies, str) or not all(
            isinstance(entry, str) for entry in self.trusted_proxies
        ):
            raise RelayConfigError('"trusted_proxies" must be a list of addresses or networks')
        TrustedProxies(self.trusted_proxies, self.proxy_header)  # raises if either is invalid
        for name in self.namespaces:
            if not name or name[-1] in _BOUNDARIES:
                raise RelayConfigError(
                    f"namespace {name!r} must be non-empty and not end with ':' or '/'"
                )


def check_engine(engine: str, compression: bool) -> None:
    """Check that ``engine`` is one of :data:`ENGINES` and can do what the config asks.

    Raises:
        RelayConfigError: an unknown engine, or compression with ``picows``.
    """
    if engine not in ENGINES:
        raise RelayConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if compression and engine == "picows":
        raise RelayConfigError(
            "the picows engine cannot compress (no permessage-deflate): turn compression "
            "off or use the websockets engine"
        )


def match_namespace(channel: str, namespaces: Mapping[str, NamespaceKeys]) -> str | None:
    """The longest reserved namespace covering ``channel``, or ``None``.

    A namespace ``p`` covers ``c`` when ``c == p`` or ``c`` starts with ``p``
    followed by ``:`` or ``/``.
    """
    if not namespaces:
        return None
    if channel in namespaces:
        return channel
    for end in range(len(channel) - 1, 0, -1):
        if channel[end] in _BOUNDARIES and channel[:end] in namespaces:
            return channel[:end]
    return None


def _key(raw: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = raw.get(name)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise RelayConfigError(f"namespace key {name!r} must be a non-empty string")
            return value
    return None


def _namespaces(raw: Any) -> dict[str, NamespaceKeys]:
    if not isinstance(raw, dict):
        raise RelayConfigError('"namespaces" must be an object of {name: {joinKey, sendKey}}')
    result = {}
    for name, keys in raw.items():
        if not isinstance(keys, dict):
            raise RelayConfigError(f"namespace {name!r} must map to an object, e.g. {{}}")
        unknown = set(keys) - {"joinKey", "sendKey", "join_key", "send_key"}
        if unknown:
            raise RelayConfigError(
                f"namespace {name!r} has unknown keys {sorted(unknown)}; use joinKey/sendKey"
            )
        result[name] = NamespaceKeys(
            _key(keys, "joinKey", "join_key"), _key(keys, "sendKey", "send_key")
        )
    return result


def _backplane(raw: Any) -> BackplaneConfig | None:
    if raw is None or isinstance(raw, str):
        return None if raw is None else BackplaneConfig(raw)
    known = {f.name for f in dataclasses.fields(BackplaneConfig)}
    if not isinstance(raw, dict) or "url" not in raw:
        raise RelayConfigError(
            '"backplane" must be a URL or an object {"url", "node_ttl"?, "prefix"?}'
        )
    unknown = set(raw) - known
    if unknown:
        raise RelayConfigError(
            f'"backplane" has unknown keys {sorted(unknown)}; it takes "url", "node_ttl" '
            'and "prefix"'
        )
    return BackplaneConfig(**raw)


def config_from_dict(raw: Mapping[str, Any]) -> RelayConfig:
    """Build a :class:`RelayConfig` from the JSON shape shown in the module docstring.

    Raises:
        RelayConfigError: unknown sections or fields, or values of the wrong type.
    """
    sections = {
        "namespaces",
        "limits",
        "compression",
        "backplane",
        "trusted_proxies",
        "proxy_header",
        "engine",
    }
    unknown = set(raw) - sections
    if unknown:
        raise RelayConfigError(
            f"unknown config sections {sorted(unknown)}; expected {', '.join(sorted(sections))}"
        )
    limits_raw = raw.get("limits", {})
    known = {f.name for f in dataclasses.fields(Limits)}
    if not isinstance(limits_raw, dict) or set(limits_raw) - known:
        raise RelayConfigError(f'"limits" may only contain {sorted(known)}')
    compression = raw.get("compression", False)
    if not isinstance(compression, bool):
        raise RelayConfigError('"compression" must be true or false')
    proxies = raw.get("trusted_proxies", [])
    header = raw.get("proxy_header", "X-Forwarded-For")
    if not isinstance(proxies, list) or not isinstance(header, str):
        raise RelayConfigError(
            '"trusted_proxies" must be a list of addresses or networks, "proxy_header" a string'
        )
    engine = raw.get("engine", "websockets")
    if not isinstance(engine, str):
        raise RelayConfigError(f'"engine" must be one of {", ".join(ENGINES)}')
    return RelayConfig(
        limits=Limits(**limits_raw),
        namespaces=_namespaces(raw.get("namespaces", {})),
        compression=compression,
        backplane=_backplane(raw.get("backplane")),
        trusted_proxies=tuple(proxies),
        proxy_header=header,
        engine=engine,
    )


def load_config(path: str | Path) -> RelayConfig:
    """Read a JSON relay configuration file.

    Raises:
        RelayConfigError: the file is missing, not JSON, or not a valid configuration.
    """
    try:
        raw = _json.loads_unique(Path(path).read_bytes())
    except OSError as exc:
        raise RelayConfigError(f"cannot read relay config {str(path)!r}: {exc.strerror}") from exc
    except ValueError as exc:  # JSONDecodeError (a repeated key too), NaN, Infinity
        raise RelayConfigError(f"relay config {str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise RelayConfigError(f"relay config {str(path)!r} must be a JSON object")
    try:
        return config_from_dict(raw)
    except RelayConfigError as exc:
        raise RelayConfigError(f"relay config {str(path)!r}: {exc}") from None
