"""rx_itty.exceptions: one root, documented stdlib bases, and a closed tree.

The last part scans every module of the package for ``raise`` statements and
proves that whatever rx_itty raises on purpose is an ``IttyError``, apart from
a short, reasoned allow-list.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import rx_itty
from rx_itty import exceptions
from rx_itty.exceptions import (
    BackplaneUnavailable,
    ConnectionFailed,
    HandshakeRejected,
    InvalidOptionError,
    IttyError,
    LoopThreadError,
    MissingDependency,
    PayloadMismatch,
    RecordingError,
    RelayConfigError,
    RelayNotStarted,
    ReplyTimeout,
    SendQueueFull,
    SerializationError,
    SocketDisposed,
    StreamOverflow,
    StreamTimeout,
)

# What ``except <stdlib class>`` a user may write instead of ``except IttyError``.
STDLIB_BASE: dict[type[IttyError], type[BaseException]] = {
    InvalidOptionError: ValueError,
    SerializationError: TypeError,
    PayloadMismatch: TypeError,
    RelayConfigError: ValueError,
    RecordingError: ValueError,
    ConnectionFailed: ConnectionError,
    HandshakeRejected: ConnectionError,
    SendQueueFull: BufferError,
    StreamOverflow: BufferError,
    StreamTimeout: TimeoutError,
    ReplyTimeout: TimeoutError,
    SocketDisposed: RuntimeError,
    LoopThreadError: RuntimeError,
    RelayNotStarted: RuntimeError,
    BackplaneUnavailable: ConnectionError,
    MissingDependency: ImportError,
}

EXPORTED: list[type[BaseException]] = [getattr(exceptions, name) for name in exceptions.__all__]


# -- the classes -------------------------------------------------------------


@pytest.mark.parametrize("cls", EXPORTED, ids=lambda c: c.__name__)
def test_every_exported_exception_derives_from_itty_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, IttyError)


@pytest.mark.parametrize(("cls", "base"), STDLIB_BASE.items(), ids=lambda c: c.__name__)
def test_each_exception_can_also_be_caught_as_its_stdlib_base(
    cls: type[IttyError], base: type[BaseException]
) -> None:
    error = HandshakeRejected("ws://h/c/room", 403) if cls is HandshakeRejected else cls("boom")
    with pytest.raises(base):
        raise error


def test_the_stdlib_base_table_covers_every_exception_but_the_root() -> None:
    assert set(STDLIB_BASE) == set(EXPORTED) - {IttyError}


def test_the_root_is_a_plain_exception() -> None:
    assert IttyError.__bases__ == (Exception,)


def test_handshake_rejected_is_a_connection_failure() -> None:
    assert issubclass(HandshakeRejected, ConnectionFailed)
    with pytest.raises(ConnectionFailed):
        raise HandshakeRejected("ws://h/c/room", 403)


# -- HandshakeRejected ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (403, "pass the channel's join_key"),
        (404, "check the server URL; channels live under /c/"),
        (429, "slow down and retry later"),
        (400, "check the server URL and options"),
        (500, "check the server URL and options"),
    ],
)
def test_handshake_rejected_says_what_to_do_for_each_status(status: int, hint: str) -> None:
    error = HandshakeRejected("ws://h/c/room", status)
    assert str(error) == f"server refused ws://h/c/room with HTTP {status}; {hint}"


def test_handshake_rejected_says_a_join_key_given_is_the_wrong_one() -> None:
    error = HandshakeRejected("ws://h/c/room", 403, "A valid joinKey is required.", key_given=True)
    assert str(error) == (
        "server refused ws://h/c/room with HTTP 403: A valid joinKey is required; "
        "the join_key given is not this channel's: check it"
    )


def test_handshake_rejected_does_not_repeat_advice_the_reason_already_gives() -> None:
    error = HandshakeRejected("ws://h/c/r", 429, "Too many new connections: try again in a second.")
    assert str(error) == (
        "server refused ws://h/c/r with HTTP 429: Too many new connections: try again in a second"
    )


def test_handshake_rejected_keeps_status_and_reason_as_attributes() -> None:
    error = HandshakeRejected("ws://h/c/room", 403, "A valid joinKey is required.")
    assert (error.status, error.reason) == (403, "A valid joinKey is required.")


def test_handshake_rejected_quotes_the_servers_reason_without_its_full_stop() -> None:
    error = HandshakeRejected("ws://h/c/room", 403, "A valid joinKey is required.")
    assert str(error) == (
        "server refused ws://h/c/room with HTTP 403: A valid joinKey is required; "
        "pass the channel's join_key"
    )


def test_handshake_rejected_without_a_reason_has_an_empty_reason() -> None:
    error = HandshakeRejected("ws://h/c/room", 429)
    assert error.reason == ""
    assert "\n" not in str(error)


# -- the tree in the module docstring ------------------------------------------------

_TREE_LINE = re.compile(r"(?P<name>[A-Z]\w+)(?:\s+\(also an? (?P<base>\w+)\))?")


@dataclass(frozen=True)
class TreeNode:
    name: str
    parent: str | None
    also: str | None


def documented_tree() -> list[TreeNode]:
    """The drawn tree: each class, its parent in the drawing and its ``(also a X)`` base."""
    doc = exceptions.__doc__ or ""
    lines = doc.split("::", 1)[1].strip("\n").split("\n\n", 1)[0].splitlines()
    nodes: list[TreeNode] = []
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in lines:
        found = _TREE_LINE.search(line)
        assert found is not None, f"unreadable tree line: {line!r}"
        column, name = found.start("name"), found["name"]
        while stack and stack[-1][0] >= column:
            stack.pop()
        nodes.append(TreeNode(name, stack[-1][1] if stack else None, found["base"]))
        stack.append((column, name))
    return nodes


def test_the_docstring_tree_lists_exactly_the_exported_exceptions() -> None:
    names = [node.name for node in documented_tree()]
    assert len(names) == len(set(names))
    assert set(names) == set(exceptions.__all__)


def test_the_docstring_tree_draws_each_class_under_its_real_parent() -> None:
    for node in documented_tree():
        cls = getattr(exceptions, node.name)
        if node.parent is None:
            assert cls is IttyError
        else:
            assert cls.__bases__[0] is getattr(exceptions, node.parent), node.name


def test_the_docstring_tree_names_each_stdlib_base_that_is_mixed_in() -> None:
    for node in documented_tree():
        cls = getattr(exceptions, node.name)
        mixed_in = [base.__name__ for base in cls.__bases__[1:]]
        assert mixed_in == ([node.also] if node.also else []), node.name


# -- the tree is closed: every raise in rx_itty is an IttyError --------------------

PACKAGE = Path(rx_itty.__file__).parent


@dataclass(frozen=True)
class Raised:
    """One ``raise`` statement of the package."""

    module: str
    qualname: str
    expr: str
    line: int


@dataclass(frozen=True)
class Allowed:
    """An exception that is not an IttyError, and why that is right."""

    module: str
    qualname: str
    exception: str
    reason: str


# Protocol exceptions: Python itself expects exactly these from these methods.
PROTOCOL = [
    Allowed(
        "rx_itty._lazy",
        "lazy_exports.<locals>.__getattr__",
        "AttributeError",
        "a module __getattr__ (PEP 562) must raise AttributeError for unknown names",
    ),
    Allowed(
        "rx_itty.events",
        "Message.__getitem__",
        "KeyError",
        "the mapping protocol: m[key] raises KeyError, which get() and `in` rely on",
    ),
    Allowed(
        "rx_itty.streams",
        "AsyncStreamIterator.__anext__",
        "StopAsyncIteration",
        "the async iterator protocol ends `async for` with StopAsyncIteration",
    ),
    Allowed(
        "rx_itty.streams",
        "StreamIterator.__next__",
        "StopIteration",
        "the iterator protocol ends `for` with StopIteration",
    ),
]

# Which method each protocol exception belongs to.
PROTOCOL_METHOD = {
    "AttributeError": "__getattr__",
    "KeyError": "__getitem__",
    "StopAsyncIteration": "__anext__",
    "StopIteration": "__next__",
}

# argparse converts ArgumentTypeError from a `type=` converter into a usage error.
ARGPARSE_CONVERTERS = [
    Allowed(
        "rx_itty.cli.options",
        name,
        "ArgumentTypeError",
        "an argparse type= converter; argparse turns it into a usage message and exit 2",
    )
    for name in ("port", "utf8", "text", "server", "positive", "whole", "count", "level_name")
]

# Private control flow: raised and caught inside the same module, never seen by a user.
CONTROL_FLOW = [
    *(
        Allowed(
            "rx_itty.relay.http_push",
            qualname,
            "_Refused",
            "carries an HTTP status from reading a request to _one_request, which answers it",
        )
        for qualname in ("HttpPushListener._read_push", "_Exchange.body")
    ),
    Allowed(
        "rx_itty._json",
        "loads",
        "_TooDeep",
        "a JSONDecodeError, as loads() documents; json_error() names it for the relay",
    ),
    Allowed(
        "rx_itty._json",
        "_unique_pairs",
        "_RepeatedKey",
        "the object_pairs_hook of loads_unique(), which turns it into a JSONDecodeError",
    ),
    Allowed(
        "rx_itty._json",
        "_plain",
        "_NestedTooDeep",
        "unwinds the encoder's walk; dumps() turns it into a SerializationError",
    ),
    Allowed(
        "rx_itty._json",
        "_reject_constant",
        "ValueError",
        "json.loads parse_constant hook rejecting NaN/Infinity; loads() and is_json() catch "
        "it and report orjson's JSONDecodeError or False",
    ),
    Allowed(
        "rx_itty.cli.demo",
        "_Script._at",
        "CancelledError",
        "ends the demo script task early on Ctrl-C; main() suppresses it around that task",
    ),
]

# Raised into a library that expects exactly these from the hook it called.
LIBRARY_HOOKS = [
    Allowed(
        "rx_itty.relay.head",
        "BoundedReader.read_line",
        name,
        "websockets' request parser calls read_line and answers these with 414 or 431",
    )
    for name in ("RequestLineTooLong", "HeaderLineTooLong", "TooManyHeaders")
]

# A JSON decoder's own error, as json.loads raises it: its callers catch JSONDecodeError.
DECODE_ERRORS = [
    Allowed(
        "rx_itty._json",
        "loads_unique",
        "JSONDecodeError",
        "a repeated key, reported as json.loads reports bad JSON; load_config() names it",
    ),
]

ALLOWED = PROTOCOL + ARGPARSE_CONVERTERS + CONTROL_FLOW + LIBRARY_HOOKS + DECODE_ERRORS

# Re-raises of an exception object that rx_itty did not build at that line
# (module, qualname, expression) -> why it may be something other than an IttyError.
RERAISED = {
    ("rx_itty.asyncio.picows", "_PicowsLink._tcp", "error"): (
        "the last TCP connection error, caught by the link's own connect() and reported "
        "as the attempt's close"
    ),
    ("rx_itty._json", "_stdlib_dumps", "error"): (
        "orjson's TypeError, which dumps() documents; wire.encode_frame turns it into "
        "SerializationError"
    ),
    ("rx_itty.streams", "AsyncStreamIterator.__anext__", "item.error"): (
        "the stream's own error (or a StreamOverflow) handed on to the consumer"
    ),
    ("rx_itty.streams", "StreamIterator.__next__", "item.error"): (
        "the stream's own error (or a StreamOverflow) handed on to the consumer"
    ),
}


class _RaiseFinder(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.scope: list[str] = []
        self.found: list[Raised] = []

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        if not isinstance(node, ast.ClassDef):
            self.scope.append("<locals>")
        self.generic_visit(node)
        del self.scope[-1 if isinstance(node, ast.ClassDef) else -2 :]

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _enter

    def visit_Raise(self, node: ast.Raise) -> None:
        if node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            qualname = ".".join(self.scope).removesuffix(".<locals>") or "<module>"
            self.found.append(Raised(self.module, qualname, ast.unparse(target), node.lineno))
        self.generic_visit(node)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_of(module: str) -> ast.Module:
    path = PACKAGE.parent.joinpath(*module.split("."))
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return ast.parse(file.read_text(encoding="utf-8"))


def all_raises() -> Iterator[Raised]:
    for path in sorted(PACKAGE.rglob("*.py")):
        finder = _RaiseFinder(module_name(path))
        finder.visit(ast.parse(path.read_text(encoding="utf-8")))
        yield from finder.found


def resolve(raised: Raised) -> Any:
    """What the raised expression names, looked up in its module (``None``: a local value)."""
    head, *rest = raised.expr.split(".")
    module = importlib.import_module(raised.module)
    if head == "self":
        # self.factory(...): the class is the outermost scope of the qualname.
        value: Any = getattr(module, raised.qualname.split(".")[0])
    elif head in vars(module):
        value = vars(module)[head]
    elif hasattr(builtins, head):
        value = getattr(builtins, head)
    else:
        return None  # a caught or stored exception object being re-raised
    for part in rest:
        value = getattr(value, part)
    return value


def raised_class(raised: Raised) -> type[BaseException] | None:
    """The exception class a raise statement builds, or ``None`` for a re-raised object."""
    value = resolve(raised)
    if value is None:
        return None
    if isinstance(value, type) and issubclass(value, BaseException):
        return value
    # A factory such as self._timeout_error(...): trust its return annotation.
    returned = typing.get_type_hints(value).get("return")
    assert isinstance(returned, type), f"{raised}: cannot tell what {raised.expr} returns"
    assert issubclass(returned, BaseException), raised
    return returned


def allowed_for(raised: Raised, cls: type[BaseException]) -> Allowed | None:
    for entry in ALLOWED:
        if (entry.module, entry.qualname, entry.exception) == (
            raised.module,
            raised.qualname,
            cls.__name__,
        ):
            return entry
    return None


def test_the_scan_sees_the_raises_it_should() -> None:
    found = {(r.module, r.qualname, r.expr) for r in all_raises()}
    # One raise of each kind the scan must understand: a class, a dotted class, a factory.
    assert ("rx_itty.backoff", "Backoff.__post_init__", "InvalidOptionError") in found
    assert ("rx_itty.cli.options", "port", "argparse.ArgumentTypeError") in found
    assert ("rx_itty.socket", "IttySocket.opened", "self._timeout_error") in found


def test_everything_rx_itty_raises_on_purpose_is_an_itty_error() -> None:
    stray = []
    for raised in all_raises():
        cls = raised_class(raised)
        if cls is None or issubclass(cls, IttyError) or allowed_for(raised, cls):
            continue
        stray.append(f"{raised.module}:{raised.line} {raised.qualname} raises {cls.__name__}")
    assert not stray, "raise an IttyError subclass (or allow-list with a reason):\n" + "\n".join(
        stray
    )


def test_every_re_raised_exception_object_is_accounted_for() -> None:
    reraised = {(r.module, r.qualname, r.expr) for r in all_raises() if raised_class(r) is None}
    assert reraised == set(RERAISED)


def test_every_allow_list_entry_still_matches_a_raise() -> None:
    used = set()
    for raised in all_raises():
        cls = raised_class(raised)
        entry = None if cls is None else allowed_for(raised, cls)
        if entry is not None:
            used.add(entry)
    assert [entry for entry in ALLOWED if entry not in used] == []


@pytest.mark.parametrize("entry", PROTOCOL, ids=lambda e: e.exception)
def test_protocol_exceptions_come_only_from_their_protocol_method(entry: Allowed) -> None:
    assert entry.qualname.rsplit(".", 1)[-1] == PROTOCOL_METHOD[entry.exception]


def _names_in(node: ast.expr) -> set[str]:
    return {ast.unparse(n).rsplit(".", 1)[-1] for n in ast.walk(node) if isinstance(n, ast.expr)}


@pytest.mark.parametrize("entry", CONTROL_FLOW, ids=lambda e: e.exception)
def test_control_flow_exceptions_are_caught_in_the_module_that_raises_them(
    entry: Allowed,
) -> None:
    tree = source_of(entry.module)
    catchers: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            catchers |= _names_in(node.type)
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("suppress"):
            for arg in node.args:
                catchers |= _names_in(arg)
    assert entry.exception in catchers, f"{entry.module} never catches {entry.exception}"


def test_private_control_flow_exceptions_are_not_exported() -> None:
    for entry in CONTROL_FLOW:
        module = importlib.import_module(entry.module)
        assert entry.exception not in getattr(module, "__all__", [])


def test_argparse_type_errors_come_only_from_type_converters() -> None:
    converters: set[str] = set()
    for path in (PACKAGE / "cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "type":
                converters |= _names_in(node.value)
    assert {entry.qualname for entry in ARGPARSE_CONVERTERS} <= converters


def test_json_constant_rejection_never_leaves_the_json_module() -> None:
    from rx_itty import _json

    with pytest.raises(_json.JSONDecodeError):
        _json.loads("NaN")
    assert _json.is_json("Infinity") is False
