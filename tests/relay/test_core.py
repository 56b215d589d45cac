"""The sans-I/O relay core: handshakes, frames and departures in, deliveries out."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from rx_itty._json import MAX_DEPTH
from rx_itty.events import Message
from rx_itty.relay.config import Limits, NamespaceKeys, RelayConfig
from rx_itty.relay.core import (
    Delivery,
    Member,
    Outcome,
    Refusal,
    RelayCore,
    RemoteMember,
    Ticket,
    key_digest,
)
from rx_itty.wire import decode_frame

LOCAL = "127.0.0.1"
REMOTE = "203.0.113.7"


def make_core(config: RelayConfig | None = None) -> RelayCore[str]:
    counter = itertools.count(1)
    return RelayCore(config, uid_factory=lambda: f"u{next(counter)}")


def ticket(core: RelayCore[str], path: str, ip: str = LOCAL, now: float = 0.0) -> Ticket:
    verdict = core.admit(path, ip, now)
    assert isinstance(verdict, Ticket), verdict
    return verdict


def join(
    core: RelayCore[str], name: str, path: str, now: float = 1.0, ip: str = LOCAL
) -> tuple[Member[str], list[Delivery[str]]]:
    joined = core.join(ticket(core, path, ip, now), name, now)
    assert not isinstance(joined, Refusal), joined
    return joined


def frames(deliveries: list[Delivery[str]]) -> list[tuple[dict[str, Any], list[str]]]:
    return [(json.loads(d.frame), list(d.to)) for d in deliveries]


def only(outcome: Outcome[str]) -> tuple[dict[str, Any], list[str]]:
    [delivered] = frames(outcome.deliveries)
    return delivered


# -- handshake ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [("/x/room", 404), ("/", 404), ("/c/", 400), ("/c/?echo=true", 400)],
)
def test_bad_paths_are_refused_with_a_status(path: str, status: int) -> None:
    verdict = make_core().admit(path, LOCAL, 0)
    assert isinstance(verdict, Refusal)
    assert verdict.status == status


def test_channel_name_is_percent_decoded_and_unknown_params_ignored() -> None:
    core = make_core()
    t = ticket(core, "/c/itty%3Aa%20b/c?itty%3Aitty-sockets%3Atest-xyz=&as=Al+ice")
    assert (t.channel, t.alias) == ("itty:a b/c", "Al ice")


def test_as_wins_over_alias_and_empty_alias_is_none() -> None:
    core = make_core()
    assert ticket(core, "/c/r?alias=B&as=A").alias == "A"
    assert ticket(core, "/c/r?as=&alias=").alias is None


@pytest.mark.parametrize(
    ("value", "on"),
    [("true", True), ("", True), ("1", True), ("false", False), ("0", False), ("undefined", False)],
)
def test_flags_are_on_when_present_and_not_falsy(value: str, on: bool) -> None:
    t = ticket(make_core(), f"/c/r?echo={value}&announce={value}&list={value}")
    assert (t.echo, t.announce, t.list) == (on, on, on)


def test_over_long_alias_and_channel_are_refused() -> None:
    core = make_core(RelayConfig(limits=Limits(max_alias_length=3, max_channel_length=5)))
    assert core.admit("/c/room?as=abcd", LOCAL, 0) == Refusal(400, "Alias exceeds 3 characters.")
    verdict = core.admit("/c/roomxx", LOCAL, 0)
    assert isinstance(verdict, Refusal)
    assert verdict.status == 400


# -- join --------------------------------------------------------------------


def test_own_join_comes_first_and_always_carries_uid_and_self() -> None:
    core = make_core()
    _, deliveries = join(core, "A", "/c/r")
    assert frames(deliveries) == [
        ({"type": "join", "self": True, "uid": "u1", "total": 1, "date": 1000}, ["A"])
    ]


def test_others_join_carries_identity_only_when_announced() -> None:
    core = make_core()
    join(core, "A", "/c/r")
    _, plain = join(core, "B", "/c/r?as=Bob")
    _, announced = join(core, "C", "/c/r?as=Carol&announce=true")
    assert frames(plain)[0][0] == {
        "type": "join",
        "self": True,
        "uid": "u2",
        "alias": "Bob",
        "total": 2,
        "date": 1000,
    }
    assert frames(plain)[1] == ({"type": "join", "total": 2, "date": 1000}, ["A"])
    assert frames(announced)[1] == (
        {"type": "join", "total": 3, "uid": "u3", "alias": "Carol", "date": 1000},
        ["A", "B"],
    )


def test_user_list_shows_announced_members_in_join_order() -> None:
    core = make_core()
    join(core, "A", "/c/r?announce=true&as=Al")
    join(core, "B", "/c/r")  # not announced: counted, never listed
    _, deliveries = join(core, "C", "/c/r?announce=true&list=true")
    own = frames(deliveries)[0][0]
    assert own["total"] == 3
    assert own["users"] == [{"uid": "u1", "alias": "Al"}, {"uid": "u3", "self": True}]


def test_user_list_is_empty_not_absent_when_nobody_announced() -> None:
    _, deliveries = join(make_core(), "A", "/c/r?list=true")
    assert frames(deliveries)[0][0]["users"] == []


def test_uids_are_unique_within_a_channel() -> None:
    uids = iter(["dup", "dup", "new"])
    core: RelayCore[str] = RelayCore(uid_factory=lambda: next(uids))
    a, _ = join(core, "A", "/c/r")
    b, _ = join(core, "B", "/c/r")
    assert (a.uid, b.uid) == ("dup", "new")


def test_default_uids_are_six_lowercase_alphanumerics() -> None:
    core: RelayCore[str] = RelayCore()
    member, _ = join(core, "A", "/c/r")
    assert len(member.uid) == 6
    assert member.uid.isalnum()
    assert member.uid == member.uid.lower()


def test_channels_are_isolated() -> None:
    core = make_core()
    join(core, "A", "/c/one")
    _, deliveries = join(core, "B", "/c/two")
    assert frames(deliveries)[0][0]["total"] == 1
    assert len(deliveries) == 1


# -- frames ------------------------------------------------------------------


def test_broadcast_reaches_others_and_the_sender_only_with_echo() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r?as=Al")
    b, _ = join(core, "B", "/c/r?echo=true")
    assert only(core.receive(a, '{"x":1}', 2.0)) == (
        {"date": 2000, "uid": "u1", "alias": "Al", "message": {"x": 1}},
        ["B"],
    )
    assert only(core.receive(b, '"hi"', 2.0))[1] == ["A", "B"]


def test_payload_is_relayed_byte_for_byte_and_never_merged() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r")
    join(core, "B", "/c/r")
    text = '{"uid":"foo","alias":"bar","date":12345, "n":1.50}'
    [delivery] = core.receive(a, text, 2.0).deliveries
    assert delivery.frame == '{"date":2000,"uid":"u1","message":' + text + "}"


def test_a_lone_member_without_echo_produces_nothing() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r")
    assert core.receive(a, "1", 2.0) == Outcome([])


def test_direct_message_reaches_only_the_recipient_and_never_echoes() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r?echo=true")
    join(core, "B", "/c/r")
    join(core, "C", "/c/r")
    assert only(core.receive(a, '\x1fu2\x1f"psst"', 2.0)) == (
        {"date": 2000, "uid": "u1", "message": "psst"},
        ["B"],
    )


def test_direct_message_to_self_is_delivered_once() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r?echo=true")
    assert only(core.receive(a, "\x1fu1\x1f1", 2.0))[1] == ["A"]


@pytest.mark.parametrize("recipient", ["non-existent-user", ""])
def test_direct_message_to_an_unknown_uid_errors_to_the_sender_naming_it(recipient: str) -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r")
    join(core, "B", "/c/other")
    frame, to = only(core.receive(a, f"\x1f{recipient}\x1f1", 2.0))
    assert to == ["A"]
    assert frame["type"] == "error"
    assert f'"{recipient}"' in frame["message"]
    assert set(frame) == {"type", "message", "date"}


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("undefined", "not valid JSON"),
        ("\x1fu2", "Malformed direct message"),
        ("\x1fu2\x1f{", "not valid JSON"),
        (b"\x01\x02", "Binary frames"),
        ("NaN", "not valid JSON"),
    ],
)
def test_bad_frames_answer_the_sender_and_relay_nothing(data: str | bytes, text: str) -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r")
    join(core, "B", "/c/r")
    frame, to = only(core.receive(a, data, 2.0))
    assert to == ["A"]
    assert frame["type"] == "error"
    assert text in frame["message"]


# -- keys (PROTOCOL §7, §8) --------------------------------------------------


def test_first_joiner_sets_ephemeral_keys_that_vanish_with_the_channel() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r?joinKey=j1&sendKey=s1")
    assert core.admit("/c/r", LOCAL, 0) == Refusal(
        403, "A valid joinKey is required to join this channel."
    )
    assert isinstance(core.admit("/c/r?joinKey=wrong", LOCAL, 0), Refusal)
    b, _ = join(core, "B", "/c/r?joinKey=j1&sendKey=other")
    frame, to = only(core.receive(b, "1", 2.0))
    assert (frame["type"], to) == ("error", ["B"])
    assert "sendKey" in frame["message"]
    core.leave(b, 3.0)
    core.leave(a, 3.0)
    assert core.channel_names() == []
    join(core, "C", "/c/r")  # the keys went with the channel


def test_later_joiners_cannot_change_the_keys() -> None:
    core = make_core()
    join(core, "A", "/c/r")  # open channel: presented keys of later joiners are ignored
    b, _ = join(core, "B", "/c/r?joinKey=x&sendKey=y")
    join(core, "C", "/c/r")
    assert only(core.receive(b, "1", 2.0))[1] == ["A", "C"]


@pytest.mark.parametrize(
    "query",
    [
        "joinKey=&join%4Bey=K",  # the empty first copy would have made an open channel
        "joinKey=K&joinKey=K",
        "sendKey=a&send%4bey=b",
        "%6A%6F%69%6E%4B%65%79=x&joinKey=y",
    ],
)
def test_a_key_given_twice_in_any_spelling_is_refused_with_400(query: str) -> None:
    verdict = make_core().admit(f"/c/r?{query}", LOCAL, 0)
    assert isinstance(verdict, Refusal)
    assert verdict.status == 400
    assert "more than once" in verdict.reason


def test_percent_encoded_key_names_are_keys() -> None:
    core = make_core()
    join(core, "A", "/c/r?join%4Bey=K")
    assert isinstance(core.admit("/c/r", LOCAL, 1.0), Refusal)
    assert isinstance(core.admit("/c/r?joinKey=K", LOCAL, 1.0), Ticket)


def test_send_key_gate_applies_to_direct_messages_too() -> None:
    core = make_core()
    join(core, "A", "/c/r?sendKey=s")
    b, _ = join(core, "B", "/c/r")
    frame, _ = only(core.receive(b, "\x1fu1\x1f1", 2.0))
    assert frame["type"] == "error"


def test_namespace_keys_apply_to_sub_channels_and_block_ephemeral_keys() -> None:
    config = RelayConfig(
        namespaces={
            "myapp": NamespaceKeys(join_key="J"),
            "myapp/private": NamespaceKeys(join_key="P", send_key="S"),
            "open": NamespaceKeys(),
        }
    )
    core = make_core(config)
    assert isinstance(core.admit("/c/myapp:chat", LOCAL, 0), Refusal)
    ticket(core, "/c/myapp:chat?joinKey=J")
    ticket(core, "/c/myapp/privateer?joinKey=J")
    ticket(core, "/c/myapp/private/room1?joinKey=P")
    assert isinstance(core.admit("/c/myapp/private/room1?joinKey=J", LOCAL, 0), Refusal)
    ticket(core, "/c/myapps:chat")
    # A reservation without keys stops the first joiner from setting any.
    join(core, "A", "/c/open:x?joinKey=hijack")
    join(core, "B", "/c/open:x")


def test_keys_with_non_ascii_characters_compare() -> None:
    core = make_core()
    join(core, "A", "/c/r?joinKey=%C3%A9")
    ticket(core, "/c/r?joinKey=%C3%A9")
    assert isinstance(core.admit("/c/r?joinKey=e", LOCAL, 0), Refusal)


def test_join_is_refused_if_the_channel_got_a_key_after_admission() -> None:
    core = make_core()
    late = ticket(core, "/c/r")
    join(core, "A", "/c/r?joinKey=k")
    assert core.join(late, "B", 1.0) == Refusal(
        403, "A valid joinKey is required to join this channel."
    )


def test_keys_never_appear_in_reprs() -> None:
    t = ticket(make_core(), "/c/r?joinKey=SECRET1&sendKey=SECRET2")
    assert "SECRET" not in repr(t)
    assert "SECRET" not in repr(NamespaceKeys("SECRET1", "SECRET2"))


# -- leave -------------------------------------------------------------------


def test_leave_tells_the_rest_with_identity_only_when_announced() -> None:
    core = make_core()
    join(core, "A", "/c/r")
    b, _ = join(core, "B", "/c/r?announce=true&as=Bo")
    c, _ = join(core, "C", "/c/r?as=Cy")
    assert frames(core.leave(c, 2.0)) == [({"type": "leave", "total": 2, "date": 2000}, ["A", "B"])]
    assert frames(core.leave(b, 3.0)) == [
        ({"type": "leave", "total": 1, "uid": "u2", "alias": "Bo", "date": 3000}, ["A"])
    ]


def test_leaving_twice_is_harmless() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r")
    join(core, "B", "/c/r")
    assert len(core.leave(a, 2.0)) == 1
    assert core.leave(a, 2.0) == []
    assert core.member_count("r") == 1


# -- limits (PROTOCOL §10) ---------------------------------------------------


def test_oversize_frames_warn_then_disconnect() -> None:
    core = make_core(RelayConfig(limits=Limits(max_frame_bytes=10, warnings=2)))
    a, _ = join(core, "A", "/c/r")
    join(core, "B", "/c/r")
    assert only(core.receive(a, '"12345678"', 2.0))[1] == ["B"]  # exactly 10 bytes passes
    for n in (1, 2):
        outcome = core.receive(a, '"123456789"', 2.0)
        assert outcome.close is None
        assert only(outcome)[0]["message"] == f"Message exceeds 10 bytes (warning {n} of 2)."
    outcome = core.receive(a, '"123456789"', 2.0)
    assert outcome.close == (1008, "too many limit violations")
    frame, to = only(outcome)
    assert (frame["message"], to) == (
        "Message exceeds 10 bytes: too many violations, disconnecting.",
        ["A"],
    )


def test_frame_size_counts_utf8_bytes_including_the_dm_prefix() -> None:
    core = make_core(RelayConfig(limits=Limits(max_frame_bytes=8)))
    a, _ = join(core, "A", "/c/r")
    join(core, "B", "/c/r")
    assert only(core.receive(a, '"éééé"', 2.0))[0]["type"] == "error"  # 6 chars, 10 bytes
    assert only(core.receive(a, "\x1fu2\x1f12345", 2.0))[0]["type"] == "error"


def test_message_rate_limit_warns_then_closes_and_bans_the_address() -> None:
    limits = Limits(
        messages_per_window=2, window_seconds=1.0, ban_seconds=60, exempt_loopback=False
    )
    core = make_core(RelayConfig(limits=limits))
    a, _ = join(core, "A", "/c/r", ip=REMOTE)
    join(core, "B", "/c/r", ip=LOCAL)
    assert [only(core.receive(a, "1", 10.0))[1] for _ in range(2)] == [["B"], ["B"]]
    for n in (1, 2, 3):
        frame, _ = only(core.receive(a, "1", 10.5))
        assert frame["message"] == f"Rate limit exceeded (warning {n} of 3)."
    assert only(core.receive(a, "1", 11.0))[1] == ["B"]  # new window
    core.receive(a, "1", 11.1)
    assert core.receive(a, "1", 11.2).close == (
        1008,
        "too many limit violations; address banned for 60 s",
    )
    assert core.admit("/c/r", REMOTE, 20.0) == Refusal(429, "Too many violations: try again later.")
    assert isinstance(core.admit("/c/r", REMOTE, 71.2), Ticket)


def test_loopback_is_exempt_from_rate_limits_by_default() -> None:
    core = make_core(RelayConfig(limits=Limits(messages_per_window=1, window_seconds=10)))
    a, _ = join(core, "A", "/c/r")
    join(core, "B", "/c/r")
    assert all(only(core.receive(a, "1", 2.0))[1] == ["B"] for _ in range(5))


def test_new_connections_per_address_are_limited_per_second() -> None:
    core = make_core(RelayConfig(limits=Limits(connections_per_second=2)))
    assert isinstance(core.admit("/c/r", REMOTE, 5.0), Ticket)
    assert isinstance(core.admit("/c/r", REMOTE, 5.1), Ticket)
    assert core.admit("/c/r", REMOTE, 5.2) == Refusal(
        429, "Too many new connections: try again in a second."
    )
    assert isinstance(core.admit("/c/r", "203.0.113.8", 5.2), Ticket)
    assert isinstance(core.admit("/c/r", LOCAL, 5.2), Ticket)
    assert isinstance(core.admit("/c/r", REMOTE, 6.1), Ticket)


def test_limits_can_be_turned_off() -> None:
    limits = Limits(max_frame_bytes=None, messages_per_window=None, exempt_loopback=False)
    core = make_core(RelayConfig(limits=limits))
    a, _ = join(core, "A", "/c/r", ip=REMOTE)
    join(core, "B", "/c/r")
    big = '"' + "x" * 200_000 + '"'
    assert all(only(core.receive(a, big, 2.0))[1] == ["B"] for _ in range(100))


# -- HTTP push (PROTOCOL §9) ---------------------------------------------------


def pushing_core() -> RelayCore[str]:
    return make_core(
        RelayConfig(
            limits=Limits(max_frame_bytes=100),
            namespaces={"app": NamespaceKeys(send_key="S"), "open": NamespaceKeys()},
        )
    )


def test_http_push_reaches_every_member_with_no_sender_identity() -> None:
    core = pushing_core()
    join(core, "A", "/c/app:alerts?echo=true")
    join(core, "B", "/c/app:alerts")
    result = core.push("/c/app%3Aalerts", b'{"type":"alert"}', "S", 2.0)
    assert (result.status, result.reason) == (200, "Delivered to 2 connections.")
    assert frames(list(result.deliveries)) == [
        ({"date": 2000, "message": {"type": "alert"}}, ["A", "B"])
    ]


def test_http_push_to_one_connection_says_so_in_the_singular() -> None:
    core = pushing_core()
    join(core, "A", "/c/app:alerts")
    assert core.push("/c/app:alerts", b"1", "S", 2.0).reason == "Delivered to 1 connection."


def test_http_push_to_an_empty_channel_succeeds_and_stores_nothing() -> None:
    core = pushing_core()
    result = core.push("/c/app:nobody-here", b"1", "S", 2.0)
    assert (result.status, list(result.deliveries)) == (200, [])
    assert core.channel_names() == []


@pytest.mark.parametrize(
    ("path", "body", "key", "status"),
    [
        ("/c/app:x", b"1", None, 403),  # no key
        ("/c/app:x", b"1", "wrong", 403),
        ("/c/open:x", b"1", "S", 403),  # a namespace without a send key
        ("/c/random", b"1", "S", 403),  # no namespace: ephemeral keys never qualify
        ("/c/app:x", b"undefined", "S", 400),
        ("/c/app:x", b"\xff", "S", 400),
        ("/c/app:x", b'"' + b"x" * 200 + b'"', "S", 413),
        ("/x/app", b"1", "S", 404),
        ("/c/", b"1", "S", 400),
    ],
)
def test_http_push_refusals(path: str, body: bytes, key: str | None, status: int) -> None:
    result = pushing_core().push(path, body, key, 2.0)
    assert result.status == status
    assert list(result.deliveries) == []


def test_a_push_is_checked_like_a_handshake_before_its_body() -> None:
    limits = Limits(connections_per_second=1, ban_seconds=60, max_channel_length=10)
    core = make_core(RelayConfig(limits=limits, namespaces={"app": NamespaceKeys(send_key="S")}))

    def check(path: str, key: str | None, ip: str = REMOTE, new: bool = True) -> int | None:
        refusal = core.check_push(path, key, ip, 1.0, new_connection=new)
        return None if refusal is None else refusal.status

    assert [check("/x/app", "S"), check("/c/", "S"), check("/c/app:" + "a" * 10, "S")] == [
        404,
        400,
        400,
    ]
    assert check("/c/app:x", "wrong") == 403
    assert check("/c/app:x", "S") == 429  # the wrong key's connection counted
    assert check("/c/app:x", "S", new=False) is None  # a further push on a connection
    assert check("/c/app:x", "S", ip=LOCAL) is None  # loopback is exempt, as for handshakes
    # A member's fourth violation bans its address: from handshakes and pushes alike.
    spammer, _ = join(core, "A", "/c/room", ip="198.51.100.1")
    for _ in range(4):
        core.receive(spammer, "x" * 200_000, 2.0)
    assert check("/c/app:x", "S", ip="198.51.100.1", new=False) == 429


def test_limits_run_on_the_monotonic_clock_and_dates_on_the_wall_clock() -> None:
    # The wall clock is stepped back an hour (NTP, a VM resumed): one message a second
    # must stay one message a second, and a ban must last its time, not an hour more.
    limits = Limits(exempt_loopback=False, warnings=0, ban_seconds=60)
    core = make_core(RelayConfig(limits=limits))
    member, _ = join(core, "A", "/c/r?echo=true", ip=REMOTE)
    wall, clock = 1_700_000_000.0, 500.0
    for n in range(60):
        sent = core.receive(member, str(n), wall - 3600 + n, clock + n)
        assert only(sent)[0] == {
            "date": (1_700_000_000 - 3600 + n) * 1000,
            "uid": "u1",
            "message": n,
        }
    burst = [core.receive(member, "1", wall, clock + 60) for _ in range(41)]
    assert burst[-1].close is not None  # 41 in one window: a violation, and no warning left
    assert isinstance(core.admit("/c/r", REMOTE, clock + 60 + 59), Refusal)
    assert isinstance(core.admit("/c/r", REMOTE, clock + 60 + 61), Ticket)


def test_addresses_are_forgotten_once_their_second_or_their_ban_is_over() -> None:
    # What the limits remember stays bounded by what is recent, not by every address
    # ever seen (nor rebuilt on every handshake once there are many).
    limits = Limits(exempt_loopback=False, warnings=0, ban_seconds=5)
    core = make_core(RelayConfig(limits=limits))
    for n in range(15_000):  # one new address a millisecond, for 15 s
        assert isinstance(
            core.admit("/c/r", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", n / 1000), Ticket
        )
    assert len(core._handshakes) <= 1000  # the last second's
    for n in range(100):  # 100 addresses banned, one a second
        member, _ = join(core, f"C{n}", "/c/r", now=20.0 + n, ip=f"192.0.2.{n}")
        core.receive(member, "x" * 200_000, 20.0 + n)
    assert isinstance(core.admit("/c/r", "192.0.2.99", 121.0), Refusal)  # still banned
    assert len(core._bans) <= 5  # the others' bans are over and forgotten


def test_payloads_nested_deeper_than_clients_decode_are_refused_to_the_sender() -> None:
    core = make_core()
    a, _ = join(core, "A", "/c/r?echo=true")
    deepest = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    [relayed] = core.receive(a, deepest, 2.0).deliveries
    assert list(relayed.to) == ["A"]
    assert isinstance(decode_frame(relayed.frame), Message)  # what the relay passes, clients decode
    too_deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    error, to = only(core.receive(a, too_deep, 2.0))
    assert (error["type"], to) == ("error", ["A"])
    assert error["message"] == f"Message is nested more than {MAX_DEPTH - 1} levels deep."


def test_http_push_refuses_payloads_nested_too_deep() -> None:
    body = ("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()
    core = make_core(RelayConfig(namespaces={"app": NamespaceKeys(send_key="S")}))
    result = core.push("/c/app:x", body, "S", 2.0)
    assert (result.status, list(result.deliveries)) == (400, [])
    assert "nested more than" in result.reason


def test_the_recipient_cache_stays_bounded_in_a_big_busy_room() -> None:
    core = make_core()
    members = [join(core, f"C{i}", "/c/big")[0] for i in range(200)]
    for member in members:
        assert len(only(core.receive(member, "1", 2.0))[1]) == 199
    assert len(members[0].channel.recipients) <= 64


# -- cluster: a roster shared with other nodes ---------------------------------------


def cluster_core() -> RelayCore[str]:
    core: RelayCore[str] = RelayCore(clustered=True)
    core.load("room", (None, None), [RemoteMember("far1", "Far", True, "nodeB")])
    return core


def arrive_local(core: RelayCore[str], uid: str, conn: str, query: str = "") -> Member[str]:
    member, _ = core.arrive("room", (uid, ticket(core, f"/c/room?{query}"), conn), 2, 5)
    assert member is not None
    return member


def test_a_local_joiner_gets_its_own_join_with_the_cluster_roster_and_total() -> None:
    core = cluster_core()
    member, deliveries = core.arrive(
        "room", ("me0001", ticket(core, "/c/room?announce=true&list=true"), "A"), 2, 1000
    )
    assert member is not None
    assert member.uid == "me0001"
    assert frames(deliveries) == [
        (
            {
                "type": "join",
                "self": True,
                "uid": "me0001",
                "total": 2,
                "users": [{"uid": "far1", "alias": "Far"}, {"uid": "me0001", "self": True}],
                "date": 1000,
            },
            ["A"],
        )
    ]
    assert core.member_count("room") == 2


def test_a_remote_join_tells_the_local_members_and_a_repeat_is_ignored() -> None:
    core = cluster_core()
    arrive_local(core, "me0001", "A")
    joiner = RemoteMember("far2", None, False, "nodeC")
    _, deliveries = core.arrive("room", joiner, 3, 7)
    assert frames(deliveries) == [({"type": "join", "total": 3, "date": 7}, ["A"])]
    assert core.arrive("room", joiner, 3, 7) == (None, [])


def test_depart_tells_the_local_members_with_the_total_the_cluster_gave() -> None:
    core = cluster_core()
    arrive_local(core, "me0001", "A")
    assert frames(core.depart("room", "far1", 1, 9)) == [
        ({"type": "leave", "total": 1, "uid": "far1", "alias": "Far", "date": 9}, ["A"])
    ]
    assert core.depart("room", "far1", 1, 9) == []  # already gone


def test_broadcasts_are_relayed_while_members_on_other_nodes_exist() -> None:
    core = cluster_core()
    a = arrive_local(core, "me0001", "A", "echo=true")
    outcome = core.receive(a, '"hi"', 2.0)
    assert [list(d.to) for d in outcome.deliveries] == [["A"]]
    assert outcome.relay is not None
    assert (outcome.relay.channel, outcome.relay.node, outcome.relay.uid) == ("room", None, None)
    assert json.loads(outcome.relay.frame)["message"] == "hi"
    core.depart("room", "far1", 1, 9)
    assert core.receive(a, '"alone"', 3.0).relay is None


def test_a_direct_message_to_a_member_on_another_node_goes_to_that_node() -> None:
    core = cluster_core()
    a = arrive_local(core, "me0001", "A")
    outcome = core.receive(a, '\x1ffar1\x1f"psst"', 2.0)
    assert outcome.deliveries == []
    assert outcome.relay is not None
    assert (outcome.relay.node, outcome.relay.uid) == ("nodeB", "far1")
    assert json.loads(outcome.relay.frame) == {"date": 2000, "uid": "me0001", "message": "psst"}


def test_frames_from_other_nodes_reach_the_local_members_only() -> None:
    core = cluster_core()
    arrive_local(core, "me0001", "A")
    arrive_local(core, "me0002", "B")
    assert frames(core.relay_in("room", '{"message":1}')) == [({"message": 1}, ["A", "B"])]
    assert frames(core.direct_in("room", "me0002", '{"message":2}')) == [({"message": 2}, ["B"])]
    assert core.direct_in("room", "far1", "{}") == []  # not here
    assert core.direct_in("room", "gone01", "{}") == []  # left meanwhile
    assert core.relay_in("elsewhere", "{}") == []


def test_keys_a_join_created_are_kept_as_digests_and_gate_local_senders() -> None:
    core: RelayCore[str] = RelayCore(clustered=True)
    core.load("room", (None, None), [])
    keys = (key_digest("J"), key_digest("S"))
    member, _ = core.arrive("room", ("me0001", ticket(core, "/c/room"), "A"), 1, 1, keys)
    assert core.channel_keys("room") == keys
    assert "J" not in keys
    assert member is not None
    assert not member.can_send
    assert isinstance(core.admit("/c/room?joinKey=wrong"), Refusal)


def test_a_push_in_a_cluster_is_relayed_to_channels_not_live_here() -> None:
    config = RelayConfig(namespaces={"app": NamespaceKeys(send_key="S")})
    core: RelayCore[str] = RelayCore(config, clustered=True)
    result = core.push("/c/app:x", b"1", "S", 2.0)
    assert (result.status, list(result.deliveries)) == (200, [])
    assert result.relay is not None
    assert json.loads(result.relay.frame) == {"date": 2000, "message": 1}
    assert make_core(config).push("/c/app:x", b"1", "S", 2.0).relay is None  # one process


def test_a_local_join_still_lands_after_the_last_remote_member_left_meanwhile() -> None:
    # The backplane loaded the roster (one member, on another node) for a joiner of
    # this node; that member's leave comes in before the joiner's own join does.
    core = cluster_core()
    assert frames(core.depart("room", "far1", 0, 9)) == []
    keys = (key_digest("J"), None)  # the join found the channel empty: it set the keys
    member, deliveries = core.arrive(
        "room", ("me0001", ticket(core, "/c/room?joinKey=J"), "A"), 1, 10, keys
    )
    assert member is not None
    assert frames(deliveries) == [
        ({"type": "join", "self": True, "uid": "me0001", "total": 1, "date": 10}, ["A"])
    ]
    assert core.channel_keys("room") == keys


def test_an_emptied_channel_in_a_cluster_has_no_keys_until_a_join_sets_them() -> None:
    # Its ephemeral keys died with its last member cluster-wide: a handshake must be
    # checked against what the cluster says now, not against the old keys.
    core: RelayCore[str] = RelayCore(clustered=True)
    core.load("room", (key_digest("old"), None), [RemoteMember("far1", None, False, "nodeB")])
    assert isinstance(core.admit("/c/room?joinKey=new"), Refusal)
    core.depart("room", "far1", 0, 9)
    assert core.channel_keys("room") is None
    assert isinstance(core.admit("/c/room?joinKey=new"), Ticket)


def test_forget_drops_a_channels_state() -> None:
    core = cluster_core()
    core.forget("room")
    assert core.channel_names() == []
    assert core.channel_keys("room") is None
