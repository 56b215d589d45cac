"""The public surface: every exported name exists where it always did, and faces stay cheap."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import rx_itty
from tests.support import run_python

PACKAGE = Path(rx_itty.__file__).parent

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(rx_itty.__path__, prefix="rx_itty.")
    if name != "rx_itty.__main__"
)

# The public API as it stood before the package was split into layers: every name
# still imports from the module it was documented in (moved ones through aliases).
PUBLISHED: dict[str, list[str]] = {
    "rx_itty": [
        *("Backoff", "BadFrame", "Close", "ConnectionFailed", "ConnectionState", "Diagnostic"),
        *("Event", "HandshakeRejected", "InvalidOptionError", "IttyError", "IttySocket", "Join"),
        *("Leave", "ListenerError", "LoopThreadError", "Message", "Open", "PayloadError"),
        *("Presence", "Relay", "RelayConfig", "RelayConfigError", "SendError", "SendQueueFull"),
        *("SerializationError", "ServerError", "Signal", "SocketDisposed", "Stream"),
        *("StreamOverflow", "Uid", "User", "aiterate", "build_url", "connect", "decode_frame"),
        *("encode_frame", "iterate", "start_relay_thread"),
    ],
    "rx_itty.backoff": ["Backoff"],
    "rx_itty.cli": ["main"],
    "rx_itty.client": ["SERVER_ENV", "connect"],
    "rx_itty.events": [
        *("BadFrame", "Close", "Diagnostic", "Event", "Join", "Leave", "ListenerError"),
        *("Message", "Open", "PayloadError", "SendError", "ServerError", "Signal", "Uid", "User"),
    ],
    "rx_itty.exceptions": [
        *("ConnectionFailed", "HandshakeRejected", "InvalidOptionError", "IttyError"),
        *("LoopThreadError", "RelayConfigError", "SendQueueFull", "SerializationError"),
        *("SocketDisposed", "StreamOverflow", "BackplaneUnavailable"),
    ],
    "rx_itty.iterate": ["AsyncStreamIterator", "Stream", "StreamIterator", "aiterate", "iterate"],
    "rx_itty.models": ["decoder_for"],
    "rx_itty.notebook": ["LiveView", "live", "roster", "sparkline"],
    "rx_itty.operators": [
        *("OnPayloadError", "decode", "from_user", "of_class", "of_type", "payloads"),
        *("presence", "reply", "request", "retry_with_backoff", "without_echoes"),
    ],
    "rx_itty.presence": ["Presence"],
    "rx_itty.relay": [
        *("Limits", "NamespaceKeys", "Relay", "RelayConfig", "RelayCore", "RelayThread"),
        *("load_config", "start_relay_thread"),
        *("Backplane", "BackplaneConfig", "LocalBackplane", "open_backplane"),
    ],
    "rx_itty.relay.backplane": [
        *("Backplane", "BackplaneHost", "LocalBackplane", "UNAVAILABLE", "open_backplane"),
    ],
    "rx_itty.relay.redis": ["RedisBackplane"],
    "rx_itty.relay.config": [
        *("Limits", "NamespaceKeys", "RelayConfig", "config_from_dict", "load_config"),
        "match_namespace",
    ],
    "rx_itty.relay.core": [
        *("Delivery", "Member", "Outcome", "PushResult", "Refusal", "RelayCore", "Ticket"),
        *("Relayed", "RemoteMember"),
    ],
    "rx_itty.relay.embed": ["RelayThread", "start_relay_thread"],
    "rx_itty.relay.http_push": ["HttpPushListener"],
    "rx_itty.relay.server": ["Relay"],
    "rx_itty.runtime": [
        *("ImmediateRuntime", "LoopRuntime", "Runtime", "at_exit", "current_runtime"),
        *("is_shared", "shared_runtime"),
    ],
    "rx_itty.socket": ["ConnectionState", "IttySocket"],
    "rx_itty.testing": [
        *("MarbleSocket", "MemoryRelay", "Outgoing", "error", "frame", "join", "leave"),
        *("marble_socket", "message"),
    ],
    "rx_itty.testing.builders": ["error", "frame", "join", "leave", "message"],
    "rx_itty.testing.marbles": ["MarbleSocket", "Outgoing", "marble_socket"],
    "rx_itty.testing.memory": ["MemoryRelay"],
    "rx_itty.testing.pytest_plugin": ["itty_relay"],
    "rx_itty.transport": ["Link", "Transport", "TransportListener", "WebsocketsTransport"],
    "rx_itty.wire": [
        *("DEFAULT_BASE", "DM_SEPARATOR", "build_url", "decode_frame", "encode_channel"),
        *("encode_frame", "encode_query", "is_raw_url", "check_frame", "check_recipient"),
    ],
}


# Modules that need the fast extra (picows): the transport, and the face exporting it.
NEEDS_PICOWS = {"rx_itty.asyncio", "rx_itty.asyncio.picows"}


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_and_defines_its_exports(name: str) -> None:
    if name in NEEDS_PICOWS:
        pytest.importorskip("picows", reason="the fast extra (picows) is not installed")
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names undefined {missing}"


@pytest.mark.parametrize("module", sorted(PUBLISHED))
def test_every_published_name_still_imports_from_its_module(module: str) -> None:
    names = ", ".join(PUBLISHED[module])
    namespace: dict[str, object] = {}
    exec(f"from {module} import {names}", namespace)  # noqa: S102 - our own names
    assert all(namespace[name] is not None for name in PUBLISHED[module])


def test_moved_names_are_the_same_objects_at_their_old_and_new_homes() -> None:
    from rx_itty.asyncio import LoopRuntime, WebsocketsTransport, current_runtime
    from rx_itty.runtime import LoopRuntime as OldLoopRuntime
    from rx_itty.runtime import current_runtime as old_current_runtime
    from rx_itty.streams import iterate
    from rx_itty.transport import WebsocketsTransport as OldTransport

    assert OldTransport is WebsocketsTransport
    assert (OldLoopRuntime, old_current_runtime) == (LoopRuntime, current_runtime)
    assert rx_itty.iterate is iterate


def test_the_iterate_function_is_not_shadowed_by_the_module_of_the_same_name() -> None:
    importlib.import_module("rx_itty.iterate")
    assert callable(rx_itty.iterate)
    from rx_itty import iterate

    assert iterate is rx_itty.iterate


def _type_checking_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in statement.names)
    return names


@pytest.mark.parametrize("face", ["rx_itty", "rx_itty.relay"])
def test_a_lazy_face_declares_every_export_to_type_checkers_too(face: str) -> None:
    module = importlib.import_module(face)
    assert module.__file__ is not None
    assert _type_checking_imports(Path(module.__file__)) == set(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None


@pytest.mark.parametrize(
    "module",
    ["rx_itty", "rx_itty.wire", "rx_itty.events", "rx_itty.relay.core", "rx_itty.transport"],
)
def test_importing_a_pure_module_loads_no_io_stack(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = ('websockets', 'asyncio', 'reactivex', 'picows', 'uvloop')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    done = run_python(code)
    assert done.stdout.strip() == "", f"import {module} loaded {done.stdout.strip()}"


def test_the_package_root_exports_the_api_of_the_design() -> None:
    for name in ("connect", "IttySocket", "Message", "Join", "Leave", "ServerError", "Backoff"):
        assert name in rx_itty.__all__
    from rx_itty import operators, testing

    assert {"of_type", "presence", "request", "retry_with_backoff"} <= set(operators.__all__)
    assert {"marble_socket", "MemoryRelay", "message"} <= set(testing.__all__)


def test_the_package_ships_its_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()
