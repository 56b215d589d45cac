"""rx_itty._lazy.lazy_exports: package faces that import each name's home on first use."""

from __future__ import annotations

import importlib
import secrets
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_python

FACE = """\
from rx_itty._lazy import lazy_exports

__all__ = ["answer", "shadow", "thing"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {__name__ + ".home": ["answer", "shadow", "thing"]},
    submodules=("child",),
)
"""

HOME = """\
answer = 42
thing = object()


def shadow() -> str:
    return "the function"
"""


@pytest.fixture
def face(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """A throwaway package built with lazy_exports, freshly imported; removed afterwards."""
    name = f"lazyface_{secrets.token_hex(4)}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text(FACE)
    (package / "home.py").write_text(HOME)
    (package / "shadow.py").write_text('"""A submodule named like an export."""\n')
    (package / "child.py").write_text('value = "child"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield importlib.import_module(name)
    finally:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]


def loaded(face: types.ModuleType, submodule: str) -> bool:
    return f"{face.__name__}.{submodule}" in sys.modules


# -- first access ----------------------------------------------------------------


def test_importing_the_face_does_not_import_the_home_module(face: types.ModuleType) -> None:
    assert not loaded(face, "home")


def test_the_home_module_is_imported_on_first_access(face: types.ModuleType) -> None:
    assert face.answer == 42
    assert loaded(face, "home")


def test_the_value_is_the_home_modules_own_object(face: types.ModuleType) -> None:
    home = importlib.import_module(f"{face.__name__}.home")
    assert face.thing is home.thing


def test_from_import_reads_through_the_face(face: types.ModuleType) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {face.__name__} import answer", namespace)  # noqa: S102
    assert namespace["answer"] == 42


# -- caching ------------------------------------------------------------------------


def test_the_value_is_cached_on_the_face_after_first_access(face: types.ModuleType) -> None:
    first = face.thing
    assert vars(face)["thing"] is first
    # Were the home looked up again, a re-import would make a new object.
    del sys.modules[f"{face.__name__}.home"]
    assert face.thing is first


def test_an_export_can_still_be_replaced_with_a_plain_value(face: types.ModuleType) -> None:
    module: Any = face  # a test may monkeypatch an export
    module.answer = 7
    assert face.answer == 7


# -- dir() and unknown names ----------------------------------------------------------


def test_dir_lists_exports_and_submodules_without_importing_them(face: types.ModuleType) -> None:
    assert {"answer", "shadow", "thing", "child"} <= set(dir(face))
    assert dir(face) == sorted(dir(face))
    assert not loaded(face, "home")
    assert not loaded(face, "child")


def test_an_unknown_name_raises_attribute_error_naming_the_module(face: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match=rf"module '{face.__name__}' has no attribute 'nope'"):
        _ = face.nope
    assert not hasattr(face, "nope")
    assert getattr(face, "nope", None) is None


# -- submodules -------------------------------------------------------------------------


def test_a_listed_submodule_is_imported_on_first_access(face: types.ModuleType) -> None:
    assert not loaded(face, "child")
    child = face.child
    assert isinstance(child, types.ModuleType)
    assert child.value == "child"
    assert child is sys.modules[f"{face.__name__}.child"]


def test_an_export_wins_over_a_submodule_imported_before_it(face: types.ModuleType) -> None:
    importlib.import_module(f"{face.__name__}.shadow")
    assert callable(face.shadow)
    assert face.shadow() == "the function"


def test_an_export_wins_over_a_submodule_imported_after_it(face: types.ModuleType) -> None:
    assert face.shadow() == "the function"
    module = importlib.import_module(f"{face.__name__}.shadow")
    assert isinstance(module, types.ModuleType)
    assert face.shadow() == "the function"


def test_rx_itty_iterate_stays_the_function_after_its_compat_module_is_imported() -> None:
    script = textwrap.dedent(
        """
        import sys, types
        import rx_itty.iterate
        import rx_itty
        from rx_itty.streams import iterate
        assert isinstance(sys.modules["rx_itty.iterate"], types.ModuleType)
        assert rx_itty.iterate is iterate, rx_itty.iterate
        from rx_itty.iterate import Stream
        print("ok")
        """
    )
    result = run_python(script)
    assert result.stdout.strip() == "ok"
