"""The ``rx-itty`` parser: one-line usage errors and help for every command."""

from __future__ import annotations

import logging
import re
import sys

import pytest

from rx_itty.cli.app import _TerminalSafeFormatter
from tests.cli.support import run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["listen"], "the following arguments are required: CHANNEL"),
        (["listen", ""], "argument CHANNEL: must not be empty"),
        (["listen", "room", "--server", "http://x/c/"], "must start with ws:// or wss://"),
        (["listen", "room", "--bogus"], "unrecognized arguments: --bogus"),
        (["send", "room"], "the following arguments are required: MESSAGE"),
        (["send", "room", "x", "--to", ""], "argument --to: must not be empty"),
        (["send", "room", "x", "--timeout", "0"], "must be a positive number"),
        (["send", "room", "x", "--timeout", "soon"], "must be a number"),
        (["send", "room", "x", "--as", ""], "argument --as: must not be empty"),
        (["demo", "--speed", "-1"], "must be a positive number"),
        (["demo", "--seed", "x"], "must be a whole number"),
        (["--log-level", "loud", "demo"], "argument --log-level: must be one of debug, info"),
        (["demo", "--log-level", "loud"], "argument --log-level: must be one of debug, info"),
    ],
)
@pytest.mark.asyncio
async def test_client_commands_reject_bad_arguments_in_one_line(
    args: list[str], message: str
) -> None:
    code, out, err = await run(args)
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("command", "documented"),
    [
        ("listen", "TIME KIND WHO DETAIL"),
        ("listen", "--record FILE"),
        ("send", "MESSAGE is sent as JSON if it is valid JSON, else as a string"),
        ("send", "MESSAGE - reads stdin: one message per line"),
        ("send", "$RX_ITTY_SEND_KEY"),
        ("demo", "--speed"),
        ("serve", "--port"),
    ],
)
@pytest.mark.asyncio
async def test_every_command_documents_itself(command: str, documented: str) -> None:
    code, out, _ = await run([command, "--help"])
    assert code == 0
    assert documented in out


@pytest.mark.parametrize("command", ["listen", "send", "serve", "demo"])
@pytest.mark.asyncio
async def test_every_command_takes_the_output_options_after_its_name(command: str) -> None:
    code, out, _ = await run([command, "--help"])
    assert code == 0
    for option in ("-v, --verbose", "-q, --quiet", "--log-level LEVEL"):
        assert option in out


@pytest.mark.asyncio
async def test_version_prints_the_versions_and_exits_0() -> None:
    code, out, err = await run(["--version"])
    assert (code, err) == (0, "")
    assert re.fullmatch(
        r"rx-itty \d+\.\d+\.\d+\S* \(websockets \S+, reactivex \S+, Python 3\.\d+\.\d+\S*\)\n", out
    )


def test_log_lines_escape_control_characters_but_keep_a_tracebacks_lines() -> None:
    formatter = _TerminalSafeFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "rx_itty", logging.ERROR, __file__, 1, "channel %s: \x1b[2J\x9b", ("a\nb",), exc_info
    )
    lines = formatter.format(record).splitlines()
    assert lines[0] == "ERROR channel a\\nb: \\x1b[2J\\x9b"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"
