"""Lazy re-exports for package faces (PEP 562), so importing a pure module stays cheap.

A face such as ``rx_itty/__init__.py`` names where each of its exports lives;
the home module is imported the first time the name is read, and the value is
then cached on the face. ``import rx_itty.wire`` therefore loads neither
``websockets`` nor the event-loop machinery that the socket and relay need.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


class _Face(types.ModuleType):
    """A package whose exports win over its submodules of the same name.

    The import system records every loaded submodule as an attribute of its
    package; ``rx_itty.iterate`` (the function) must not become the module
    ``rx_itty/iterate.py`` because that module was imported somewhere.
    """

    _exports: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._exports and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


def lazy_exports(
    face: str, homes: Mapping[str, Iterable[str]], *, submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build ``__getattr__`` and ``__dir__`` for the module named ``face``.

    Args:
        face: The re-exporting module's ``__name__``.
        homes: Module name -> the names it provides to the face.
        submodules: Subpackage names that ``face.name`` should import on first use
            (so ``import rx_itty; rx_itty.wire`` works as it would with eager imports).

    Returns:
        The pair to assign as the face's ``__getattr__, __dir__``.
    """
    where = {name: module for module, names in homes.items() for name in names}
    children = frozenset(submodules)
    module_of_face = sys.modules[face]
    module_of_face.__class__ = _Face
    module_of_face._exports = frozenset(where)  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
        elif name in children:
            value = importlib.import_module(f"{face}.{name}")
        else:
            raise AttributeError(f"module {face!r} has no attribute {name!r}")
        setattr(sys.modules[face], name, value)  # later reads skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[face]), *where, *children})

    return __getattr__, __dir__
