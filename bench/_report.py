"""The results table and the header line, shared by the benchmarks.

A :class:`Row` holds one metric's value per repetition for ``baseline`` and
``ours`` (and for any further named figures in ``extra``, shown in columns of
their own); :func:`report` prints the median of each, the median of the
per-repetition ratios ours/baseline with their range, and the verdict against
the row's :class:`Target`.
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
    """

    name: str
    unit: str
    digits: int
    baseline: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    target: Target | None = None
    extra: dict[str, list[float]] = field(default_factory=dict)

    def values(self, side: str) -> list[float]:
        """The list to append to for ``side``: "baseline", "ours" or an ``extra`` name."""
        if side == "baseline":
            return self.baseline
        if side == "ours":
            return self.ours
        return self.extra.setdefault(side, [])

    def ratios(self) -> list[float]:
        """ours/baseline per repetition (repetitions with a zero baseline left out)."""
        return [o / b for b, o in zip(self.baseline, self.ours, strict=True) if b > 0]

    def median(self, values: Sequence[float]) -> str:
        return f"{statistics.median(values):,.{self.digits}f}" if values else ""


def header(script: str) -> str:
    """The first line of a run: versions, cpus, load; and which ``rx_itty`` is measured."""
    return (
        f"{script}: python {platform.python_version()}, reactivex {version('reactivex')}, "
        f"websockets {version('websockets')}, orjson {version('orjson')}, "
        f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}\n"
        f"  ours: {tree_version()}"
    )


def report(title: str, rows: Sequence[Row], notes: Sequence[str] = ()) -> bool:
    """Print ``title``, the table and ``notes``; True when every row meets its target.

    Rows without any values (a scenario that did not run) are left out; a row
    whose ratios cannot be computed counts as a miss.
    """
    rows = [row for row in rows if row.baseline or row.ours]
    extras = list(dict.fromkeys(name for row in rows for name in row.extra))
    cells: list[list[str]] = []
    all_pass = True
    for row in rows:
        figures = [
            row.median(row.baseline),
            row.median(row.ours),
            *(row.median(row.extra.get(name, ())) for name in extras),
        ]
        ratios = row.ratios()
        if not ratios:
            all_pass = False
            cells.append([row.name, row.unit, *figures, "", "", "", "(no valid measurement)"])
            continue
        ratio = statistics.median(ratios)
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        target, result = "", "info"
        if row.target is not None:
            ok, result = row.target.verdict(ratio)
            all_pass &= ok
            target = str(row.target)
        cells.append([row.name, row.unit, *figures, f"{ratio:.2f}", spread, target, result])

    titles = ["metric", "unit", "baseline", "ours", *extras, "ratio", "ratio range", "target"]
    widths = [max(len(t), *(len(c[i]) for c in cells)) for i, t in enumerate(titles)]

    def line(texts: Sequence[str]) -> str:
        # Text columns left-aligned, figures right-aligned; the result column runs free.
        aligned = [
            text.ljust(width) if i < 2 else text.rjust(width)
            for i, (text, width) in enumerate(zip(texts, widths, strict=False))
        ]
        return "  ".join(aligned) + "  " + " ".join(texts[len(widths) :])

    print()
    print(title)
    head = line([*titles, "result"])
    print(head)
    print("-" * len(head))
    for texts in cells:
        print(line(texts).rstrip())
    for note in notes:
        print(note)
    return all_pass
