"""rx_itty.presence.Presence: the roster as a pure reducer over joins and leaves."""

from __future__ import annotations

from rx_itty.events import Join, Leave, Message, ServerError, Signal, Uid, User
from rx_itty.presence import Presence

ME = User(Uid("me"), "Ann", is_self=True)
BOB = User(Uid("bob"), "Bob")
CAROL = User(Uid("carol"))


def joined(*users: User, total: int = 1) -> Presence:
    return Presence(ME, total, users)


# -- our own join ------------------------------------------------------------


def test_nobody_is_known_before_our_own_join() -> None:
    empty = Presence()
    assert (empty.me, empty.total, empty.users) == (None, 0, ())


def test_own_join_sets_me_and_the_total() -> None:
    after = Presence().apply(Join(total=3, uid=Uid("me"), alias="Ann", is_self=True))
    assert after == Presence(ME, 3, ())


def test_own_join_with_a_list_snapshot_takes_the_users_from_it() -> None:
    snapshot = (ME, BOB)
    after = Presence().apply(
        Join(total=4, uid=Uid("me"), alias="Ann", is_self=True, users=snapshot)
    )
    assert after.users == snapshot
    assert after.total == 4


def test_own_join_after_a_reconnect_replaces_the_old_roster() -> None:
    before = joined(BOB, CAROL, total=3)
    after = before.apply(Join(total=1, uid=Uid("me2"), is_self=True))
    assert after == Presence(User(Uid("me2"), None, is_self=True), 1, ())


def test_own_join_without_a_uid_is_treated_like_someone_elses() -> None:
    # Legacy relays sent no uid on an unannounced own join.
    after = joined(BOB).apply(Join(total=2, is_self=True))
    assert after == joined(BOB, total=2)


# -- others joining ---------------------------------------------------------------


def test_an_announced_join_adds_the_user_at_the_end() -> None:
    after = joined(BOB).apply(Join(total=3, uid=Uid("carol")))
    assert after.users == (BOB, CAROL)
    assert after.total == 3
    assert after.me == ME


def test_an_announced_join_keeps_the_alias() -> None:
    after = joined().apply(Join(total=2, uid=Uid("bob"), alias="Bob"))
    assert after.users == (BOB,)


def test_an_unannounced_join_only_changes_the_total() -> None:
    after = joined(BOB, total=2).apply(Join(total=3))
    assert after == joined(BOB, total=3)


def test_a_join_for_a_uid_already_listed_is_not_added_twice() -> None:
    after = joined(BOB, total=2).apply(Join(total=3, uid=Uid("bob"), alias="Robert"))
    assert after.users == (BOB,)
    assert after.total == 3


# -- leaving ---------------------------------------------------------------------------


def test_a_leave_with_a_uid_removes_that_user() -> None:
    after = joined(BOB, CAROL, total=3).apply(Leave(total=2, uid=Uid("bob")))
    assert after == joined(CAROL, total=2)


def test_a_leave_for_an_unknown_uid_only_changes_the_total() -> None:
    after = joined(BOB, total=3).apply(Leave(total=2, uid=Uid("zed")))
    assert after == joined(BOB, total=2)


def test_an_anonymous_leave_only_changes_the_total() -> None:
    after = joined(BOB, total=3).apply(Leave(total=2))
    assert after == joined(BOB, total=2)


def test_a_join_or_leave_without_a_total_keeps_the_old_total() -> None:
    start = joined(BOB, total=5)
    assert start.apply(Join(uid=Uid("carol"))).total == 5
    assert start.apply(Leave(uid=Uid("bob"))).total == 5
    assert start.apply(Join(uid=Uid("me"), is_self=True)).total == 5


# -- everything else ----------------------------------------------------------------


def test_events_other_than_joins_and_leaves_change_nothing() -> None:
    start = joined(BOB, total=2)
    for event in (Message({"type": "join"}), ServerError("x"), Signal("join")):
        assert start.apply(event) is start


def test_apply_returns_a_new_value_and_leaves_the_old_one_alone() -> None:
    start = joined(BOB, total=2)
    start.apply(Leave(total=1, uid=Uid("bob")))
    assert start == joined(BOB, total=2)


# -- membership ---------------------------------------------------------------------------


def test_in_finds_our_own_uid_and_announced_users() -> None:
    roster = joined(BOB, total=3)
    assert "me" in roster
    assert "bob" in roster
    assert "carol" not in roster
    assert None not in roster


def test_in_finds_nobody_before_our_own_join() -> None:
    assert "me" not in Presence()


def test_a_presence_shows_in_jupyter_as_a_table_counting_who_it_cannot_list() -> None:
    presence = Presence(
        me=User(Uid("u1"), "ann", is_self=True),
        total=4,
        users=(User(Uid("u1"), "ann", is_self=True), User(Uid("u2"), "<bob>")),
    )
    html = presence._repr_html_()
    assert html.startswith("<p>4 connected (2 not listed)</p><table>")
    assert "<tr><td><code>u1</code></td><td>ann</td><td>you</td></tr>" in html
    assert "<tr><td><code>u2</code></td><td>&lt;bob&gt;</td><td></td></tr>" in html


def test_a_fully_listed_presence_has_no_unlisted_count() -> None:
    html = Presence(total=1, users=(User(Uid("u1")),))._repr_html_()
    assert html.startswith("<p>1 connected</p>")
    assert "<td><code>u1</code></td><td></td>" in html
