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
