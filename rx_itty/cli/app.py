"""The ``rx-itty`` command line (also ``python -m rx_itty``): the parser and ``main``.

Commands (each in its own module of :mod:`rx_itty.cli`):
    serve   run a wire-compatible relay until SIGINT/SIGTERM.
    listen  print a channel's events, one line each (``--json`` for JSON lines).
    send    send one message (JSON if it parses as JSON, else a string) and exit.
    demo    a relay, scripted participants and Rx pipelines, offline, ~10 s.

Exit statuses: 0 done (a signal is a normal way to stop), 1 could not listen,
connect or send, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from rx_itty.cli import demo, listen, send, serve
from rx_itty.cli.common import error
from rx_itty.exceptions import IttyError

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options, then one subcommand."""
    parser = _Parser(prog="rx-itty", description="ReactiveX client and relay for itty-sockets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in (serve, listen, send, demo):
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A payload in a script the terminal cannot encode is escaped, not a crash.
        sys.stdout.reconfigure(errors="backslashreplace")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        code: int = args.run(args)
    except IttyError as exc:  # a value the parser cannot check: config, channel name, ...
        error(str(exc))
        return 2
    except KeyboardInterrupt:  # Ctrl-C before a command installed its own handler
        return 0
    return code
