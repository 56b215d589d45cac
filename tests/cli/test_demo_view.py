"""rx_itty.cli.demo_view: the viewer's tally of what it saw (pure)."""

from __future__ import annotations

from rx_itty.cli.demo import summary
from rx_itty.cli.demo_view import Tally
from rx_itty.events import Event, Join, Message, Uid


def test_the_tally_counts_messages_by_type_and_participants() -> None:
    events: list[Event] = [
        Join(total=1, uid=Uid("u0"), alias="you", is_self=True),
        Join(total=2, uid=Uid("u1"), alias="sensor"),
        Message({"type": "reading", "celsius": 20.5}, Uid("u1"), "sensor"),
        Message({"type": "reading", "celsius": 21.5}, Uid("u1"), "sensor"),
        Join(total=3),
        Message("untyped", Uid("u1")),
    ]
    tally = Tally()
    for event in events:
        tally = tally.add(event)
    assert summary(tally) == [
        "3 messages seen: 2 readings, 0 chats, 0 direct replies",
        "3 participants: you, sensor, 1 unannounced; at most 3 at once",
        "temperature: average 21.00 °C over 2 readings (min 20.50, max 21.50)",
    ]
