"""rx_itty.recording: the versioned JSON-lines format of recorded traffic."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from reactivex.subject import Subject

from rx_itty.events import Event, Message
from rx_itty.exceptions import InvalidOptionError, RecordingError
from rx_itty.recording import (
    RECORDING_VERSION,
    Arrival,
    Recording,
    load_recording,
    parse_recording,
    record,
)
from rx_itty.testing import error, join, leave, message
from rx_itty.wire import decode_frame

HEADER = '{"rx_itty_recording": 1, "url": "ws://h/c/room", "started": 1774300000000}'


def recorded(*events: Event) -> list[dict[str, Any]]:
    """Record ``events`` through :func:`record` and return the lines written, decoded."""
    source: Subject[Event] = Subject()
    file = io.StringIO()
    subscription = record(source, file, url="ws://h/c/room?as=me&joinKey=s3cret")
    for event in events:
        source.on_next(event)
    subscription.dispose()
    source.on_next(message("after the end"))
    return [json.loads(line) for line in file.getvalue().splitlines()]


def test_record_writes_a_header_then_one_line_per_event_with_its_frame() -> None:
    events: list[Event] = [
        join("me", is_self=True, total=1, date=5),
        message({"type": "chat", "text": "hi"}, uid="ann", alias="Ann", date=7),
        leave("ann", alias="Ann", total=1, date=9),
        error("no", date=11),
    ]
    lines = recorded(*events)
    assert lines[0] == {
        "rx_itty_recording": RECORDING_VERSION,
        "started": lines[0]["started"],
        "url": "ws://h/c/room",  # never the query: it may hold keys
    }
    assert [line["frame"] for line in lines[1:]] == [dict(e.raw) for e in events]
    times = [line["t"] for line in lines[1:]]
    assert times == sorted(times)
    assert all(isinstance(t, float) and t >= 0 for t in times)
    assert len(lines) == 5  # nothing after the subscription was disposed


def test_a_recording_reads_back_as_the_very_events_recorded() -> None:
    raw_value = decode_frame("42")  # a raw server's frame that is not an object
    assert isinstance(raw_value, Message)
    events: list[Event] = [
        join("me", is_self=True, total=1, date=5),
        message({"type": "chat", "uid": "spoof"}, uid="ann", date=7),
        message([1, 2], uid=None, date=8),  # an HTTP push: no sender
        raw_value,
    ]
    file = io.StringIO()
    source: Subject[Event] = Subject()
    record(source, file, url="ws://h/c/room")
    for event in events:
        source.on_next(event)
    recording = parse_recording(file.getvalue().splitlines(), "memory")
    assert recording.url == "ws://h/c/room"
    assert recording.events == events
    assert [dict(e.raw) for e in recording.events] == [dict(e.raw) for e in events]


def test_parse_ignores_blank_lines_and_keys_it_does_not_know() -> None:
    lines = [HEADER, "", '{"t": 0.5, "frame": {"date": 1, "message": 3}, "later": true}', "  "]
    recording = parse_recording(lines)
    assert recording == Recording(
        "ws://h/c/room", 1774300000000, (Arrival(0.5, Message(3, date=1)),)
    )


def test_the_timeline_can_be_kept_sped_up_or_have_its_pauses_capped() -> None:
    recording = Recording(None, None, tuple(Arrival(t, message(t)) for t in (1.0, 2.0, 3600.0)))
    assert [a.t for a in recording.timeline()] == [1.0, 2.0, 3600.0]
    assert [a.t for a in recording.timeline(speed=2)] == [0.5, 1.0, 1800.0]
    assert [a.t for a in recording.timeline(max_gap=5)] == [1.0, 2.0, 7.0]
    assert [a.t for a in recording.timeline(speed=2, max_gap=0)] == [0.0, 0.0, 0.0]
    assert [a.event for a in recording.timeline(max_gap=0)] == recording.events  # order kept


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"speed": 0}, "speed must be a positive number, got 0"),
        ({"max_gap": -1}, "max_gap must be a number >= 0 or None, got -1"),
    ],
)
def test_a_bad_timeline_option_is_refused(options: dict[str, float], text: str) -> None:
    with pytest.raises(InvalidOptionError, match=text):
        Recording(None, None, ()).timeline(**options)


@pytest.mark.parametrize(
    ("lines", "text"),
    [
        ([], "rec is not an rx_itty recording: its first line must be the header"),
        (['{"t": 0, "frame": 1}'], "rec is not an rx_itty recording"),
        (["not json"], "rec is not an rx_itty recording"),
        (
            ['{"rx_itty_recording": 2}'],
            "rec is a recording of format version 2; this rx_itty reads version 1: upgrade rx_itty",
        ),
        ([HEADER, '{"t": 1}'], "rec, line 2 is not a recorded event"),
        ([HEADER, "", "[1]"], "rec, line 3 is not a recorded event"),
        ([HEADER, '{"t": "soon", "frame": 1}'], "rec, line 2: 't' must be a number of seconds"),
        (
            [HEADER, '{"t": 2, "frame": 1}', '{"t": 1, "frame": 1}'],
            "rec, line 3: 't' must be a number of seconds, in order, got 1",
        ),
        (
            [HEADER, '{"t": 1, "frame": ' + "[" * 5000 + "]" * 5000 + "}"],
            "rec, line 2",
        ),
    ],
    ids=[
        "empty",
        "no-header",
        "not-json",
        "version",
        "no-frame",
        "not-object",
        "bad-t",
        "order",
        "too-deep",
    ],
)
def test_a_bad_recording_is_refused_with_the_line_at_fault(lines: list[str], text: str) -> None:
    with pytest.raises(RecordingError) as caught:
        parse_recording(lines, "rec")
    assert str(caught.value).startswith(text)


def test_load_reads_a_file_and_names_it_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "traffic.jsonl"
    path.write_text(HEADER + '\n{"t": 0.25, "frame": {"date": 1, "uid": "u", "message": "hi"}}\n')
    assert load_recording(path).events == [message("hi", uid="u", date=1)]
    with pytest.raises(RecordingError, match=r"cannot read recording .*: No such file"):
        load_recording(tmp_path / "missing.jsonl")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(RecordingError, match="not UTF-8 text"):
        load_recording(path)
    path.write_text('{"rx_itty_recording": 1}\nnope\n')
    with pytest.raises(RecordingError, match=r"traffic\.jsonl, line 2 is not a recorded event"):
        load_recording(path)
