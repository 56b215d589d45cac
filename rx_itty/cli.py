"""The ``rx-itty`` command line (also ``python -m rx_itty``).

Commands:
    serve   run a wire-compatible relay until SIGINT/SIGTERM.
    listen  print a channel's events, one line each (``--json`` for JSON lines).
    send    send one message (JSON if it parses as JSON, else a string) and exit.
    demo    a relay, scripted participants and Rx pipelines, offline, ~10 s.

Exit statuses: 0 done (a signal is a normal way to stop), 1 could not listen,
connect or send, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from rx_itty import _demo
from rx_itty._cli_format import parse_message
from rx_itty._cli_listen import ListenOptions, listen
from rx_itty._cli_send import SendOptions, send
from rx_itty.client import SERVER_ENV
from rx_itty.exceptions import IttyError
from rx_itty.relay import Relay, RelayConfig, load_config
from rx_itty.wire import DEFAULT_BASE, is_raw_url

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0 picks a free one), got {port}")
    return port


def _text(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _server(text: str) -> str:
    if not is_raw_url(text):
        raise argparse.ArgumentTypeError(
            f"must start with ws:// or wss://, e.g. ws://127.0.0.1:8080/c/, got {text!r}"
        )
    return text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


_SERVER_HELP = f"relay base URL for channel names (default ${SERVER_ENV}, else {DEFAULT_BASE})"
_LISTEN_EPILOG = """\
Each event is one line, TIME KIND WHO DETAIL:
  12:00:01.234 join    Alice (k3v9qa) [you]  total=1
  12:00:02.500 message Bob (p0x7zq)  {"type":"chat","text":"hi"}
  12:00:03.000 leave   (anonymous)  total=1
With --json, one object per line, with these keys (null when unknown):
  message  event date uid alias type message     join   event date uid alias self total users
  leave    event date uid alias total            error  event date message
After the first connection, a lost one reconnects by itself.
Exit status: 0 stopped by Ctrl-C or SIGTERM, 1 refused or unreachable, 2 bad arguments.
"""
_SEND_EPILOG = """\
MESSAGE is sent as JSON if it is valid JSON, else as a string:
  '{"type":"chat","text":"hi"}'  an object      42, true, null   a number, boolean, null
  hello                          the string hello
  '"42"'                         the string 42 (or: --raw-string 42)

The relay acknowledges nothing, so after MESSAGE rx-itty sends itself a direct
message and waits for it: frames are handled in order, so by the time it comes
back any refusal (unknown --to uid, missing --send-key, rate limit) has arrived.
Exit status: 0 sent, 1 refused or could not connect, 2 bad arguments.
"""


def _add_client_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "channel", metavar="CHANNEL", type=_text, help="channel name, or a full ws:// URL"
    )
    command.add_argument("--server", type=_server, metavar="URL", help=_SERVER_HELP)
    command.add_argument("--as", dest="alias", type=_text, metavar="ALIAS", help="your alias")
    command.add_argument("--join-key", type=_text, metavar="KEY", help="the channel's join key")


def _add_client_commands(commands: Callable[..., argparse.ArgumentParser]) -> None:
    listen_cmd = commands(
        "listen",
        help="print a channel's events, one line each",
        description="Print a channel's events, one line each, until Ctrl-C or SIGTERM.\n"
        "Events go to stdout, status lines (connecting, open, reconnecting) to stderr.",
        epilog=_LISTEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_client_options(listen_cmd)
    listen_cmd.add_argument(
        "--type", metavar="T", help="only messages whose payload type is T (and errors)"
    )
    listen_cmd.add_argument(
        "--json", action="store_true", help="one JSON object per line, with fixed keys per kind"
    )
    listen_cmd.add_argument(
        "--announce", action="store_true", help="show your uid and alias in others' joins"
    )
    send_cmd = commands(
        "send",
        help="send one message and exit",
        description="Send one message to a channel or to one uid, wait for the relay's\n"
        "answer, close and exit.",
        epilog=_SEND_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_client_options(send_cmd)
    send_cmd.add_argument(
        "message", metavar="MESSAGE", help="a JSON value, or any other text to send as a string"
    )
    send_cmd.add_argument("--to", type=_text, metavar="UID", help="send a direct message to UID")
    send_cmd.add_argument("--send-key", type=_text, metavar="KEY", help="the channel's send key")
    send_cmd.add_argument(
        "--raw-string", action="store_true", help="send MESSAGE as a string even if it is JSON"
    )
    send_cmd.add_argument(
        "--timeout",
        type=_positive,
        default=10.0,
        metavar="S",
        help="seconds to connect, and to wait for the relay's answer (default 10)",
    )
    demo_cmd = commands(
        "demo",
        help="watch a channel come alive: embedded relay, bots, Rx pipelines (~10 s)",
        description="Start a relay in this process (no internet needed), a few scripted "
        "participants, and Rx pipelines over what they send; prints what happens and a "
        "summary, then exits. Ctrl-C stops it early.",
    )
    demo_cmd.add_argument(
        "--seed",
        type=_seed,
        default=_demo.DEFAULT_SEED,
        help=f"seed for the sensor's readings (default {_demo.DEFAULT_SEED})",
    )
    demo_cmd.add_argument(
        "--speed", type=_positive, default=1.0, help="play the script faster (2 = twice as fast)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rx-itty", description="ReactiveX client and relay for itty-sockets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser(
        "serve",
        help="run a wire-compatible relay",
        description="Run an itty-sockets relay; prints its URL, stops on Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="TCP port, 0 = any (default 8080)")
    serve.add_argument(
        "--config", metavar="FILE", help="JSON file with namespaces (keys) and limits"
    )
    serve.add_argument(
        "--compression", action="store_true", help="offer permessage-deflate (off by default)"
    )
    serve.add_argument(
        "--no-limits", action="store_true", help="turn off rate and connection limits"
    )
    serve.add_argument(
        "--http-port",
        type=_port,
        metavar="PORT",
        help="also accept HTTP pushes (POST /c/CHANNEL, x-send-key header) on this port",
    )
    _add_client_commands(commands.add_parser)
    return parser


def _serve_config(args: argparse.Namespace) -> RelayConfig:
    config = load_config(args.config) if args.config else RelayConfig()
    limits = config.limits
    if args.no_limits:
        limits = dataclasses.replace(
            limits, messages_per_window=None, connections_per_second=None, ban_seconds=0
        )
    return RelayConfig(
        limits=limits,
        namespaces=config.namespaces,
        compression=config.compression or args.compression,
    )


async def _serve(relay: Relay) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    url = await relay.start()
    print(f"rx_itty relay listening on {url}  (Ctrl-C to stop)", flush=True)
    if relay.http_url is not None:
        print(f"HTTP push: POST {relay.http_url}<channel> with an x-send-key header", flush=True)
    print(f"connect with: rx_itty.connect('{url}my-room')", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await relay.serve_forever()
    print("relay stopped", flush=True)


def _run_serve(args: argparse.Namespace) -> int:
    try:
        config = _serve_config(args)
        relay = Relay(config, host=args.host, port=args.port, http_port=args.http_port)
        asyncio.run(_serve(relay))
    except OSError as exc:
        print(
            f"rx-itty: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_listen(args: argparse.Namespace) -> int:
    options = ListenOptions(
        channel=args.channel,
        server=args.server,
        type=args.type,
        json=args.json,
        alias=args.alias,
        announce=args.announce,
        join_key=args.join_key,
    )
    return asyncio.run(listen(options))


def _run_send(args: argparse.Namespace) -> int:
    options = SendOptions(
        channel=args.channel,
        message=parse_message(args.message, raw_string=args.raw_string),
        to=args.to,
        server=args.server,
        alias=args.alias,
        join_key=args.join_key,
        send_key=args.send_key,
        timeout=args.timeout,
    )
    return asyncio.run(send(options))


def _run_demo(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_demo.main(seed=args.seed, speed=args.speed))
    except OSError as exc:
        print(
            f"rx-itty: error: cannot start the demo relay: {exc.strerror or exc}", file=sys.stderr
        )
        return 1


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _run_serve,
    "listen": _run_listen,
    "send": _run_send,
    "demo": _run_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A payload in a script the terminal cannot encode is escaped, not a crash.
        sys.stdout.reconfigure(errors="backslashreplace")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return _COMMANDS[args.command](args)
    except IttyError as exc:  # a value the parser cannot check: config, channel name, ...
        print(f"rx-itty: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before a command installed its own handler
        return 0
