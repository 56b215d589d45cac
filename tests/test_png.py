"""The pure-Python PNG canvas (``rx_itty._png``): a valid file, and pixels where drawn.

Files are read back by hand (:func:`tests.support.png_chunks`: signature, chunk
order, CRCs; :func:`tests.support.png_rows`: zlib-decoded pixel rows).
"""

from __future__ import annotations

import struct
import zlib

import pytest

from rx_itty._png import Canvas
from tests.support import png_chunks, png_rows

WHITE = b"\xff\xff\xff"
RED = (255, 0, 0)


def pixel(rows: list[bytes], x: int, y: int) -> bytes:
    return rows[y][x * 3 : x * 3 + 3]


def painted(rows: list[bytes]) -> set[tuple[int, int]]:
    """The (x, y) of every pixel that is not white."""
    return {
        (x, y)
        for y, row in enumerate(rows)
        for x in range(len(row) // 3)
        if row[x * 3 : x * 3 + 3] != WHITE
    }


def test_the_file_is_a_png_with_its_size_in_the_header_and_every_crc_right() -> None:
    png = Canvas(7, 3).png()
    chunks = png_chunks(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    header = struct.unpack(">IIBBBBB", chunks[0][1])
    assert header == (7, 3, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no filter, no interlace
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == 3 * (1 + 7 * 3)
    assert [raw[row * 22] for row in range(3)] == [0, 0, 0]  # each row: filter type 0


def test_a_new_canvas_is_white() -> None:
    rows = png_rows(Canvas(4, 2).png())
    assert rows == [WHITE * 4, WHITE * 4]


def test_a_dot_paints_a_square_of_its_size_in_its_colour() -> None:
    canvas = Canvas(6, 6)
    canvas.dot(1, 2, RED, size=2)
    rows = png_rows(canvas.png())
    assert painted(rows) == {(1, 2), (2, 2), (1, 3), (2, 3)}
    assert pixel(rows, 1, 2) == bytes(RED)


@pytest.mark.parametrize(
    ("x", "y", "inside"),
    [
        (-1, -1, {(0, 0), (1, 0), (0, 1), (1, 1)}),  # the corner of a 3x3 dot
        (3, 3, {(3, 3)}),  # only one pixel of it is on the canvas
        (4, 0, set()),
        (0, -3, set()),
    ],
)
def test_what_falls_outside_the_canvas_is_dropped(
    x: int, y: int, inside: set[tuple[int, int]]
) -> None:
    canvas = Canvas(4, 4)
    canvas.dot(x, y, RED, size=3)
    assert painted(png_rows(canvas.png())) == inside


def test_a_line_joins_its_ends_and_has_its_width() -> None:
    canvas = Canvas(10, 10)
    canvas.line((1, 1), (8, 8), RED, 1)
    assert painted(png_rows(canvas.png())) == {(i, i) for i in range(1, 9)}
    thick = Canvas(10, 10)
    thick.line((1, 5), (8, 5), RED, 3)  # 3 thick: each step a 3x3 dot centred on the line
    assert painted(png_rows(thick.png())) == {(x, y) for x in range(10) for y in (4, 5, 6)}


def test_text_draws_each_glyph_from_the_font_at_its_scale() -> None:
    canvas = Canvas(4, 5)
    canvas.text(0, 0, "1", RED, scale=1)
    # The "1" glyph: 010 / 110 / 010 / 010 / 111.
    assert painted(png_rows(canvas.png())) == {
        (1, 0),
        (0, 1),
        (1, 1),
        (1, 2),
        (1, 3),
        (0, 4),
        (1, 4),
        (2, 4),
    }
    big = Canvas(8, 10)
    big.text(0, 0, "1", RED, scale=2)
    assert len(painted(png_rows(big.png()))) == 8 * 4  # each font pixel is 2x2


def test_capitals_are_drawn_as_small_letters_and_unknown_characters_as_a_question_mark() -> None:
    def drawn(text: str) -> list[bytes]:
        canvas = Canvas(12, 5)
        canvas.text(0, 0, text, RED, scale=1)
        return png_rows(canvas.png())

    assert drawn("ABC") == drawn("abc")
    assert drawn("é") == drawn("?")
    assert drawn("é") != drawn(" ")


def test_glyphs_advance_four_font_pixels_each() -> None:
    canvas = Canvas(12, 5)
    canvas.text(0, 0, "..", RED, scale=1)  # the "." glyph is one pixel, bottom middle
    assert painted(png_rows(canvas.png())) == {(1, 4), (5, 4)}
