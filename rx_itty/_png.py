"""A tiny raster canvas that writes PNG, in pure Python (zlib only).

Enough to draw a line chart and a one-line caption for notebook viewers that
show PNG but drop SVG; no imaging library needed.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final, final

__all__ = ["Canvas"]

Color = tuple[int, int, int]

# A 3x5 pixel font: five rows of three bits per glyph, top row first. Capitals
# are drawn as small letters; a character not here is drawn as "?".
_GLYPHS: Final = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001001001", "8": "111101111101111",
    "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "+": "000010111010000", "(": "001010010010001", ")": "100010010010100",
    ",": "000000000010100", ":": "000010000010000", "°": "010101010000000",
    "%": "101001010100101", "/": "001001010100100", "_": "000000000000111",
    " ": "000000000000000", "?": "111001010000010",
    "a": "000011101101011", "b": "100110101101110", "c": "000011100100011",
    "d": "001011101101011", "e": "010101111100011", "f": "011100110100100",
    "g": "011101011001110", "h": "100110101101101", "i": "010000010010010",
    "j": "001000001001110", "k": "100101110101101", "l": "110010010010111",
    "m": "000111111101101", "n": "000110101101101", "o": "000010101101010",
    "p": "000110101110100", "q": "000011101011001", "r": "000101110100100",
    "s": "000011110011110", "t": "010111010010011", "u": "000101101101011",
    "v": "000101101101010", "w": "000101101111111", "x": "000101010101101",
    "y": "101101011001110", "z": "000111011110111",
}  # fmt: skip


@final
class Canvas:
    """An RGB raster, white unless painted; :meth:`png` encodes it.

    Args:
        width: Pixels across.
        height: Pixels down.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._pixels = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x: int, y: int, color: Color, size: int = 1) -> None:
        """Paint a ``size`` x ``size`` square from (x, y); what falls outside is dropped."""
        for row in range(max(y, 0), min(y + size, self.height)):
            start = (row * self.width + max(x, 0)) * 3
            end = (row * self.width + min(x + size, self.width)) * 3
            if end > start:
                self._pixels[start:end] = bytes(color) * ((end - start) // 3)

    def line(
        self, a: tuple[float, float], b: tuple[float, float], color: Color, width: int
    ) -> None:
        """A straight line from ``a`` to ``b``, ``width`` pixels thick."""
        (x0, y0), (x1, y1) = a, b
        steps = max(int(max(abs(x1 - x0), abs(y1 - y0))), 1)
        half = width // 2
        for i in range(steps + 1):
            x = x0 + (x1 - x0) * i / steps
            y = y0 + (y1 - y0) * i / steps
            self.dot(round(x) - half, round(y) - half, color, width)

    def text(self, x: int, y: int, text: str, color: Color, scale: int = 2) -> None:
        """Write ``text`` with its top-left corner at (x, y), each font pixel ``scale`` wide."""
        for char in text:
            glyph = _GLYPHS.get(char.lower(), _GLYPHS["?"])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    self.dot(x + i % 3 * scale, y + i // 3 * scale, color, scale)
            x += 4 * scale

    def png(self) -> bytes:
        """The canvas as a PNG file (8-bit RGB, no filter)."""
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + self._pixels[row * stride : (row + 1) * stride] for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"".join(
            (b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(raw)))
        ) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
