"""rx_itty.relay.config: limits, reserved namespaces, matching, and the JSON config file."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from rx_itty.exceptions import RelayConfigError
from rx_itty.relay.config import (
    BackplaneConfig,
    Limits,
    NamespaceKeys,
    RelayConfig,
    config_from_dict,
    load_config,
    match_namespace,
)
from rx_itty.relay.server import Relay

OPEN = NamespaceKeys()
REGISTERED = {"myapp": OPEN, "myapp/private": OPEN}

NUMERIC_LIMITS = [f.name for f in dataclasses.fields(Limits) if f.name != "exempt_loopback"]

NUMBER = r"a (whole )?number( of seconds)? >= 0"  # the start of every numeric limit error


# -- Limits --------------------------------------------------------------------


def test_default_limits_follow_the_hosted_service() -> None:
    limits = Limits()
    assert (limits.max_frame_bytes, limits.messages_per_window, limits.window_seconds) == (
        102_400,
        40,
        0.005,
    )
    assert (limits.warnings, limits.connections_per_second) == (3, 10)
    assert limits.exempt_loopback is True


@pytest.mark.parametrize("name", NUMERIC_LIMITS)
def test_a_bool_is_refused_where_a_number_is_expected(name: str) -> None:
    with pytest.raises(
        RelayConfigError, match=rf"limits\.{name} must be a (whole )?number( of seconds)? >= 0"
    ):
        Limits(**{name: True})


@pytest.mark.parametrize("name", NUMERIC_LIMITS)
def test_negative_and_non_numeric_limits_are_refused(name: str) -> None:
    for bad in (-1, "10", [10]):
        options: dict[str, Any] = {name: bad}
        with pytest.raises(
            RelayConfigError, match=rf"limits\.{name} .* got {re.escape(repr(bad))}"
        ):
            Limits(**options)


@pytest.mark.parametrize(
    "name",
    [
        "max_frame_bytes",
        "messages_per_window",
        "connections_per_second",
        "max_alias_length",
        "max_channel_length",
        "max_buffered_bytes",
    ],
)
def test_optional_limits_can_be_turned_off_with_none(name: str) -> None:
    options: dict[str, Any] = {name: None}
    assert getattr(Limits(**options), name) is None


def test_zero_is_a_valid_limit() -> None:
    assert Limits(max_frame_bytes=0, warnings=0, ban_seconds=0).warnings == 0


@pytest.mark.parametrize("bad", [1, 0, "true", None])
def test_exempt_loopback_must_be_a_bool(bad: Any) -> None:
    with pytest.raises(RelayConfigError, match=r"limits\.exempt_loopback must be true or false"):
        Limits(exempt_loopback=bad)


def test_the_rate_window_must_be_longer_than_zero() -> None:
    with pytest.raises(RelayConfigError, match="window_seconds must be greater than 0"):
        Limits(window_seconds=0)


def test_a_null_rate_window_is_a_config_error() -> None:
    with pytest.raises(RelayConfigError, match="window_seconds"):
        config_from_dict({"limits": {"window_seconds": None}})


def test_a_null_warning_count_is_a_config_error() -> None:
    with pytest.raises(RelayConfigError, match="warnings"):
        config_from_dict({"limits": {"warnings": None}})


# -- NamespaceKeys --------------------------------------------------------------------


def test_namespace_keys_never_show_in_repr() -> None:
    keys = NamespaceKeys("join-secret", "send-secret")
    assert repr(keys) == "NamespaceKeys(join_key=set, send_key=set)"
    config = RelayConfig(namespaces={"myapp": keys})
    assert "secret" not in repr(config)
    assert "secret" not in str(config)


def test_namespace_keys_repr_says_which_gates_are_open() -> None:
    assert repr(NamespaceKeys()) == "NamespaceKeys(join_key=None, send_key=None)"
    assert repr(NamespaceKeys(send_key="s")) == "NamespaceKeys(join_key=None, send_key=set)"


def test_namespace_keys_still_compare_by_value() -> None:
    assert NamespaceKeys("a", "b") == NamespaceKeys("a", "b")
    assert NamespaceKeys("a", "b") != NamespaceKeys("a", "c")


# -- RelayConfig -------------------------------------------------------------------------


def test_a_default_config_has_default_limits_no_namespaces_and_no_compression() -> None:
    config = RelayConfig()
    assert (config.limits, dict(config.namespaces), config.compression) == (Limits(), {}, False)


@pytest.mark.parametrize("name", ["", "myapp:", "myapp/", "/", ":"])
def test_namespace_names_must_be_non_empty_and_not_end_with_a_boundary(name: str) -> None:
    with pytest.raises(RelayConfigError, match="must be non-empty and not end with"):
        RelayConfig(namespaces={name: OPEN})


def test_namespace_names_may_contain_boundaries_inside() -> None:
    assert "a:b/c" in RelayConfig(namespaces={"a:b/c": OPEN}).namespaces


# -- match_namespace -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("myapp", "myapp"),  # exact
        ("myapp/chat", "myapp"),  # boundary
        ("myapp:chat", "myapp"),  # boundary
        ("myapp/private", "myapp/private"),  # exact, longer
        ("myapp/private/room1", "myapp/private"),  # boundary after the longer match
        ("myapp/privateer", "myapp"),  # no boundary after "private"
        ("myapps:chat", None),  # no boundary after "myapp"
        ("random-room", None),
    ],
)
def test_match_namespace_follows_the_namespace_table(channel: str, expected: str | None) -> None:
    assert match_namespace(channel, REGISTERED) == expected


def test_the_longest_match_wins_across_both_boundaries() -> None:
    registered = {"a": OPEN, "a:b": OPEN, "a:b/c": OPEN}
    assert match_namespace("a:b/c:d", registered) == "a:b/c"
    assert match_namespace("a:b/x", registered) == "a:b"
    assert match_namespace("a/b", registered) == "a"


def test_a_namespace_prefix_without_a_boundary_does_not_match() -> None:
    assert match_namespace("myappchat", REGISTERED) is None
    assert match_namespace("my", REGISTERED) is None
    assert match_namespace("myapp-chat", REGISTERED) is None


def test_a_trailing_boundary_still_belongs_to_the_namespace() -> None:
    assert match_namespace("myapp:", REGISTERED) == "myapp"


def test_no_namespaces_match_nothing() -> None:
    assert match_namespace("myapp", {}) is None


# -- config_from_dict -------------------------------------------------------------------------


def test_the_documented_example_configuration_loads() -> None:
    config = config_from_dict(
        {
            "namespaces": {"myapp": {"joinKey": "j", "sendKey": "s"}, "public": {}},
            "limits": {
                "max_frame_bytes": 102400,
                "messages_per_window": 40,
                "window_seconds": 0.005,
                "exempt_loopback": False,
            },
        }
    )
    assert config.namespaces == {"myapp": NamespaceKeys("j", "s"), "public": NamespaceKeys()}
    assert config.limits == Limits(exempt_loopback=False)
    assert config.compression is False


def test_an_empty_configuration_is_the_default() -> None:
    assert config_from_dict({}) == RelayConfig()


def test_snake_case_key_names_are_accepted_too() -> None:
    config = config_from_dict({"namespaces": {"ns": {"join_key": "j", "send_key": "s"}}})
    assert config.namespaces["ns"] == NamespaceKeys("j", "s")


def test_compression_can_be_turned_on() -> None:
    assert config_from_dict({"compression": True}).compression is True


def test_the_engine_is_websockets_unless_the_config_names_picows() -> None:
    assert RelayConfig().engine == "websockets"
    assert config_from_dict({"engine": "picows"}).engine == "picows"


def test_the_picows_engine_refuses_compression_with_a_clear_error() -> None:
    with pytest.raises(RelayConfigError, match="picows engine cannot compress"):
        RelayConfig(compression=True, engine="picows")
    with pytest.raises(RelayConfigError, match="picows engine cannot compress"):
        Relay(RelayConfig(compression=True), engine="picows")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"limit": {}}, r"unknown config sections \['limit'\]"),
        ({"limits": {"max_frame": 1}}, '"limits" may only contain'),
        ({"limits": [1]}, '"limits" may only contain'),
        (
            {"limits": {"warnings": "3"}},
            r"limits\.warnings must be a (whole )?number( of seconds)? >= 0",
        ),
        ({"compression": "yes"}, '"compression" must be true or false'),
        ({"engine": "uvicorn"}, "engine must be one of websockets, picows, got 'uvicorn'"),
        ({"engine": 1}, '"engine" must be one of websockets, picows'),
        ({"engine": "picows", "compression": True}, "picows engine cannot compress"),
        ({"namespaces": ["myapp"]}, '"namespaces" must be an object'),
        ({"namespaces": {"myapp": "key"}}, "namespace 'myapp' must map to an object"),
        ({"namespaces": {"myapp": {"key": "k"}}}, r"namespace 'myapp' has unknown keys \['key'\]"),
        ({"namespaces": {"myapp": {"joinKey": ""}}}, "'joinKey' must be a non-empty string"),
        ({"namespaces": {"myapp": {"sendKey": 5}}}, "'sendKey' must be a non-empty string"),
        ({"namespaces": {"myapp:": {}}}, "must be non-empty and not end with"),
        ({"backplane": "http://h:1"}, "backplane URL must look like redis://"),
        ({"backplane": {"node_ttl": 1}}, '"backplane" must be a URL or an object'),
        (
            {"backplane": {"url": "redis://h", "ttl": 1}},
            r'"backplane" has unknown keys \[\'ttl\'\]; it takes "url", "node_ttl" and "prefix"',
        ),
        ({"backplane": {"url": "redis://h", "node_ttl": 0}}, "node_ttl must be a number"),
        ({"backplane": {"url": "redis://h", "node_ttl": True}}, "node_ttl must be a number"),
        ({"backplane": {"url": "redis://h", "prefix": ""}}, "prefix must be a non-empty"),
    ],
)
def test_bad_configurations_say_what_is_wrong(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(RelayConfigError, match=message):
        config_from_dict(raw)


def test_a_backplane_is_a_url_or_an_object_and_off_by_default() -> None:
    assert config_from_dict({}).backplane is None
    assert config_from_dict({"backplane": "redis://h:6379/1"}).backplane == BackplaneConfig(
        "redis://h:6379/1"
    )
    full = {"url": "unix:///run/redis.sock?db=2", "node_ttl": 2.5, "prefix": "team"}
    assert config_from_dict({"backplane": full}).backplane == BackplaneConfig(
        "unix:///run/redis.sock?db=2", node_ttl=2.5, prefix="team"
    )


def test_a_backplane_url_never_shows_its_credentials() -> None:
    config = BackplaneConfig("rediss://admin:hunter2@h:6380/0")
    assert "hunter2" not in repr(config)
    assert "admin" not in repr(config)
    with pytest.raises(RelayConfigError) as caught:
        BackplaneConfig("http://admin:hunter2@h")
    assert "hunter2" not in str(caught.value)


# -- load_config ------------------------------------------------------------------------------


def test_load_config_reads_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "relay.json"
    path.write_text('{"namespaces": {"myapp": {"sendKey": "s"}}, "compression": true}')
    for where in (path, str(path)):
        config = load_config(where)
        assert config.namespaces == {"myapp": NamespaceKeys(send_key="s")}
        assert config.compression is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read relay config"),
        ('{"limits": {', "is not valid JSON"),
        ('{\n  "limits": {},\n}\n', "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("null", "must be a JSON object"),
    ],
    ids=["missing", "truncated", "trailing-comma", "array", "null"],
)
def test_an_unusable_file_is_a_one_line_error_naming_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "relay.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RelayConfigError, match=message) as caught:
        load_config(path)
    text = str(caught.value)
    assert repr(str(path)) in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("content", "key", "where"),
    [
        (
            '{\n  "namespaces": {"myapp": {"joinKey": "k"}},\n  "namespaces": {}\n}',
            "namespaces",
            "line 3 column 3",
        ),
        ('{"namespaces": {"app": {"joinKey": "k", "joinKey": "x"}}}', "joinKey", "column 41"),
        ('{"namespaces": {"app": {"sendKey": "s"}, "app": {}}}', "app", "line 1 column 42"),
    ],
)
def test_a_key_repeated_in_a_file_is_refused_not_silently_overridden(
    tmp_path: Path, content: str, key: str, where: str
) -> None:
    # JSON keeps the last of two equal keys: a second "namespaces" would drop the keys.
    path = tmp_path / "relay.json"
    path.write_text(content)
    with pytest.raises(RelayConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(
        f"relay config {str(path)!r} is not valid JSON: the key {key!r} appears twice in "
        "one object, and only the last would count: "
    )
    assert where in str(caught.value)


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(RelayConfigError, match="cannot read relay config"):
        load_config(tmp_path)


def test_a_file_that_is_not_utf8_is_not_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "relay.json"
    path.write_bytes(b'{"namespaces": {"\xff": {}}}')
    with pytest.raises(RelayConfigError, match="is not valid JSON"):
        load_config(path)


def test_a_bad_configuration_in_a_file_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "relay.json"
    path.write_text('{"limits": {"warnings": -1}}')
    with pytest.raises(
        RelayConfigError, match=r"limits\.warnings must be a (whole )?number( of seconds)? >= 0"
    ):
        load_config(path)
