"""The backplane seam: one process by default, Redis on request, redis-py only when asked for."""

from __future__ import annotations

import pytest

from rx_itty.exceptions import RelayConfigError
from rx_itty.relay import (
    Backplane,
    BackplaneConfig,
    LocalBackplane,
    Relay,
    RelayConfig,
    open_backplane,
)
from tests.support import ENGINE, run_python


def test_a_relay_is_one_process_unless_given_a_backplane() -> None:
    relay = Relay(engine=ENGINE)
    assert relay.node_id is None
    assert relay.core.clustered is False
    backplane: LocalBackplane[object] = LocalBackplane()
    assert (backplane.clustered, backplane.node_id, backplane.available) == (False, None, True)


def test_a_backplane_url_or_config_makes_the_relay_a_cluster_node() -> None:
    pytest.importorskip("redis")
    from_url = Relay(backplane="redis://127.0.0.1:6379/0", engine=ENGINE)
    from_config = Relay(
        RelayConfig(backplane=BackplaneConfig("unix:///tmp/r.sock?db=0")), engine=ENGINE
    )
    for relay in (from_url, from_config):
        assert relay.core.clustered
        assert relay.node_id is not None
        assert len(relay.node_id) == 12
    assert from_url.node_id != from_config.node_id


def test_open_backplane_connects_nothing_until_started() -> None:
    pytest.importorskip("redis")
    backplane: Backplane[object] = open_backplane(BackplaneConfig("redis://127.0.0.1:1/0"))
    assert backplane.clustered
    assert not backplane.available


def test_a_backplane_url_with_an_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(RelayConfigError, match="redis://HOST:PORT/DB"):
        Relay(backplane="http://127.0.0.1:6379", engine=ENGINE)


def test_the_relay_imports_and_runs_without_redis_and_says_which_extra_a_backplane_needs() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['redis'] = None  # as if the package were not installed\n"
        "from rx_itty.relay import Relay, start_relay_thread\n"
        "from rx_itty.exceptions import MissingDependency\n"
        "with start_relay_thread() as relay:\n"
        "    print('serving', relay.url.startswith('ws://'))\n"
        "try:\n"
        "    Relay(backplane='redis://127.0.0.1:6379/0')\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
    )
    assert done.stdout.splitlines() == [
        "serving True",
        "a Redis backplane needs the redis package: pip install 'rx_itty[redis]'",
    ]
