"""rx_itty.client.connect: options in wire form, the default server, clear option errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from reactivex.testing import TestScheduler

from rx_itty import (
    Backoff,
    ConnectionState,
    InvalidOptionError,
    IttySocket,
    SendQueueFull,
    connect,
)
from rx_itty.runtime import ImmediateRuntime
from rx_itty.testing import MemoryRelay


def test_channel_names_go_to_the_hosted_relay_with_options_in_wire_form() -> None:
    ch = connect("my-channel", params={"a": "b", "c": "d"}, server="wss://itty.ws/c/")
    assert ch.url == "wss://itty.ws/c/my-channel?a=b&c=d"


def test_raw_urls_are_used_verbatim_with_a_trailing_question_mark() -> None:
    assert connect("ws://custom.server/path").url == "ws://custom.server/path?"
    ch = connect("ws://custom.server/path", echo=True, alias="test-user")
    assert ch.url == "ws://custom.server/path?as=test-user&echo=true"


def test_js_option_spellings_are_accepted() -> None:
    js_options: dict[str, Any] = {"as": "Kev", "joinKey": "j", "sendKey": "s"}
    ch = connect("ws://h/c/r", **js_options)
    assert ch.url == "ws://h/c/r?as=Kev&joinKey=j&sendKey=s"


def test_the_default_server_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RX_ITTY_SERVER", "ws://127.0.0.1:9/c/")
    assert connect("room").url == "ws://127.0.0.1:9/c/room?"
    monkeypatch.delenv("RX_ITTY_SERVER")
    assert connect("room").url == "wss://itty.ws/c/room?"


def test_a_server_base_from_the_environment_is_completed_with_its_final_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RX_ITTY_SERVER", "ws://127.0.0.1:9/c")
    assert connect("room").url == "ws://127.0.0.1:9/c/room?"


def test_a_bad_server_base_in_the_environment_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RX_ITTY_SERVER", "127.0.0.1:9/c/")
    with pytest.raises(InvalidOptionError) as caught:
        connect("room")
    assert str(caught.value) == (
        "$RX_ITTY_SERVER is '127.0.0.1:9/c/', but a server base must start with ws:// or "
        "wss://, e.g. ws://127.0.0.1:8080/c/; fix or unset $RX_ITTY_SERVER"
    )
    # A full URL needs no base, so the variable does not matter for it.
    assert connect("ws://h/c/room").url == "ws://h/c/room?"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aliass": "x"}, "unknown option 'aliass'; did you mean 'alias'?"),
        ({"echo": "yes"}, "echo must be True or False"),
        ({"alias": ""}, "alias must be a non-empty str"),
        ({"alias": "a", "as": "b"}, "both 'as' and 'alias' were given"),
        ({"reconnect": 3}, "reconnect must be True, False or a Backoff"),
        ({"max_queue": 0}, "max_queue must be a positive int"),
        ({"params": {"echo": True}, "echo": True}, "repeats an option"),
    ],
)
def test_bad_options_fail_at_once_with_a_clear_message(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidOptionError, match=message.replace("?", r"\?")):
        connect("room", **kwargs)


@pytest.mark.parametrize(
    ("channel", "kwargs", "problem"),
    [
        ("ws://127.0.0.1:99999/c/room", {}, "a whole number from 1 to 65535"),
        ("ws://127.0.0.1:0/c/room", {}, "port 0, which no server listens on"),
        ("room", {"server": "ws://127.0.0.1:0/c/"}, "port 0, which no server listens on"),
        ("ws://h/c/room#top", {}, "has a #fragment"),
        ("ws:///c/room", {}, "has no host"),
        ("\ud800", {}, "channel name '\\ud800' holds '\\ud800', which is not a Unicode"),
        ("ws://h/c/\udcff", {}, "holds '\\udcff', which is not a Unicode character"),
        ("room", {"alias": "\udcff"}, "query parameter 'as' holds '\\udcff'"),
        ("room", {"join_key": "k\ud800"}, "query parameter 'joinKey' holds"),
        ("room", {"params": {"x\ud800": "1"}}, "a query parameter name holds"),
    ],
)
def test_a_url_no_server_could_accept_is_refused_by_connect_with_no_key_shown(
    channel: str, kwargs: dict[str, Any], problem: str
) -> None:
    # Raised at once, in one line, rather than on every connection attempt later.
    with pytest.raises(InvalidOptionError, match=re.escape(problem)) as caught:
        connect(channel, send_key="s3cret", server=kwargs.pop("server", "ws://h/c/"), **kwargs)
    assert "s3cret" not in str(caught.value)


def test_a_server_base_that_already_ends_with_the_channel_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ch = connect("my-room", server="ws://127.0.0.1:8080/c/my-room")
    assert ch.url == "ws://127.0.0.1:8080/c/my-room/my-room?"
    assert "already ends with the channel name 'my-room'" in caplog.text
    caplog.clear()
    connect("my-room", server="ws://127.0.0.1:8080/c/")
    connect("room", server="ws://room:8080/c/")
    assert not caplog.records


# -- reconnect= ---------------------------------------------------------------------


def dropped_and_waited(reconnect: Any, wait: float) -> tuple[MemoryRelay, IttySocket]:
    """A virtual-time socket that opened, lost its connection, then waited ``wait`` seconds."""
    scheduler = TestScheduler()
    relay = MemoryRelay()
    ch = connect("room", transport=relay, scheduler=scheduler, reconnect=reconnect)
    ch.open()
    scheduler.advance_to(1.0)
    assert relay.connections == 1
    relay.disconnect_all()
    scheduler.advance_to(1.0 + wait)
    return relay, ch


def test_reconnect_true_reconnects_after_an_unexpected_close() -> None:
    relay, ch = dropped_and_waited(True, wait=60.0)
    assert relay.connections == 1
    assert ch.current_state is ConnectionState.READY


def test_reconnect_false_stays_closed_after_an_unexpected_close() -> None:
    relay, ch = dropped_and_waited(False, wait=60.0)
    assert relay.connections == 0
    assert ch.current_state is ConnectionState.CLOSED


def test_reconnect_with_a_backoff_waits_its_delay() -> None:
    backoff = Backoff(initial=5.0, maximum=5.0, jitter=False)
    relay, ch = dropped_and_waited(backoff, wait=4.9)
    assert relay.connections == 0
    assert ch.current_state is ConnectionState.RECONNECTING
    relay, ch = dropped_and_waited(backoff, wait=5.1)
    assert relay.connections == 1


def test_virtual_time_sockets_draw_the_same_reconnect_delays_every_run() -> None:
    def delays() -> list[float]:
        scheduler = TestScheduler()
        relay = MemoryRelay()
        ch = connect("room", transport=relay, scheduler=scheduler, reconnect=Backoff(initial=1.0))
        reopened: list[float] = []
        ch.opens.subscribe(lambda _: reopened.append(scheduler.clock))
        for _ in range(5):
            scheduler.advance_by(0.5)
            relay.disconnect_all()
            scheduler.advance_by(60.0)
        return reopened

    first = delays()
    assert len(first) == 6
    assert delays() == first  # full jitter, yet the same in every run


@pytest.mark.parametrize("value", [1, 0, None, "yes", 2.5])
def test_reconnect_refuses_anything_but_a_bool_or_a_backoff(value: Any) -> None:
    with pytest.raises(
        InvalidOptionError, match=f"reconnect must be True, False or a Backoff, got {value!r}"
    ):
        connect("room", reconnect=value)


# -- max_queue= ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10", None])
def test_max_queue_must_be_a_positive_int(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match=r"max_queue must be a positive int, got "):
        connect("room", max_queue=value)


def test_max_queue_bounds_the_sends_waiting_for_the_connection() -> None:
    ch = connect("room", transport=MemoryRelay(), scheduler=TestScheduler(), max_queue=1)
    ch.send("first")  # queued: virtual time has not moved, so nothing is open
    with pytest.raises(SendQueueFull):
        ch.send("second")


# -- params= ------------------------------------------------------------------------


def test_params_come_after_the_options_and_drop_none_and_false() -> None:
    ch = connect(
        "room",
        server="ws://h/c/",
        alias="kev",
        params={"x": 1, "flag": True, "off": False, "unset": None},
    )
    assert ch.url == "ws://h/c/room?as=kev&x=1&flag=true"


def test_params_may_set_an_option_that_was_not_given() -> None:
    assert connect("room", server="ws://h/c/", params={"echo": True}).url == (
        "ws://h/c/room?echo=true"
    )


def test_params_values_are_url_encoded() -> None:
    assert connect("room", server="ws://h/c/", params={"q": "a b&c"}).url == (
        "ws://h/c/room?q=a+b%26c"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alias": "kev", "params": {"as": "ann"}},
        {"echo": True, "params": {"echo": False}},
        {"joinKey": "j", "params": {"joinKey": "k"}},
    ],
    ids=["alias", "flag", "js-spelling"],
)
def test_params_repeating_a_given_option_is_refused(kwargs: dict[str, Any]) -> None:
    (name,) = kwargs["params"]
    with pytest.raises(
        InvalidOptionError, match=rf"params\['{name}'\] repeats an option; pass it once"
    ):
        connect("room", **kwargs)


# -- unknown options ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hint"),
    [("joinkey", "join_key"), ("send_keys", "send_key"), ("ech", "echo"), ("alais", "alias")],
)
def test_an_unknown_option_suggests_the_closest_known_one(name: str, hint: str) -> None:
    options: dict[str, Any] = {name: "x"}
    with pytest.raises(
        InvalidOptionError, match=rf"unknown option '{name}'; did you mean '{hint}'\?"
    ):
        connect("room", **options)


def test_an_unknown_option_with_nothing_close_points_at_params() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        connect("room", zzz=1)
    assert str(caught.value) == ("unknown option 'zzz' (free query parameters go in params={...})")


# -- scheduler= and runtime= --------------------------------------------------------


def test_a_scheduler_without_a_transport_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match=r"transport=rx_itty\.testing\.MemoryRelay\(\)"):
        connect("room", scheduler=TestScheduler())


def test_a_loopless_runtime_without_a_transport_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="needs an in-memory transport"):
        connect("room", runtime=ImmediateRuntime(TestScheduler()))


def test_a_scheduler_with_an_in_memory_transport_runs_in_virtual_time() -> None:
    scheduler = TestScheduler()
    ch = connect("room", transport=MemoryRelay(), scheduler=scheduler)
    ch.open()
    states = [ch.current_state]
    scheduler.advance_to(1.0)
    states.append(ch.current_state)
    assert states == [ConnectionState.CONNECTING, ConnectionState.READY]
    assert ch.scheduler is scheduler
