"""Reconnect delays: exponential backoff with full jitter, as a pure value."""

from __future__ import annotations

import math
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

    A socket counts every reconnect as an attempt and starts the count over only
    once a connection has stayed up, greeted by the relay, for ``reset_after``
    seconds: a server that accepts and closes at once (or greets and then closes)
    sees the delays grow to ``maximum`` instead of being hammered.

    Attributes:
        initial: Ceiling of the first delay, in seconds.
        maximum: Largest ceiling, in seconds.
        factor: Growth per attempt.
        jitter: Draw the delay uniformly below the ceiling.
        max_attempts: Give up after this many attempts with no connection that stayed
            up ``reset_after`` seconds in between (``None``: never give up).
        reset_after: Seconds a connection must stay up after our own join before
            the attempt count starts over.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: bool = True
    max_attempts: int | None = None
    reset_after: float = 5.0

    def __post_init__(self) -> None:
        numbers = {
            "initial": self.initial,
            "maximum": self.maximum,
            "factor": self.factor,
            "reset_after": self.reset_after,
        }
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidOptionError(f"Backoff.{name} must be a number, got {value!r}")
        if not (0 < self.initial <= self.maximum < math.inf and 1 <= self.factor < math.inf):
            raise InvalidOptionError(
                "Backoff needs 0 < initial <= maximum (finite) and a finite factor >= 1, "
                f"got initial={self.initial}, maximum={self.maximum}, factor={self.factor}"
            )
        if not 0 <= self.reset_after < math.inf:
            raise InvalidOptionError(
                f"Backoff.reset_after must be a finite number >= 0, got {self.reset_after!r}"
            )
        attempts = self.max_attempts
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
        ):
            raise InvalidOptionError(
                f"Backoff.max_attempts must be a whole number >= 1 or None, got {attempts!r}"
            )

    def ceiling(self, attempt: int) -> float:
        """The largest delay for ``attempt`` (0-based)."""
        if attempt <= 0 or self.factor == 1:
            return float(self.initial)
        # Compare exponents, not powers: initial * factor**attempt overflows a float
        # long before a steep factor's attempt count looks large.
        if attempt * math.log(self.factor) >= math.log(self.maximum / self.initial):
            return float(self.maximum)
        return float(min(self.maximum, self.initial * self.factor**attempt))

    def allows(self, attempt: int) -> bool:
        """True unless ``max_attempts`` are used up before ``attempt`` (0-based)."""
        return self.max_attempts is None or attempt < self.max_attempts

    def delay(self, attempt: int, random: Callable[[], float]) -> float | None:
        """Seconds to wait before ``attempt``, or ``None`` once ``max_attempts`` is used up.

        Args:
            attempt: 0 for the first reconnect after a drop.
            random: A uniform ``[0, 1)`` source (``random.random``, or a fixed one in tests).
        """
        if not self.allows(attempt):
            return None
        ceiling = self.ceiling(attempt)
        return random() * ceiling if self.jitter else ceiling
