"""rx_itty.testing.pytest_plugin: the ``itty_relay`` fixture in a user's own test run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# A user's test module, run by a separate pytest. The checks that the relay was
# stopped run in that same process, where a relay left running would still listen.
USER_TESTS = """
from __future__ import annotations

import os
import socket

import pytest

from rx_itty import connect

SEEN = {}
WAIT = 5 * float(os.environ.get("RX_ITTY_TIMEOUT_FACTOR", "1"))


def refuses_connections(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_plain_test_connects_and_receives_its_own_join(itty_relay):
    ch = connect("room", server=itty_relay.url, alias="bot", reconnect=False)
    joins = ch.joins.iter(timeout=WAIT)
    SEEN["closes"] = ch.closes.iter(timeout=WAIT)
    SEEN["port"] = itty_relay.port
    ch.open()
    join = next(joins)
    assert join.is_self and join.alias == "bot"
    # the socket stays open: the fixture's relay must close it when the test ends


def test_the_relay_was_stopped_after_the_test_closing_its_clients_normally():
    assert next(SEEN["closes"]).code == 1000
    assert refuses_connections(SEEN["port"])


@pytest.mark.asyncio
async def test_an_async_test_gets_a_fresh_relay(itty_relay):
    assert itty_relay.port != SEEN["port"]
    async with connect("room", server=itty_relay.url) as ch:
        await ch.opened(WAIT)
        assert ch.uid is not None
    SEEN["port"] = itty_relay.port


def test_the_async_tests_relay_was_stopped_too():
    assert refuses_connections(SEEN["port"])
"""


def test_a_users_tests_get_a_running_relay_that_is_stopped_afterwards(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_bot=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=4)


def test_the_fixture_is_installed_with_the_package_and_documented(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["itty_relay*", "*A running relay*"])


# A user's module overriding the relay's configuration: a namespace with a join
# key, and a tiny frame limit, for every relay of the module.
OVERRIDDEN = """
from __future__ import annotations

import os

import pytest

from rx_itty import HandshakeRejected, connect
from rx_itty.relay import Limits, NamespaceKeys, RelayConfig

WAIT = 5 * float(os.environ.get("RX_ITTY_TIMEOUT_FACTOR", "1"))


@pytest.fixture
def itty_relay_config():
    return RelayConfig(
        limits=Limits(max_frame_bytes=50),
        namespaces={"team": NamespaceKeys(join_key="J")},
    )


def test_the_relay_has_the_modules_config(itty_relay):
    with connect("team:room", server=itty_relay.url, reconnect=False) as ch:
        with pytest.raises(HandshakeRejected) as refused:
            ch.wait_open(WAIT)
    assert refused.value.status == 403


def test_so_has_every_relay_the_factory_makes_without_a_config(make_itty_relay):
    relay = make_itty_relay()
    with connect("room", server=relay.url, echo=True) as ch:
        errors = ch.errors.iter(timeout=WAIT)
        ch.send("x" * 100)
        assert next(errors).message.startswith("Message exceeds 50 bytes")
"""

# Several relays in one test: the factory, with and without configs and options.
SEVERAL = """
from __future__ import annotations

import os
import socket

from rx_itty import connect
from rx_itty.relay import NamespaceKeys, RelayConfig

WAIT = 5 * float(os.environ.get("RX_ITTY_TIMEOUT_FACTOR", "1"))
PORTS = []


def test_two_relays_with_different_configs_are_two_separate_worlds(make_itty_relay, itty_relay):
    keyed = make_itty_relay(RelayConfig(namespaces={"app": NamespaceKeys(send_key="S")}),
                            http_port=0)
    plain = make_itty_relay()
    assert len({itty_relay.port, keyed.port, plain.port}) == 3
    assert keyed.relay.http_url is not None and plain.relay.http_url is None
    PORTS.extend([itty_relay.port, keyed.port, plain.port])
    with connect("room", server=keyed.url) as a, connect("room", server=plain.url) as b:
        assert a.wait_open(WAIT).current_presence.total == 1
        assert b.wait_open(WAIT).current_presence.total == 1  # not the same room


def test_every_relay_the_test_made_was_stopped():
    for port in PORTS:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
        except ConnectionRefusedError:
            continue
        raise AssertionError(f"a relay still listens on {port}")
"""


def test_a_module_overrides_the_relay_config_with_a_fixture_of_that_name(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_overridden=OVERRIDDEN, test_default=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=6)  # and the other module still has the default config


def test_make_itty_relay_starts_as_many_relays_as_a_test_needs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_several=SEVERAL)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_config_and_factory_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["itty_relay_config*", "*The configuration of ``itty_relay``*", "make_itty_relay*"]
    )
