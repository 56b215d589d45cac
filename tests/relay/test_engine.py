"""The engine seam: choosing an engine, and the frames every engine writes."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from rx_itty.relay.engine import text_frame
from tests.support import run_python


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_a_prepared_frame_is_what_websockets_would_send(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # UTF-8: the length counts bytes
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_the_picows_engine_without_picows_says_which_extra_it_needs() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['picows'] = None  # as if the package were not installed\n"
        "from rx_itty.relay import Relay\n"
        "from rx_itty.exceptions import MissingDependency\n"
        "try:\n"
        "    Relay(engine='picows')\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
        "print('default', Relay().config.engine)\n"
    )
    assert done.stdout.splitlines() == [
        "the picows relay engine needs the picows package: pip install 'rx_itty[fast]'",
        "default websockets",
    ]
