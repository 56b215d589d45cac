"""rx_itty.notebook: live outputs through IPython's real display machinery.

The tests run an in-process ``InteractiveShell`` (no kernel) and capture what it
publishes with ``IPython.utils.capture.capture_output``: each display and each
update of a display handle, with its display id.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import contextvars
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output
from reactivex.subject import Subject
from traitlets.config import Config

from rx_itty.events import Uid, User
from rx_itty.exceptions import InvalidOptionError
from rx_itty.notebook import Sparkline, live, roster, sparkline
from rx_itty.presence import Presence
from tests.support import png_rows, scaled

_SHELL_GLOBALS = ("ps1", "ps2", "ps3")


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """An IPython shell for this test, with the interpreter's globals restored after it."""
    if InteractiveShell.initialized():  # pragma: no cover - only under a real IPython
        yield InteractiveShell.instance()
        return
    main = sys.modules["__main__"]
    saved_builtins = {
        name: getattr(builtins, name)
        for name in ("display", "__IPYTHON__")
        if hasattr(builtins, name)
    }
    saved_sys = {name: getattr(sys, name) for name in _SHELL_GLOBALS if hasattr(sys, name)}
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    instance = InteractiveShell.instance(config=config)
    try:
        yield instance
    finally:
        cleanup: Callable[[], None] = instance.atexit_operations
        atexit.unregister(cleanup)
        cleanup()
        InteractiveShell.clear_instance()
        sys.modules["__main__"] = main
        for name in ("display", "__IPYTHON__"):
            if name in saved_builtins:
                setattr(builtins, name, saved_builtins[name])
            elif hasattr(builtins, name):
                delattr(builtins, name)
        for name in _SHELL_GLOBALS:
            if name in saved_sys:
                setattr(sys, name, saved_sys[name])
            elif hasattr(sys, name):
                delattr(sys, name)


def published(captured: CapturedIO) -> list[tuple[str, bool]]:
    """Each output as (its HTML or plain text, whether it updated an earlier one)."""
    outputs = []
    for output in captured.outputs:
        data = output.data
        outputs.append((data.get("text/html") or data["text/plain"], bool(output.update)))
    return outputs


def display_ids(captured: CapturedIO) -> set[str]:
    return {output.transient["display_id"] for output in captured.outputs}


LEVEL: contextvars.ContextVar[str] = contextvars.ContextVar("LEVEL", default="fresh")


class Picture:
    """A rendered value that notes when, where and in which context it is drawn."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.drawn = threading.Event()
        self.at = 0.0
        self.thread = 0
        self.context = ""

    def __repr__(self) -> str:  # IPython formats the picture as it publishes it
        self.at = time.monotonic()
        self.thread = threading.get_ident()
        self.context = LEVEL.get()
        self.drawn.set()
        return f"Picture({self.value!r})"


class Pictures:
    """A ``render`` for live() that keeps every picture it made."""

    def __init__(self) -> None:
        self.made: list[Picture] = []

    def __call__(self, value: Any) -> Picture:
        picture = Picture(value)
        self.made.append(picture)
        return picture


def wait_drawn(picture: Picture) -> None:
    assert picture.drawn.wait(scaled(5)), f"{picture!r} was never drawn"


def test_live_displays_the_initial_value_then_updates_that_same_output(
    shell: InteractiveShell,
) -> None:
    subject: Subject[int] = Subject()
    with capture_output(stdout=False, stderr=False) as captured:
        view = live(subject, initial="nothing yet")
        subject.on_next(42)
        view.dispose()
    assert published(captured) == [("'nothing yet'", False), ("'42'", True)]
    assert len(display_ids(captured)) == 1
    assert view.updates == 1


def test_the_default_initial_output_says_it_is_waiting(shell: InteractiveShell) -> None:
    with capture_output(stdout=False, stderr=False) as captured:
        live(Subject[int]()).dispose()
    assert published(captured) == [("'waiting for the first value…'", False)]


def test_a_burst_is_drawn_at_most_max_fps_and_its_latest_value_shows(
    shell: InteractiveShell,
) -> None:
    subject: Subject[int] = Subject()
    render = Pictures()
    with capture_output(stdout=False, stderr=False) as captured:
        view = live(subject, render, max_fps=2)
        for value in (1, 2, 3):
            subject.on_next(value)
        first, _, last = render.made
        wait_drawn(last)
        view.dispose()
    assert published(captured)[1:] == [("Picture(1)", True), ("Picture(3)", True)]
    assert not render.made[1].drawn.is_set()
    # 2 fps: the trailing redraw comes half a second after the first one, not before.
    assert last.at - first.at >= 0.4
    assert view.updates == 2


def test_dispose_draws_the_pending_latest_value_and_stops_updating(
    shell: InteractiveShell,
) -> None:
    subject: Subject[int] = Subject()
    render = Pictures()
    with capture_output(stdout=False, stderr=False) as captured:
        view = live(subject, render, max_fps=0.5)
        subject.on_next(1)
        subject.on_next(2)  # throttled: waits for the next frame
        view.dispose()
        subject.on_next(3)
    assert published(captured)[1:] == [("Picture(1)", True), ("Picture(2)", True)]
    assert [picture.value for picture in render.made] == [1, 2]
    assert subject.observers == []


def test_a_render_error_shows_as_stream_failed_and_is_recorded(shell: InteractiveShell) -> None:
    def render(value: int) -> str:
        raise ValueError(f"cannot draw <{value}>")

    subject: Subject[int] = Subject()
    with capture_output(stdout=False, stderr=False) as captured:
        view = live(subject, render)
        subject.on_next(7)
        view.dispose()
    assert published(captured)[1:] == [
        ("<pre>stream failed: ValueError: cannot draw &lt;7&gt;</pre>", True)
    ]
    assert [str(error) for error in view.errors] == ["cannot draw <7>"]


def test_a_stream_error_shows_as_stream_failed_and_is_recorded(shell: InteractiveShell) -> None:
    subject: Subject[int] = Subject()
    failure = ConnectionError("feed down")
    with capture_output(stdout=False, stderr=False) as captured:
        view = live(subject)
        subject.on_error(failure)
        view.dispose()
    assert published(captured)[1:] == [
        ("<pre>stream failed: ConnectionError: feed down</pre>", True)
    ]
    assert view.errors == [failure]


def test_updates_run_in_a_fresh_context_not_the_emitters(shell: InteractiveShell) -> None:
    subject: Subject[int] = Subject()
    render = Pictures()
    token = LEVEL.set("the cell that opened the socket")
    try:
        with capture_output(stdout=False, stderr=False):
            view = live(subject, render)
            subject.on_next(1)
            view.dispose()
    finally:
        LEVEL.reset(token)
    (picture,) = render.made
    wait_drawn(picture)
    assert picture.context == "fresh"


@pytest.mark.asyncio
async def test_values_from_another_thread_are_drawn_on_the_loop_of_the_cell(
    shell: InteractiveShell,
) -> None:
    subject: Subject[int] = Subject()
    render = Pictures()
    with capture_output(stdout=False, stderr=False) as captured:
        view = live(subject, render)
        await asyncio.to_thread(subject.on_next, 1)
        (picture,) = render.made
        await asyncio.to_thread(wait_drawn, picture)
        view.dispose()
    assert picture.thread == threading.get_ident()
    assert published(captured)[1:] == [("Picture(1)", True)]


@pytest.mark.parametrize("max_fps", [0, -1, math.nan])
def test_max_fps_must_be_positive(max_fps: float) -> None:
    with pytest.raises(InvalidOptionError, match=r"live\(max_fps=\.\.\.\) must be positive"):
        live(Subject[int](), max_fps=max_fps)


# -- renderers ------------------------------------------------------------------------


def svg_text(render: Callable[[float], Any], values: list[float]) -> str:
    picture = None
    for value in values:
        picture = render(value)
    assert isinstance(picture, Sparkline)
    return picture._repr_svg_()


def test_sparkline_draws_an_svg_with_the_last_maxlen_values_and_a_caption() -> None:
    text = svg_text(sparkline(maxlen=3, label="temp"), [100, 5, 2, 8])
    assert text.startswith("<svg")
    assert 'width="360"' in text
    points = re.search(r'points="([^"]*)"', text)
    assert points is not None
    assert len(points.group(1).split()) == 3  # one point per kept value
    assert "temp 8  (min 2, max 8)" in text


def test_sparkline_escapes_its_label_and_handles_a_single_value() -> None:
    text = svg_text(sparkline(label="<b>"), [1.5])
    assert "&lt;b&gt; 1.5  (min 1.5, max 1.5)" in text


def test_a_sparkline_has_a_png_of_the_same_size_with_the_line_where_the_svg_has_it() -> None:
    chart = Sparkline([0, 10], width=40, height=20, label="°C")
    rows = png_rows(chart._repr_png_())
    assert (len(rows), len(rows[0]) // 3) == (38, 40)  # the plot and an 18 px caption
    line = bytes((0x35, 0x72, 0xA5))

    def painted(x: int, y: int) -> bool:
        return rows[y][x * 3 : x * 3 + 3] == line

    assert painted(1, 15)  # from the bottom left (4 px margin, 2 px stroke)...
    assert painted(38, 4)  # ...to the top right
    assert not painted(38, 15)
    caption = rows[20 + 5 : 20 + 15]
    assert any(pixel != 0xFF for row in caption for pixel in row)  # the caption is written


def test_a_sparkline_with_one_value_draws_a_dot() -> None:
    rows = png_rows(Sparkline([3.0], width=10, height=10)._repr_png_())
    assert any(pixel != 0xFF for row in rows[:10] for pixel in row)


@pytest.mark.parametrize(
    "values",
    [
        [1.0, math.nan, 3.0, 4.0],
        [math.inf, 1.0, -math.inf, 2.0, 5.0],
        [-1e308, 1e308, 0.0],
        [math.nan],
    ],
)
def test_a_sparkline_skips_values_that_are_not_finite_and_survives_a_huge_span(
    values: list[float],
) -> None:
    chart = Sparkline(values, width=40, height=20)
    text = chart._repr_svg_()
    for points in re.findall(r'points="([^"]*)"', text):
        assert all(math.isfinite(float(n)) for p in points.split() for n in p.split(","))
    rows = png_rows(chart._repr_png_())
    assert len(rows) == 38
    finite = [v for v in values if math.isfinite(v)]
    drawn = [point for run in chart._runs() for point in run]
    assert len(drawn) == len(finite)  # every finite value is on the line, no other
    assert all(4 <= y <= 16 for _, y in drawn)  # inside the plot's margins
    if finite:
        assert f"max {max(finite):.3g}" in chart.caption


def test_a_sparkline_leaves_a_gap_where_a_value_is_missing() -> None:
    chart = Sparkline([1.0, 2.0, math.nan, 3.0, 4.0])
    assert [len(run) for run in chart._runs()] == [2, 2]
    assert chart._repr_svg_().count("<polyline") == 2


def test_a_sparkline_needs_a_value() -> None:
    with pytest.raises(InvalidOptionError, match="at least one value"):
        Sparkline([])


def formatted(shell: InteractiveShell, value: object) -> dict[str, Any]:
    """What Jupyter would receive for ``value``: one representation per MIME type."""
    assert shell.display_formatter is not None
    data, _ = shell.display_formatter.format(value)  # type: ignore[no-untyped-call]
    return dict(data)


def test_jupyter_gets_svg_png_and_a_text_caption_for_a_sparkline(shell: InteractiveShell) -> None:
    data = formatted(shell, sparkline(label="°C")(21.5))
    assert set(data) == {"image/svg+xml", "image/png", "text/plain"}
    assert data["text/plain"] == "<Sparkline °C 21.5  (min 21.5, max 21.5)>"


def test_roster_renders_a_presence_as_its_own_table(shell: InteractiveShell) -> None:
    presence = Presence(
        me=User(Uid("u1"), "ann", is_self=True),
        total=4,
        users=(User(Uid("u1"), "ann", is_self=True), User(Uid("u2"), "<bob>")),
    )
    assert roster()(presence) is presence
    data = formatted(shell, presence)
    assert data["text/html"] == presence._repr_html_()
