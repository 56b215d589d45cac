"""Reconnect delays: exponential backoff with full jitter, as a pure value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

from rx_itty.exceptions import InvalidOptionError

__all__ = ["Backoff"]


@final
@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before reconnect attempt ``n`` (0-based).

    The ceiling grows as ``initial * factor**n`` up to ``maximum``; with ``jitter``
    ("full jitter") the delay is uniform in ``[0, ceiling)``, which spreads a crowd
    of clients reconnecting to a restarted relay.

    Attributes:
        initial: Ceiling of the first delay, in seconds.
        maximum: Largest ceiling, in seconds.
        factor: Growth per attempt.
        jitter: Draw the delay uniformly below the ceiling.
        max_attempts: Give up after this many failed attempts in a row (``None``: never).
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: bool = True
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.maximum >= self.initial and self.factor >= 1):
            raise InvalidOptionError(
                "Backoff needs initial > 0, maximum >= initial and factor >= 1, "
                f"got initial={self.initial}, maximum={self.maximum}, factor={self.factor}"
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise InvalidOptionError(f"Backoff.max_attempts must be >= 1, got {self.max_attempts}")

    def ceiling(self, attempt: int) -> float:
        """The largest delay for ``attempt`` (0-based)."""
        if attempt > 64:  # avoid float overflow; the maximum was reached long ago
            return self.maximum
        return float(min(self.maximum, self.initial * self.factor**attempt))

    def delay(self, attempt: int, random: Callable[[], float]) -> float | None:
        """Seconds to wait before ``attempt``, or ``None`` once ``max_attempts`` is used up.

        Args:
            attempt: 0 for the first reconnect after a drop.
            random: A uniform ``[0, 1)`` source (``random.random``, or a fixed one in tests).
        """
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        ceiling = self.ceiling(attempt)
        return random() * ceiling if self.jitter else ceiling
