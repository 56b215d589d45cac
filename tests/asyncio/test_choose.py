"""rx_itty.asyncio.choose: the fast extra's transport and loop when installed, by name,
by environment variable, and a clear error when asked for what is not installed."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from reactivex.testing import TestScheduler

from rx_itty import InvalidOptionError, MissingDependency, connect
from rx_itty.asyncio import (
    LOOP_ENV,
    TRANSPORT_ENV,
    WebsocketsTransport,
    make_transport,
    new_event_loop,
)
from rx_itty.relay import Relay, start_relay_thread
from rx_itty.testing import MemoryRelay
from rx_itty.transport import Transport
from tests.conftest import Tls
from tests.support import run_python, scaled


@pytest.fixture
def picows_transport() -> type[Transport]:
    """The picows transport's class; the test is skipped without the fast extra."""
    pytest.importorskip("picows", reason="the fast extra (picows) is not installed")
    from rx_itty.asyncio.picows import PicowsTransport

    return PicowsTransport


@pytest.fixture
def uvloop() -> ModuleType:
    """uvloop; the test is skipped without the fast extra."""
    module: ModuleType = pytest.importorskip("uvloop", reason="the fast extra is not installed")
    return module


@pytest.fixture
def no_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRANSPORT_ENV, raising=False)
    monkeypatch.delenv(LOOP_ENV, raising=False)


@pytest.fixture
def without_fast_extra(monkeypatch: pytest.MonkeyPatch, no_choice: None) -> None:
    """picows and uvloop cannot be imported, as on an install without the extra."""
    for name in ("picows", "uvloop"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "rx_itty.asyncio.picows", raising=False)


# -- transports ---------------------------------------------------------------------------


def test_picows_is_the_default_when_installed(
    no_choice: None, picows_transport: type[Transport]
) -> None:
    assert isinstance(make_transport(), picows_transport)


def test_a_name_picks_the_transport(no_choice: None, picows_transport: type[Transport]) -> None:
    assert isinstance(make_transport("websockets"), WebsocketsTransport)
    assert isinstance(make_transport("picows"), picows_transport)
    assert isinstance(make_transport(" WebSockets "), WebsocketsTransport)


def test_the_environment_variable_sets_the_default_and_a_name_overrides_it(
    monkeypatch: pytest.MonkeyPatch, picows_transport: type[Transport]
) -> None:
    monkeypatch.setenv(TRANSPORT_ENV, "websockets")
    assert isinstance(make_transport(), WebsocketsTransport)
    assert isinstance(make_transport("picows"), picows_transport)


def test_an_unknown_name_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidOptionError, match="transport is 'aiohttp'; use one of: picows"):
        make_transport("aiohttp")
    monkeypatch.setenv(TRANSPORT_ENV, "fast")
    with pytest.raises(InvalidOptionError, match=r"\$RX_ITTY_TRANSPORT is 'fast'; use one of"):
        make_transport()


def test_without_the_extra_the_default_is_websockets(without_fast_extra: None) -> None:
    assert isinstance(make_transport(), WebsocketsTransport)


def test_asking_for_picows_without_the_extra_names_the_extra(
    without_fast_extra: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        MissingDependency, match=r"pip install 'rx_itty\[fast\]', or use transport="
    ):
        make_transport("picows")
    monkeypatch.setenv(TRANSPORT_ENV, "picows")
    with pytest.raises(MissingDependency, match=r"\[fast\]', or unset \$RX_ITTY_TRANSPORT"):
        connect("ws://127.0.0.1:9/c/room")


@pytest.mark.parametrize("name", ["websockets", "picows"])
def test_the_transport_made_by_name_takes_the_tls_option(tls: Tls, name: str) -> None:
    if name == "picows":
        pytest.importorskip("picows", reason="the fast extra (picows) is not installed")
    assert make_transport(name, ssl=tls.client).ssl is tls.client  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_connect_by_transport_name_reaches_the_relay(
    relay: Relay, no_choice: None, picows_transport: type[Transport]
) -> None:
    for name in ("picows", "websockets"):
        async with connect("room", server=relay.url, transport=name) as ch:
            assert ch.uid is not None
            assert ch._transport.__class__.__name__.lower().startswith(name)


def test_connect_refuses_ssl_beside_a_transport_it_did_not_make(tls: Tls) -> None:
    with pytest.raises(InvalidOptionError, match="pass it to the transport you made instead"):
        connect("wss://h/c/room", transport=WebsocketsTransport(), ssl=tls.client)


def test_a_transport_name_needs_a_real_loop_not_virtual_time() -> None:
    with pytest.raises(InvalidOptionError, match="needs an in-memory transport"):
        connect("ws://h/c/room", transport="picows", scheduler=TestScheduler())
    assert connect("ws://h/c/room", transport=MemoryRelay(), scheduler=TestScheduler())


def test_importing_the_asyncio_layer_loads_neither_picows_nor_uvloop() -> None:
    code = (
        "import sys, rx_itty.asyncio\n"
        "print(','.join(m for m in ('picows', 'uvloop') if m in sys.modules))"
    )
    assert run_python(code).stdout.strip() == ""


# -- loops ----------------------------------------------------------------------------------


def test_rx_itty_runs_its_own_loops_on_uvloop_when_installed(
    no_choice: None, uvloop: ModuleType
) -> None:
    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_environment_variable_picks_the_loop(
    monkeypatch: pytest.MonkeyPatch, uvloop: ModuleType
) -> None:
    monkeypatch.setenv(LOOP_ENV, "asyncio")
    loop = new_event_loop()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()
    monkeypatch.setenv(LOOP_ENV, "trio")
    with pytest.raises(InvalidOptionError, match=r"\$RX_ITTY_LOOP is 'trio'; use one of"):
        new_event_loop()


def test_without_the_extra_the_loop_is_asyncios_unless_uvloop_is_asked_for(
    without_fast_extra: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = new_event_loop()
    loop.close()
    assert type(loop).__module__.startswith("asyncio")
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    with pytest.raises(MissingDependency, match=r"pip install 'rx_itty\[fast\]', or unset"):
        new_event_loop()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_script_on_the_shared_loop_sends_and_receives_on_either_loop(
    relay_thread_url: str, loop: str, uvloop: ModuleType
) -> None:
    code = (
        "import os, sys\n"
        f"os.environ['{LOOP_ENV}'] = '{loop}'\n"
        "from rx_itty import connect\n"
        "from rx_itty.asyncio import shared_runtime\n"
        f"ch = connect('room', server={relay_thread_url!r}, echo=True)\n"
        f"heard = ch.messages.iter(timeout={scaled(5)})\n"
        "ch.send('ping')\n"
        "print(type(shared_runtime().loop).__module__, next(heard).message)\n"
        "ch.dispose()\n"
    )
    module, message = run_python(code).stdout.split()
    assert message == "ping"
    assert module.startswith("uvloop") is (loop == "uvloop")


@pytest.fixture
def relay_thread_url() -> Iterator[str]:
    with start_relay_thread() as relay:
        yield relay.url
