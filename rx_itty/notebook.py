"""Render streams live in Jupyter: the output appears in the cell that started it.

Printing from a callback lands in the output of whichever cell the callback's
context belongs to (often the cell that opened the socket, long finished); a
display handle does not wander. :func:`live` displays a value where it is called
and updates that same output as the stream emits, from any thread, at most
``max_fps`` times a second::

    from rx_itty.notebook import live, sparkline
    view = live(ch.on("reading").pipe(itty_ops.payloads(), ops.map(lambda p: p["value"])),
                render=sparkline())
    ...
    view.dispose()          # stop updating (the last picture stays)

Needs IPython (``pip install "rx_itty[notebook]"``).
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, final

import reactivex
from reactivex import abc

from rx_itty._png import Canvas
from rx_itty.exceptions import InvalidOptionError, MissingDependency
from rx_itty.presence import Presence

__all__ = ["LiveView", "Sparkline", "live", "roster", "sparkline"]

T = TypeVar("T")


def _ipython() -> Any:
    try:
        from IPython import display
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise MissingDependency(
            "rx_itty.notebook needs IPython: pip install 'rx_itty[notebook]'"
        ) from exc
    return display


@final
class LiveView(Generic[T], abc.DisposableBase):
    """One live output in a notebook cell; dispose to stop updating it."""

    def __init__(
        self,
        source: reactivex.Observable[T],
        render: Callable[[T], Any],
        *,
        max_fps: float,
        initial: Any,
    ) -> None:
        display = _ipython()
        self._render = render
        self._interval = 1.0 / max_fps
        self._lock = threading.Lock()
        self._latest: Any = None
        self._has_latest = False
        self._last_drawn = 0.0
        self._scheduled = False  # a trailing redraw is pending
        self._thread_timer: threading.Timer | None = None
        self.updates = 0
        self.errors: list[Exception] = []
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._handle = display.display(initial, display_id=True)
        self._subscription = source.subscribe(self._on_next, self._on_error)

    def _on_next(self, value: T) -> None:
        try:
            picture = self._render(value)
        except Exception as exc:
            self._on_error(exc)
            return
        with self._lock:
            self._latest, self._has_latest = picture, True
            if self._scheduled:
                return  # the pending redraw will show this latest picture
            wait = self._last_drawn + self._interval - time.monotonic()
            if wait > 0:
                self._scheduled = True
                self._draw_later(wait)
                return
        self._draw()

    def _draw_later(self, delay: float) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.call_later, delay, self._draw)
        else:
            self._thread_timer = threading.Timer(delay, self._draw)
            self._thread_timer.daemon = True
            self._thread_timer.start()

    def _draw(self) -> None:
        with self._lock:
            self._scheduled = False
            if not self._has_latest or self._handle is None:
                return
            picture, self._has_latest = self._latest, False
            self._last_drawn = time.monotonic()
        if self._loop is not None and not self._loop.is_closed() and not self._on_loop():
            # Updates go out from the kernel's own loop, like every other output.
            self._loop.call_soon_threadsafe(self._update, picture)
        else:
            self._update(picture)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _update(self, picture: Any) -> None:
        if self._handle is not None:
            # A fresh context: the socket's reader task carries the context of
            # the cell that opened it, and ipykernel would attribute the update
            # to that old cell (nbclient then drops it from the saved notebook).
            contextvars.Context().run(self._handle.update, picture)
            self.updates += 1

    def _on_error(self, error: Exception) -> None:
        self.errors.append(error)
        if self._handle is not None:
            text = f"stream failed: {type(error).__name__}: {error}"
            self._update(_ipython().HTML(f"<pre>{html.escape(text)}</pre>"))

    def dispose(self) -> None:
        """Stop updating; the last output stays in the cell."""
        self._subscription.dispose()
        with self._lock:
            if self._thread_timer is not None:
                self._thread_timer.cancel()
        self._draw_final()

    def _draw_final(self) -> None:
        with self._lock:
            pending, self._has_latest = self._has_latest, False
            picture = self._latest
        if pending:
            self._update(picture)
        self._handle = None


def live(
    source: reactivex.Observable[T],
    render: Callable[[T], Any] = repr,
    *,
    max_fps: float = 10.0,
    initial: Any = "waiting for the first value…",
) -> LiveView[T]:
    """Display ``render(value)`` in this cell, updated live as ``source`` emits.

    Args:
        source: Any Observable (subscribed at once).
        render: Turns a value into something IPython displays (str, HTML, SVG...).
        max_fps: At most this many redraws a second; the latest value always shows.
        initial: What to show before the first value.

    Returns:
        A :class:`LiveView`; ``dispose()`` it to stop.
    """
    if not max_fps > 0:
        raise InvalidOptionError(f"live(max_fps=...) must be positive, got {max_fps!r}")
    return LiveView(source, render, max_fps=max_fps, initial=initial)


@final
class Sparkline:
    """A small line chart of numbers that Jupyter shows as SVG, or as PNG where SVG is dropped.

    Both pictures are drawn only when displayed (``_repr_svg_``, ``_repr_png_``),
    so making one per value, as :func:`sparkline` does, costs a copy of the values.
    The PNG is drawn in pure Python: no imaging library is needed. A value that is
    not finite (NaN, an infinity) leaves a gap in the line and no mark on the scale;
    the caption still shows it when it is the last.

    Args:
        values: The numbers, oldest first (at least one).
        width: Width in pixels.
        height: Height of the plot in pixels; the caption adds 18 below it.
        label: Text before the caption's numbers (a unit, a name).

    Raises:
        InvalidOptionError: ``values`` is empty.
    """

    def __init__(
        self, values: Iterable[float], *, width: int = 360, height: int = 80, label: str = ""
    ) -> None:
        self.values = tuple(float(v) for v in values)
        if not self.values:
            raise InvalidOptionError("a sparkline needs at least one value")
        self.width = width
        self.height = height
        self.label = label

    @property
    def caption(self) -> str:
        """``label last  (min low, max high)``, numbers to three significant digits
        (min and max of the finite values; left out when there is none)."""
        finite = [v for v in self.values if math.isfinite(v)]
        last = f"{self.label} {self.values[-1]:.3g}"
        if not finite:
            return last.strip()
        return f"{last}  (min {min(finite):.3g}, max {max(finite):.3g})".strip()

    def _runs(self) -> list[list[tuple[float, float]]]:
        """The line's pieces in pixels: one per run of finite values."""
        finite = [v for v in self.values if math.isfinite(v)]
        if not finite:
            return []
        # Halves, so that even a span from -1e308 to 1e308 stays finite.
        low, high = min(finite) / 2, max(finite) / 2
        span = (high - low) or 1.0
        step = self.width / max(len(self.values) - 1, 1)
        usable = self.height - 8  # 4 px free above and below the line
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(self.values):
            if math.isfinite(v):
                runs[-1].append((i * step, self.height - 4 - (v / 2 - low) / span * usable))
            elif runs[-1]:
                runs.append([])
        return [run for run in runs if run]

    def _repr_svg_(self) -> str:
        lines = "".join(
            '<polyline fill="none" stroke="#3572a5" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            + '"/>'
            for run in self._runs()
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height + 18}">{lines}'
            f'<text x="0" y="{self.height + 14}" font-family="sans-serif" font-size="12">'
            f"{html.escape(self.caption)}</text></svg>"
        )

    def _repr_png_(self) -> bytes:
        canvas = Canvas(self.width, self.height + 18)
        for run in self._runs():
            for a, b in itertools.pairwise(run):
                canvas.line(a, b, _LINE_RGB, 2)
            if len(run) == 1:
                canvas.dot(round(run[0][0]), round(run[0][1]) - 1, _LINE_RGB, 2)
        canvas.text(0, self.height + 5, self.caption, _TEXT_RGB)
        return canvas.png()

    def __repr__(self) -> str:  # what a plain-text viewer shows
        return f"<Sparkline {self.caption}>"


_LINE_RGB = (0x35, 0x72, 0xA5)
_TEXT_RGB = (0x22, 0x22, 0x22)


def sparkline(
    maxlen: int = 60, *, width: int = 360, height: int = 80, label: str = ""
) -> Callable[[float], Sparkline]:
    """A ``render`` for :func:`live` drawing the last ``maxlen`` numbers as a line chart.

    Each value gives a :class:`Sparkline` (SVG, with a PNG alongside for viewers
    that do not show SVG, and a text caption).
    """
    values: deque[float] = deque(maxlen=maxlen)

    def render(value: float) -> Sparkline:
        values.append(float(value))
        return Sparkline(values, width=width, height=height, label=label)

    return render


def roster() -> Callable[[Presence], Presence]:
    """A ``render`` for :func:`live` showing a :class:`~rx_itty.presence.Presence` as a table.

    A presence renders itself as a table in Jupyter; this names that for ``live``.
    """

    def render(presence: Presence) -> Presence:
        return presence

    return render
