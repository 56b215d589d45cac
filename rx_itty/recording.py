"""Recordings of a channel's traffic: JSON lines, one event and its arrival time per line.

``rx-itty listen ROOM --record FILE`` (or :func:`record` from Python) writes
what a channel sent; :func:`load_recording` reads it back, and
:mod:`rx_itty.testing` replays it in virtual time, so a test can feed a socket
yesterday's traffic and assert what a pipeline does with it::

    with open("lobby.jsonl", "w") as file:
        recording = record(ch.events, file, url=ch.display_url)
        ...                                   # until you have enough
        recording.dispose()
    traffic = load_recording("lobby.jsonl")   # then, in a test: fake.replay(traffic)

The format, version 1. The first line is a header; every other line is one
frame the relay sent, in arrival order::

    {"rx_itty_recording": 1, "url": "ws://127.0.0.1:8080/c/room", "started": 1774300000000}
    {"t": 0.0, "frame": {"type": "join", "self": true, "uid": "k3v9qa", "total": 1, ...}}
    {"t": 0.512, "frame": {"date": 1774300000512, "uid": "p0x7zq", "message": {"type": "chat"}}}

- ``rx_itty_recording``: the format version. A reader refuses a version it does
  not know; later versions of this one only add keys, which readers ignore.
- ``url``: the channel's URL, without its query (keys are never written), when
  known; ``started``: the recorder's clock when it started, in ms since the Unix epoch.
- ``t``: seconds since the recording started, on a monotonic clock, so a
  clock change does not bend the timeline. Lines are in ``t`` order.
- ``frame``: the frame exactly as it arrived, decoded from JSON (the relay's own
  ``date`` included), so replaying it gives the very events the recorder saw.

Connection losses and reconnects are not recorded: a recording is what the
channel sent. After a reconnect the recorder's new own join appears as a line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO, final

from reactivex import Observable, abc

from rx_itty import _json
from rx_itty._logging import without_query
from rx_itty.events import BadFrame, Event, Message
from rx_itty.exceptions import InvalidOptionError, RecordingError
from rx_itty.wire import decode_frame

__all__ = [
    "RECORDING_VERSION",
    "Arrival",
    "Recorder",
    "Recording",
    "load_recording",
    "parse_recording",
    "record",
]

RECORDING_VERSION: Final = 1
"""The version of the line format that :func:`record` writes."""

_VERSION_KEY = "rx_itty_recording"


@final
@dataclass(frozen=True, slots=True)
class Arrival:
    """One recorded event and when it arrived, in seconds since the recording started."""

    t: float
    event: Event


@final
@dataclass(frozen=True, slots=True)
class Recording:
    """A recorded channel: its URL, when recording started, and every arrival in order.

    Attributes:
        url: The channel's URL without its query, or ``None`` if the header had none.
        started: When the recording started, in ms since the Unix epoch, if known.
        arrivals: The events in arrival order, each with its time ``t``.
    """

    url: str | None
    started: int | None
    arrivals: tuple[Arrival, ...]

    @property
    def events(self) -> list[Event]:
        """The recorded events in order, without their times."""
        return [arrival.event for arrival in self.arrivals]

    def timeline(self, *, speed: float = 1.0, max_gap: float | None = None) -> list[Arrival]:
        """The arrivals on a new timeline: played ``speed`` times faster, quiet gaps capped.

        Order is always kept; only the spacing changes. ``speed=60`` plays an hour
        in a minute; ``max_gap=1.0`` shortens every pause longer than a second to
        one second (the recorded timing otherwise kept), so a night of silence
        does not separate the morning's messages from the evening's.

        Args:
            speed: Divide every interval by this (> 0).
            max_gap: Longest interval between two arrivals, after ``speed``; ``None``
                keeps every interval.

        Raises:
            InvalidOptionError: ``speed`` is not positive or ``max_gap`` is negative.
        """
        if not speed > 0:
            raise InvalidOptionError(f"speed must be a positive number, got {speed!r}")
        if max_gap is not None and not max_gap >= 0:
            raise InvalidOptionError(f"max_gap must be a number >= 0 or None, got {max_gap!r}")
        timeline: list[Arrival] = []
        previous_t = now = 0.0
        for arrival in self.arrivals:
            gap = (arrival.t - previous_t) / speed
            now += gap if max_gap is None else min(gap, max_gap)
            previous_t = arrival.t
            timeline.append(Arrival(now, arrival.event))
        return timeline


def _frame_of(event: Event) -> Any:
    """The frame an event was decoded from, as JSON-ready values."""
    if event.raw:
        return dict(event.raw)
    if isinstance(event, Message):
        return event.message  # a raw server's frame that is not an object: the whole value
    raise RecordingError(f"cannot record {event!r}: it has no frame (record received events)")


@final
class Recorder(abc.DisposableBase):
    """A recording under way (what :func:`record` returns): dispose it to stop.

    It writes the header, then one line per event, each flushed so that an
    interrupted run keeps everything recorded so far.

    Attributes:
        events: How many events it has written so far.
    """

    def __init__(self, file: TextIO, url: str | None) -> None:
        self._file = file
        self.events = 0
        header: dict[str, Any] = {
            _VERSION_KEY: RECORDING_VERSION,
            "started": int(time.time() * 1000),
        }
        if url is not None:
            header["url"] = without_query(url)  # the query may hold keys
        self._put(header)
        self._start = time.monotonic()
        self._subscription: abc.DisposableBase | None = None

    def write(self, event: Event) -> None:
        """Write ``event``, arrived now."""
        self._put({"t": round(time.monotonic() - self._start, 6), "frame": _frame_of(event)})
        self.events += 1

    def dispose(self) -> None:
        """Stop recording (closing the file is the caller's job)."""
        if self._subscription is not None:
            self._subscription.dispose()

    def _put(self, line: dict[str, Any]) -> None:
        # Exact: a number beyond double range stays 1e400 (Infinity), never null.
        self._file.write(_json.stringify(line, exact=True) + "\n")
        self._file.flush()


def record(events: Observable[Event], file: TextIO, *, url: str | None = None) -> Recorder:
    """Write every event of ``events`` to ``file`` as it arrives: what ``--record`` does.

    Subscribes at once (so recording a socket's ``events`` opens it) and writes
    the header; times count from now. Dispose the result to stop recording;
    closing ``file`` is the caller's job.

    Args:
        events: A socket's ``events`` (or any stream of received events).
        file: A text file open for writing.
        url: The channel's URL, for the header; its query (which may hold keys)
            is never written.

    Returns:
        The recording under way: dispose it to stop; ``.events`` counts what it wrote.
    """
    recorder = Recorder(file, url)
    recorder._subscription = events.subscribe(recorder.write)
    return recorder


def _arrivals(lines: Iterator[tuple[int, str]], source: str) -> Iterator[Arrival]:
    previous = 0.0
    for number, text in lines:
        if not text.strip():
            continue
        where = f"{source}, line {number}"
        try:
            line = _json.loads(text)
            t, frame = line["t"], line["frame"]
        except (_json.JSONDecodeError, TypeError, KeyError):
            raise RecordingError(
                f'{where} is not a recorded event: expected {{"t": seconds, "frame": {{...}}}}'
            ) from None
        if isinstance(t, bool) or not isinstance(t, int | float) or t < previous:
            raise RecordingError(f"{where}: 't' must be a number of seconds, in order, got {t!r}")
        event = decode_frame(_json.stringify(frame, exact=True))
        if isinstance(event, BadFrame):  # e.g. nested too deep for the decoder
            raise RecordingError(f"{where}: the frame does not decode ({event.reason})")
        previous = float(t)
        yield Arrival(previous, event)


def parse_recording(lines: Iterable[str], source: str = "recording") -> Recording:
    """Read a recording from its lines (see the module docstring for the format).

    Args:
        lines: The file's lines, header first.
        source: How errors name the recording (a file name).

    Raises:
        RecordingError: not a recording, a version this rx_itty does not read,
            or a line that is not a recorded event (the error gives its number).
    """
    numbered = enumerate(lines, start=1)
    header: Any = None
    for _, text in numbered:
        if text.strip():
            try:
                header = _json.loads(text)
            except _json.JSONDecodeError:
                header = None
            break
    if not isinstance(header, dict) or _VERSION_KEY not in header:
        raise RecordingError(
            f"{source} is not an rx_itty recording: its first line must be the header "
            f'{{"{_VERSION_KEY}": {RECORDING_VERSION}, ...}} (record with rx-itty listen --record)'
        )
    version = header[_VERSION_KEY]
    if version != RECORDING_VERSION:
        raise RecordingError(
            f"{source} is a recording of format version {version!r}; this rx_itty reads "
            f"version {RECORDING_VERSION}: upgrade rx_itty"
        )
    url, started = header.get("url"), header.get("started")
    return Recording(
        url if isinstance(url, str) else None,
        started if isinstance(started, int) and not isinstance(started, bool) else None,
        tuple(_arrivals(numbered, source)),
    )


def load_recording(path: str | Path) -> Recording:
    """Read the recording in the file at ``path``.

    Raises:
        RecordingError: the file cannot be read or is not a valid recording.
    """
    try:
        with open(path, encoding="utf-8") as file:
            return parse_recording(file, str(path))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise RecordingError(f"cannot read recording {str(path)!r}: {reason}") from exc
