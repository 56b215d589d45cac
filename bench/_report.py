"""The results table and the header line, shared by the benchmarks.

A :class:`Row` holds one metric's value per repetition for ``baseline`` and
``ours`` (and for any further named figures in ``extra``, shown in columns of
their own); :func:`report` prints the median of each, the median of the
per-repetition ratios ours/baseline with their range, and the verdict against
the row's :class:`Target`. A row may also name one of its ``extra`` figures as
its ``anchor`` (the program users would otherwise run, such as a Node relay):
then the ratios ours/anchor get columns, and a verdict, of their own; and more
of its ``extra`` figures (another variant of ours, such as a faster engine) may
be compared with the anchor too, each in a group of columns of its own.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Literal

from _proc import tree_version

__all__ = ["Row", "Target", "header", "report"]


@dataclass(frozen=True)
class Target:
    """What the ratio ours/baseline must reach: ``op goal``, and optionally a stretch goal."""

    op: Literal[">=", "<="]
    goal: float
    stretch: float | None = None

    def met(self, ratio: float, goal: float) -> bool:
        return ratio >= goal if self.op == ">=" else ratio <= goal

    def verdict(self, ratio: float) -> tuple[bool, str]:
        """Whether ``ratio`` meets the goal, and the result column's text."""
        ok = self.met(ratio, self.goal)
        text = "PASS" if ok else "MISS"
        if self.stretch is not None:
            stretch_ok = self.met(ratio, self.stretch)
            text += f" (stretch {self.stretch:.2f}: {'PASS' if stretch_ok else 'MISS'})"
        return ok, text

    def __str__(self) -> str:
        return f"{self.op} {self.goal:.2f}"


@dataclass(frozen=True)
class Row:
    """One metric: a value per repetition for each side; an info row has no target.

    ``extra`` carries further named figures per repetition (say, another
    implementation measured for reference); each name gets a column of medians.
    ``anchor`` names the ``extra`` figure that ours is also compared with, against
    ``anchor_target`` (None: the ratio is shown for information). ``variants``
    maps more ``extra`` names to their own target against the anchor: each is
    compared with the anchor as ours is (``<name>/<anchor>`` columns).
    """

    name: str
    unit: str
    digits: int
    baseline: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    target: Target | None = None
    extra: dict[str, list[float]] = field(default_factory=dict)
    anchor: str | None = None
    anchor_target: Target | None = None
    variants: dict[str, Target | None] = field(default_factory=dict)

    def values(self, side: str) -> list[float]:
        """The list to append to for ``side``: "baseline", "ours" or an ``extra`` name."""
        if side == "baseline":
            return self.baseline
        if side == "ours":
            return self.ours
        return self.extra.setdefault(side, [])

    def ratios(self, against: str = "baseline", side: str = "ours") -> list[float]:
        """``side``/``against`` per repetition (repetitions where it is zero left out).

        Empty when either was not measured at all.
        """
        others = self.baseline if against == "baseline" else self.extra.get(against, [])
        mine = self.ours if side == "ours" else self.extra.get(side, [])
        if not others or not mine:
            return []
        return [o / b for b, o in zip(others, mine, strict=True) if b > 0]

    def median(self, values: Sequence[float]) -> str:
        return f"{statistics.median(values):,.{self.digits}f}" if values else ""


def header(script: str, anchors: str = "") -> str:
    """The first line of a run: versions (``anchors``' too), cpus, load; which ``rx_itty``."""
    return (
        f"{script}: python {platform.python_version()}, reactivex {version('reactivex')}, "
        f"websockets {version('websockets')}, orjson {version('orjson')}, "
        f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}\n"
        + (f"  anchors: {anchors}\n" if anchors else "")
        + f"  ours: {tree_version()}"
    )


def _comparison(ratios: Sequence[float], target: Target | None) -> tuple[list[str], bool]:
    """The ratio, range, target and result cells for one comparison, and whether it passed.

    No ratios at all (nothing valid was measured) counts as a miss.
    """
    if not ratios:
        return ["", "", "", "(no valid measurement)"], False
    ratio = statistics.median(ratios)
    cells = [f"{ratio:.2f}", f"{min(ratios):.2f}-{max(ratios):.2f}", "", "info"]
    if target is None:
        return cells, True
    ok, cells[3] = target.verdict(ratio)
    cells[2] = str(target)
    return cells, ok


def report(title: str, rows: Sequence[Row], notes: Sequence[str] = ()) -> bool:
    """Print ``title``, the table, ``notes`` and the load; True when every row meets its targets.

    Rows without any values (a scenario that did not run) are left out; a row
    whose ratios cannot be computed counts as a miss. When some row has an
    anchor, the table gains a second group of ratio columns, ours/anchor.
    """
    rows = [row for row in rows if row.baseline or row.ours]
    extras = list(dict.fromkeys(name for row in rows for name in row.extra))
    anchors = list(dict.fromkeys(row.anchor for row in rows if row.anchor is not None))
    variants = list(dict.fromkeys(name for row in rows for name in row.variants))
    cells: list[list[str]] = []
    all_pass = True
    for row in rows:
        texts = [
            row.name,
            row.unit,
            row.median(row.baseline),
            row.median(row.ours),
            *(row.median(row.extra.get(name, ())) for name in extras),
        ]
        compared, ok = _comparison(row.ratios(), row.target)
        texts += compared
        all_pass &= ok
        if row.anchor is not None:
            compared, ok = _comparison(row.ratios(row.anchor), row.anchor_target)
            texts += compared
            all_pass &= ok
            for name in variants:
                if name not in row.variants:
                    texts += ["", "", "", ""]
                    continue
                compared, ok = _comparison(row.ratios(row.anchor, name), row.variants[name])
                texts += compared
                all_pass &= ok
        cells.append(texts)

    titles = ["metric", "unit", "baseline", "ours", *extras]
    titles += ["ours/baseline", "range", "target", "result"]
    results = [len(titles) - 1]
    if anchors:
        anchor = anchors[0] if len(anchors) == 1 else "anchor"
        for name in ("ours", *variants):
            titles += [f"{name}/{anchor}", "range", "target", "result"]
            results.append(len(titles) - 1)
    # Every column but the last is padded to its widest cell.
    widths = [max(len(t), *(len(c[i]) for c in cells if i < len(c))) for i, t in enumerate(titles)]
    texts_left = {0, 1, *results}

    def line(texts: Sequence[str]) -> str:
        # Names and results left-aligned, figures right-aligned; the last column runs free.
        aligned = [
            text.ljust(width) if i in texts_left else text.rjust(width)
            for i, (text, width) in enumerate(zip(texts, widths[:-1], strict=False))
        ]
        return "  ".join([*aligned, *texts[len(aligned) :]])

    print()
    print(title)
    head = line(titles)
    print(head)
    print("-" * len(head))
    for texts in cells:
        print(line(texts).rstrip())
    for note in notes:
        print(note)
    # The machine may be shared: how busy it was says how far to trust the figures.
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return all_pass
