"""The relay server: :class:`RelayCore` over real sockets, on the engine of your choice.

``Relay`` is an async context manager that listens and serves until closed::

    async with Relay() as relay:            # 127.0.0.1, a free port
        print(relay.url)                     # ws://127.0.0.1:PORT/c/
        ...

Its engine runs the sockets (``websockets`` by default; ``Relay(engine="picows")``
with ``rx_itty[fast]``) and hands every handshake, message and departure to a
:class:`~rx_itty.relay.switchboard.Switchboard`, which drives the core and writes
what it produces: the same relay, whichever engine.

With a backplane (``Relay(backplane="redis://HOST:6379/0")``) several relays share
their channels: joins and leaves go through the backplane, and frames that members
on other nodes must see are handed to it as the core produces them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
from types import TracebackType
from typing import Any, Final, Self, TypedDict, final

from rx_itty.exceptions import MissingDependency, RelayNotStarted
from rx_itty.relay.backplane import Backplane, BackplaneHost, LocalBackplane, open_backplane
from rx_itty.relay.config import RelayConfig, backplane_at
from rx_itty.relay.core import RelayCore
from rx_itty.relay.engine import Engine, Link
from rx_itty.relay.http_push import HttpPushListener
from rx_itty.relay.switchboard import Switchboard
from rx_itty.wire import CloseCode

__all__ = ["ALL_INTERFACES", "Relay", "RelayOptions"]

logger = logging.getLogger("rx_itty.relay")


ALL_INTERFACES: Final = ("", "0.0.0.0", "::")  # noqa: S104 - naming, not binding
"""Hosts that mean every interface of the machine, not one address clients can use."""


def _format_host(host: str) -> str:
    if host in ALL_INTERFACES:  # a client on this machine reaches it on loopback
        return "[::1]" if host == "::" else "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _open_engine(name: str, board: Switchboard) -> Engine:
    """The engine called ``name`` (one of :data:`~rx_itty.relay.config.ENGINES`), serving ``board``.

    Raises:
        MissingDependency: ``picows`` without the ``picows`` package (``rx_itty[fast]``).
    """
    if name == "picows":
        try:
            importlib.import_module("picows")
        except ImportError:
            raise MissingDependency(
                "the picows relay engine needs the picows package: pip install 'rx_itty[fast]'"
            ) from None
        from rx_itty.relay.picows_engine import PicowsEngine

        return PicowsEngine(board)
    from rx_itty.relay.websockets_engine import WebsocketsEngine

    return WebsocketsEngine(board)


class RelayOptions(TypedDict, total=False):
    """Where a :class:`Relay` listens, its backplane and engine: the keywords after ``config``."""

    host: str
    port: int
    http_port: int | None
    backplane: str | Backplane[Any] | None
    engine: str | None


@final
class Relay:
    """A wire-compatible itty-sockets relay.

    Args:
        config: Limits, reserved namespaces, compression, trusted proxies, backplane and
            engine; the hosted service's limits by default.
        host: Interface to listen on; loopback by default.
        port: TCP port; 0 picks a free one (read it back from :attr:`port` / :attr:`url`).
        http_port: Also accept HTTP pushes (``POST /c/<channel>``) on this port (0: a free one);
            ``None`` (the default) leaves HTTP push off.
        backplane: Share channels with the other relays on the same Redis:
            ``"redis://HOST:PORT/DB"`` (or ``rediss://``, ``unix:///path?db=N``), or a
            backplane object; overrides ``config.backplane``. ``None``: this process only.
        engine: What runs the sockets: ``"websockets"`` or ``"picows"`` (``rx_itty[fast]``,
            faster, no compression); overrides ``config.engine``. ``None``: the config's
            (``"websockets"`` by default).

    Raises:
        MissingDependency: a Redis backplane without the ``redis`` package (``rx_itty[redis]``),
            or the picows engine without ``picows`` (``rx_itty[fast]``).
        RelayConfigError: a backplane URL with an unknown scheme, an unknown engine, or
            compression with the picows engine.
    """

    def __init__(
        self,
        config: RelayConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int | None = None,
        backplane: str | Backplane[Any] | None = None,
        engine: str | None = None,
    ) -> None:
        config = config or RelayConfig()
        if engine is not None and engine != config.engine:
            config = dataclasses.replace(config, engine=engine)  # checked there
        self.config = config
        if isinstance(backplane, str):
            backplane = open_backplane(backplane_at(backplane, config.backplane))
        elif backplane is None and config.backplane is not None:
            backplane = open_backplane(config.backplane)
        self._backplane: Backplane[Link] = backplane or LocalBackplane()
        self.core: RelayCore[Link] = RelayCore(config, clustered=self._backplane.clustered)
        self.switchboard = Switchboard(config, self.core, self._backplane)
        """What the relay does with its connections, whichever the engine (its keepalive,
        slow readers, admission)."""
        self._engine: Engine = _open_engine(config.engine, self.switchboard)
        self.host = host
        self._requested_port = port
        self._requested_http_port = http_port
        self._http: HttpPushListener | None = None
        self._http_port: int | None = None
        self._listening = False

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> str:
        """Start listening; returns :attr:`url`. Idempotent.

        Raises:
            BackplaneUnavailable: the backplane (Redis) cannot be reached.
            RelayConfigError: the cluster's other nodes have other reserved namespaces.
            OSError: the address cannot be bound.
        """
        if not self._listening:
            board = self.switchboard
            await self._backplane.start(
                BackplaneHost(self.core, board.deliver, board.disconnect_all, board.gather)
            )
            try:
                await self._engine.listen(self.host, self._requested_port)
            except BaseException:
                await self._backplane.aclose()
                raise
            self._listening = True
            board.start(self._engine)
            if self._requested_http_port is not None:
                self._http = HttpPushListener(
                    board.push, self.core.check_push, self.config.limits, board.proxies
                )
                self._http_port = await self._http.start(self.host, self._requested_http_port)
                logger.info("relay accepting HTTP pushes on %s", self.http_url)
            logger.info("relay listening on %s (%s engine)", self.url, self.config.engine)
        return self.url

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if not self._listening:
            raise RelayNotStarted(
                "the relay is not started: use 'async with Relay()' or await start()"
            )
        return self._engine.port

    @property
    def url(self) -> str:
        """Base URL for channels, e.g. ``ws://127.0.0.1:8080/c/``; append a channel name."""
        return f"ws://{_format_host(self.host)}:{self.port}/c/"

    @property
    def node_id(self) -> str | None:
        """This relay's id in its cluster; ``None`` without a backplane."""
        return self._backplane.node_id

    @property
    def http_url(self) -> str | None:
        """Base URL for HTTP pushes (``http://127.0.0.1:8081/c/``), or ``None`` if off."""
        if self._http_port is None:
            return None
        return f"http://{_format_host(self.host)}:{self._http_port}/c/"

    async def aclose(self) -> None:
        """Close every client with a normal close (1000), then stop listening."""
        if not self._listening:
            return
        self._listening = False
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self._engine.aclose(CloseCode.NORMAL, "relay shutting down")
        await self.switchboard.aclose()
        await self._backplane.aclose()  # after every member's leave was handed over
        logger.info("relay stopped")

    async def serve_forever(self) -> None:
        """Start if needed and serve until cancelled; then close clients normally."""
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await asyncio.shield(self.aclose())

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
