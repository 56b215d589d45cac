"""rx_itty.transport: the seam every transport implements, importable without websockets."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from reactivex.testing import TestScheduler

import rx_itty.transport
from rx_itty.asyncio import LoopRuntime, WebsocketsTransport
from rx_itty.runtime import ImmediateRuntime
from rx_itty.testing import MarbleSocket, MemoryRelay, marble_socket
from rx_itty.transport import Link, Transport, TransportListener
from tests.support import Recorder, WaitingRecorder, run_python


def parameters(function: Callable[..., Any]) -> list[tuple[Any, Any]]:
    """Kinds and defaults of a callable's parameters (``self`` excluded for bound methods).

    Positional names are left out, as mypy leaves them out of protocol matching.
    """
    return [(p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def protocol_parameters(protocol: type, name: str) -> list[tuple[Any, Any]]:
    return parameters(getattr(protocol, name))[1:]  # drop self


async def memory_link() -> tuple[Transport, Link]:
    transport = MemoryRelay()
    return transport, transport.open(
        "ws://memory/c/room", Recorder(), ImmediateRuntime(TestScheduler())
    )


async def marble_link() -> tuple[Transport, Link]:
    with marble_socket() as fake:
        transport: Transport = fake
        runtime = ImmediateRuntime(fake.scheduler)
        return transport, transport.open("ws://marbles.test/c/room", Recorder(), runtime)


async def websockets_link() -> tuple[Transport, Link]:
    transport = WebsocketsTransport()
    listener = WaitingRecorder()
    runtime = LoopRuntime(asyncio.get_running_loop())
    link = transport.open("ws://127.0.0.1:9/c/room", listener, runtime)
    link.close()  # abandon the attempt; the task ends with one close
    await listener.until(lambda: listener.closed)
    return transport, link


@pytest.mark.parametrize(
    "make", [memory_link, marble_link, websockets_link], ids=["memory", "marbles", "websockets"]
)
@pytest.mark.asyncio
async def test_each_transport_and_its_link_have_the_seam_signatures(
    make: Callable[[], Awaitable[tuple[Transport, Link]]],
) -> None:
    transport, link = await make()
    assert parameters(transport.open) == protocol_parameters(Transport, "open")
    for name in ("send", "close"):
        assert parameters(getattr(link, name)) == protocol_parameters(Link, name)
    # Callers close with keywords, so those names are part of the seam.
    assert list(inspect.signature(link.close).parameters) == ["code", "reason"]


def test_the_implementations_type_check_as_transports() -> None:
    # mypy --strict checks these assignments structurally; at run time they must exist.
    transports: list[Transport] = [WebsocketsTransport(), MemoryRelay()]
    with marble_socket() as fake:
        scripted: Transport = fake
        transports.append(scripted)
    assert [type(t).__name__ for t in transports] == [
        "WebsocketsTransport",
        "MemoryRelay",
        "MarbleSocket",
    ]
    assert isinstance(scripted, MarbleSocket)


def test_the_listener_protocol_names_the_four_callbacks() -> None:
    listener: TransportListener = Recorder()
    assert [name for name in vars(TransportListener) if name.startswith("on_")] == [
        "on_open",
        "on_frame",
        "on_drain",
        "on_close",
    ]
    for name in ("on_open", "on_frame", "on_drain", "on_close"):
        assert parameters(getattr(listener, name)) == protocol_parameters(TransportListener, name)


def test_the_memory_transport_never_calls_the_listener_from_inside_open() -> None:
    listener = Recorder()
    scheduler = TestScheduler()
    MemoryRelay().open("ws://memory/c/room?", listener, ImmediateRuntime(scheduler))
    assert listener.calls == []
    scheduler.start()
    assert [name for name, _ in listener.calls] == ["open", "frame"]


def test_the_old_name_websockets_transport_still_imports_from_the_seam() -> None:
    from rx_itty.transport import WebsocketsTransport as OldName

    assert OldName is WebsocketsTransport
    assert "WebsocketsTransport" in dir(rx_itty.transport)
    assert "WebsocketsTransport" not in rx_itty.transport.__all__


def test_an_unknown_name_on_the_seam_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchTransport"):
        rx_itty.transport.NoSuchTransport  # noqa: B018


def test_importing_the_seam_does_not_import_websockets() -> None:
    code = (
        "import sys\n"
        "import rx_itty.transport\n"
        "loaded = sorted(m for m in sys.modules if m == 'websockets' or m.startswith("
        "('websockets.', 'rx_itty.asyncio')))\n"
        "print(loaded)\n"
        "rx_itty.transport.WebsocketsTransport\n"
        "print('websockets' in sys.modules)\n"
    )
    result = run_python(code)
    # Nothing I/O until the old name is used; then it loads on demand.
    assert result.stdout.splitlines() == ["[]", "True"]
