"""``connect()``: options in, an :class:`~rx_itty.socket.IttySocket` out (no I/O yet)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import difflib
import logging
import os
import random
import weakref
from collections.abc import Mapping
from typing import Any

from reactivex import abc

from rx_itty._logging import without_query
from rx_itty.asyncio._tls import SSLOption
from rx_itty.asyncio.choose import make_transport
from rx_itty.asyncio.runtime import at_exit, current_runtime, is_shared
from rx_itty.backoff import Backoff
from rx_itty.exceptions import InvalidOptionError
from rx_itty.runtime import ImmediateRuntime, Runtime
from rx_itty.socket import IttySocket
from rx_itty.transport import Transport
from rx_itty.wire import DEFAULT_BASE, QueryValue, build_url, check_url, is_raw_url

__all__ = ["SERVER_ENV", "connect"]

SERVER_ENV = "RX_ITTY_SERVER"
"""Environment variable naming the default server base, e.g. ``ws://127.0.0.1:8080/c/``."""

logger = logging.getLogger("rx_itty")

# JS option spellings accepted through **options (``as`` is a Python keyword).
_JS_NAMES = {"as": "alias", "joinKey": "join_key", "sendKey": "send_key"}
_OPTION_NAMES = ("alias", "echo", "announce", "list", "join_key", "send_key")
_EXIT_FLUSH_SECONDS = 2.0

_background_sockets: weakref.WeakSet[IttySocket] = weakref.WeakSet()


def _flush_background_sockets() -> None:
    # A script that sends and ends would otherwise lose what is still queued:
    # the shared loop thread is a daemon and dies with the interpreter. The
    # sockets flush at once, within one budget for all of them.
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C at exit: leave now, quietly
        sockets = list(_background_sockets)
        for socket in sockets:
            socket.dispose()
        waits = [socket._closed_future() for socket in sockets]
        concurrent.futures.wait(waits, timeout=_EXIT_FLUSH_SECONDS)


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidOptionError(f"{name} must be True or False, got {value!r}")
    return value


def _check_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidOptionError(f"{name} must be a non-empty str, got {value!r}")
    return value


def _server_base(server: str | None, channel: str) -> str:
    """The base for a channel name: ``server``, else ``$RX_ITTY_SERVER``, else the hosted relay."""
    if server is not None:
        return server
    base = os.environ.get(SERVER_ENV)
    if not base:
        return DEFAULT_BASE
    if not is_raw_url(base) and not is_raw_url(channel):
        raise InvalidOptionError(
            f"${SERVER_ENV} is {base!r}, but a server base must start with ws:// or wss://, "
            f"e.g. ws://127.0.0.1:8080/c/; fix or unset ${SERVER_ENV}"
        )
    return base


def _warn_doubled_channel(base: str, channel: str) -> None:
    """Warn when ``base`` already ends with the channel name: the URL would repeat it."""
    path = without_query(base).rstrip("/")
    if path.endswith("/" + channel) and path.count("/") > 2:  # ws://host/.../<channel>
        logger.warning(
            "the server base %s already ends with the channel name %r, so the socket opens "
            "%s/%s; pass the base (such as ws://host:8080/c/) as server=, or the whole URL "
            "as the channel",
            path,
            channel,
            path,
            channel,
        )


def _merge_js_options(options: Mapping[str, Any], given: dict[str, Any]) -> None:
    for name, value in options.items():
        python_name = _JS_NAMES.get(name)
        if python_name is None:
            known = [*_OPTION_NAMES, *_JS_NAMES]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidOptionError(
                f"unknown option {name!r}{hint} (free query parameters go in params={{...}})"
            )
        if given.get(python_name) is not None:
            raise InvalidOptionError(f"both {name!r} and {python_name!r} were given; pass one")
        given[python_name] = value


def _transport(transport: Transport | str | None, ssl: SSLOption, runtime: Runtime) -> Transport:
    if transport is not None and not isinstance(transport, str):
        if ssl is not None:
            raise InvalidOptionError(
                "ssl= configures a transport that connect() makes; pass it to the transport "
                "you made instead, e.g. PicowsTransport(ssl=...)"
            )
        return transport
    if runtime.loop is None:
        raise InvalidOptionError(
            "a virtual-time scheduler needs an in-memory transport: pass "
            "transport=rx_itty.testing.MemoryRelay() (the network transports need a real loop)"
        )
    return make_transport(transport, ssl=ssl)


def connect(
    channel: str,
    *,
    alias: str | None = None,
    echo: bool = False,
    announce: bool = False,
    list: bool = False,
    join_key: str | None = None,
    send_key: str | None = None,
    params: Mapping[str, QueryValue] | None = None,
    server: str | None = None,
    reconnect: bool | Backoff = True,
    max_queue: int = 100_000,
    transport: Transport | str | None = None,
    ssl: SSLOption = None,
    scheduler: abc.SchedulerBase | None = None,
    runtime: Runtime | None = None,
    **options: Any,
) -> IttySocket:
    """Make a socket for a channel name or a raw ``ws://``/``wss://`` URL. No I/O yet.

    The socket connects on the first subscription, send or ``open()``.

    Args:
        channel: A channel name (``"my-room"``, ``"myapp:chat"``) or a full URL.
        alias: Display name (wire ``as``); also accepted as ``**{"as": ...}``.
        echo: Receive our own broadcasts too.
        announce: Show our uid/alias in others' join/leave and user lists.
        list: Ask for the user list on our own join.
        join_key: Key for the join gate (wire ``joinKey``, also accepted as such).
        send_key: Key for the send gate (wire ``sendKey``, also accepted as such).
        params: Extra query parameters (for raw URLs or custom relays), after the options.
        server: Base URL for channel names; default ``$RX_ITTY_SERVER``, else
            ``wss://itty.ws/c/``. The channel name is appended to it, so a base that
            already ends with the name (``ws://host/c/room`` for ``"room"``) opens
            ``.../c/room/room``: that is logged as a warning.
        reconnect: Reconnect after unexpected closes: ``True`` (default backoff),
            a :class:`~rx_itty.backoff.Backoff`, or ``False``.
        max_queue: Frames that may wait while not open before sends raise ``SendQueueFull``.
        transport: The connection seam: a :class:`~rx_itty.transport.Transport`, or
            ``"picows"`` / ``"websockets"``; by default ``$RX_ITTY_TRANSPORT``, else
            picows when installed (``pip install 'rx_itty[fast]'``), else websockets.
        ssl: For ``wss://``: an ``ssl.SSLContext``, or the path of a PEM file of CA
            certificates to trust (a self-signed relay); for a transport given as
            an instance, pass it to the transport instead.
        scheduler: Scheduler for reconnect timers (virtual time in tests); implies a
            runtime in the calling thread unless ``runtime`` is given. A socket on a
            runtime with no asyncio loop (virtual time) draws its reconnect jitter from
            its own generator seeded with 0, so a test run repeats exactly.
        runtime: Where the socket lives; by default the running loop of this thread,
            else the shared background loop.

    Raises:
        InvalidOptionError: a bad or unknown option, with what to do instead, or a
            URL no server could accept (see :func:`rx_itty.wire.check_url`).
        MissingDependency: ``transport="picows"`` (or ``$RX_ITTY_TRANSPORT``) and
            picows is not installed.
    """
    given: dict[str, Any] = {
        "alias": alias,
        "echo": echo,
        "announce": announce,
        "list": list,
        "join_key": join_key,
        "send_key": send_key,
    }
    _merge_js_options(options, given)
    query: dict[str, QueryValue] = {
        "as": _check_text("alias", given["alias"]),
        "echo": _check_flag("echo", given["echo"]),
        "announce": _check_flag("announce", given["announce"]),
        "list": _check_flag("list", given["list"]),
        "joinKey": _check_text("join_key", given["join_key"]),
        "sendKey": _check_text("send_key", given["send_key"]),
    }
    for name, value in (params or {}).items():
        if name in query and query[name] not in (None, False):
            raise InvalidOptionError(f"params[{name!r}] repeats an option; pass it once")
        query[name] = value
    base = _server_base(server, channel)
    url = build_url(channel, query, base=base)
    check_url(url)  # a URL no server could accept fails here, not on every attempt
    if not is_raw_url(channel):
        _warn_doubled_channel(base, channel)

    if reconnect is True:
        backoff: Backoff | None = Backoff()
    elif reconnect is False:
        backoff = None
    elif isinstance(reconnect, Backoff):
        backoff = reconnect
    else:
        raise InvalidOptionError(f"reconnect must be True, False or a Backoff, got {reconnect!r}")
    if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
        raise InvalidOptionError(f"max_queue must be a positive int, got {max_queue!r}")

    if runtime is None:
        runtime = ImmediateRuntime(scheduler) if scheduler is not None else current_runtime()
    socket = IttySocket(
        url,
        transport=_transport(transport, ssl, runtime),
        runtime=runtime,
        reconnect=backoff,
        max_queue=max_queue,
        random_source=random.Random(0).random if runtime.loop is None else random.random,
    )
    if is_shared(runtime):
        if not _background_sockets:
            at_exit(_flush_background_sockets)
        _background_sockets.add(socket)
    return socket
