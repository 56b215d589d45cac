"""Which transport and which event loop rx_itty uses: the ``fast`` extra's when installed.

``pip install 'rx_itty[fast]'`` adds ``picows`` and ``uvloop``. Then:

- :func:`rx_itty.connect` opens sockets with :class:`~rx_itty.asyncio.picows.PicowsTransport`
  unless told otherwise: ``connect(..., transport="websockets")`` (or ``"picows"``, or
  a transport instance) picks one for a socket, and the environment variable
  ``RX_ITTY_TRANSPORT=websockets|picows`` sets the default;
- the loops rx_itty runs itself (the shared background thread, ``rx-itty serve``)
  are uvloop's; ``RX_ITTY_LOOP=asyncio|uvloop`` sets that. A loop that is already
  running (an asyncio program, Jupyter) is never replaced.

Without the extra, both are the standard ones (``websockets``, asyncio's loop);
asking for ``picows`` or ``uvloop`` by name then raises
:class:`~rx_itty.exceptions.MissingDependency`, saying what to install. Nothing
here imports picows or uvloop until a transport or a loop is made.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from typing import TYPE_CHECKING, Literal, get_args

from rx_itty.exceptions import InvalidOptionError, MissingDependency

if TYPE_CHECKING:
    from rx_itty.asyncio._tls import SSLOption
    from rx_itty.transport import Transport

__all__ = [
    "LOOP_ENV",
    "TRANSPORT_ENV",
    "LoopName",
    "TransportName",
    "make_transport",
    "new_event_loop",
]

TRANSPORT_ENV = "RX_ITTY_TRANSPORT"
"""Environment variable naming the default transport: ``picows`` or ``websockets``."""

LOOP_ENV = "RX_ITTY_LOOP"
"""Environment variable naming the loop rx_itty runs itself: ``uvloop`` or ``asyncio``."""

TransportName = Literal["picows", "websockets"]
LoopName = Literal["uvloop", "asyncio"]

_FAST = "pip install 'rx_itty[fast]'"


def _named(value: str, names: tuple[str, ...], what: str) -> str:
    name = value.strip().lower()
    if name not in names:
        raise InvalidOptionError(f"{what} is {value!r}; use one of: {', '.join(names)}")
    return name


def _from_env(variable: str, names: tuple[str, ...]) -> str | None:
    value = os.environ.get(variable, "")
    return _named(value, names, f"${variable}") if value.strip() else None


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def make_transport(name: str | None = None, *, ssl: SSLOption = None) -> Transport:
    """A new transport by name; ``None`` takes ``$RX_ITTY_TRANSPORT``, else the fastest installed.

    Args:
        name: ``"picows"`` or ``"websockets"``, or ``None``.
        ssl: The transport's TLS option (an ``ssl.SSLContext`` or a CA file).

    Raises:
        InvalidOptionError: an unknown name (in the argument or the variable).
        MissingDependency: ``picows`` was asked for and is not installed.
    """
    names = get_args(TransportName)
    if name is not None:
        chosen: str | None = _named(name, names, "transport")
        instead = "or use transport='websockets'"
    else:
        chosen = _from_env(TRANSPORT_ENV, names)
        instead = f"or unset ${TRANSPORT_ENV}"
    if chosen is None:
        chosen = "picows" if _installed("picows") else "websockets"
    if chosen == "websockets":
        from rx_itty.asyncio.transport import WebsocketsTransport

        return WebsocketsTransport(ssl=ssl)
    try:
        from rx_itty.asyncio.picows import PicowsTransport
    except MissingDependency as exc:
        raise MissingDependency(f"{exc}, {instead}") from exc.__cause__
    return PicowsTransport(ssl=ssl)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new loop for a thread rx_itty runs itself: ``$RX_ITTY_LOOP``, else uvloop if installed.

    Raises:
        InvalidOptionError: ``$RX_ITTY_LOOP`` names no known loop.
        MissingDependency: ``$RX_ITTY_LOOP`` asks for uvloop and it is not installed.
    """
    chosen = _from_env(LOOP_ENV, get_args(LoopName))
    if chosen != "asyncio":
        try:
            import uvloop
        except ImportError as exc:
            if chosen == "uvloop":
                raise MissingDependency(
                    f"${LOOP_ENV} asks for uvloop, which is not installed: {_FAST}, "
                    f"or unset ${LOOP_ENV}"
                ) from exc
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
