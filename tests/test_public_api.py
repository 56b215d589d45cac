"""The public surface: every exported name exists, and the package is typed."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import rx_itty

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(rx_itty.__path__, prefix="rx_itty.")
    if name != "rx_itty.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_and_defines_its_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names undefined {missing}"


def test_the_package_root_exports_the_api_of_the_design() -> None:
    for name in ("connect", "IttySocket", "Message", "Join", "Leave", "ServerError", "Backoff"):
        assert name in rx_itty.__all__
    from rx_itty import operators, testing

    assert {"of_type", "presence", "request", "retry_with_backoff"} <= set(operators.__all__)
    assert {"marble_socket", "MemoryRelay", "message"} <= set(testing.__all__)


def test_the_package_ships_its_type_information() -> None:
    assert (Path(rx_itty.__file__).parent / "py.typed").is_file()
