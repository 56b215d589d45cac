"""What both network transports share about received frames: fragments, and nobody."""

from __future__ import annotations

from typing import final

__all__ = ["INVALID_UTF8", "NOBODY", "Fragments"]


@final
class Fragments:
    """A message the server split into several frames, gathered until its last one.

    Args:
        text: The first frame was a text frame (the message is UTF-8), not binary.
    """

    __slots__ = ("_parts", "size", "text")

    def __init__(self, text: bool) -> None:
        self.text = text
        self.size = 0
        self._parts: list[bytes] = []

    def add(self, data: bytes) -> None:
        self._parts.append(data)
        self.size += len(data)

    def message(self) -> str | bytes:
        """The whole message: ``str`` for text, ``bytes`` for binary.

        Raises:
            UnicodeDecodeError: a text message that is not UTF-8.
        """
        data = b"".join(self._parts)
        return data.decode() if self.text else data


@final
class _Nobody:
    """Where a link's frames go once its listener has failed or heard the close: nowhere."""

    __slots__ = ()

    def on_frame(self, data: str | bytes) -> None:
        pass


NOBODY = _Nobody()

INVALID_UTF8 = "invalid UTF-8 in a text message"
