"""User models as payloads: dataclasses, pydantic models, msgspec Structs, both ways.

:func:`decoder_for` turns a model into a function ``payload -> instance`` that
raises on a payload that does not fit; the socket and the operators catch that
and report it, so one bad payload never ends a stream. :func:`as_payload` is the
way back, used when such an instance is sent: each kind of model is encoded by
its own library, so ``ch.send(Chat(...))`` and ``ch.on("chat", Chat)`` agree.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from rx_itty.exceptions import InvalidOptionError, PayloadMismatch, SerializationError

__all__ = ["as_payload", "decoder_for"]

M = TypeVar("M")

_SCALARS: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
}


Convert = Callable[[Any], Any]


def _dataclass_decoder(model: type[M]) -> Callable[[Any], M]:
    try:
        hints = typing.get_type_hints(model)
    except Exception:  # unresolvable forward references: skip the checks and conversions
        hints = {}
    fields = [f for f in dataclasses.fields(model) if f.init]  # type: ignore[arg-type]
    names = {f.name for f in fields}
    checks = {f.name: _SCALARS[hints[f.name]] for f in fields if hints.get(f.name) in _SCALARS}
    converts = {
        f.name: convert
        for f in fields
        if f.name in hints and (convert := _converter(hints[f.name])) is not None
    }

    def decode(payload: Any) -> M:
        if type(payload) is not dict:
            raise PayloadMismatch(
                f"payload is {type(payload).__name__}, not an object for {model.__name__}"
            )
        for name, allowed in checks.items():
            if name in payload:
                value = payload[name]
                bad_bool = isinstance(value, bool) and bool not in allowed
                if bad_bool or not isinstance(value, allowed):
                    raise PayloadMismatch(
                        f"field {name!r} should be {allowed[-1].__name__}, "
                        f"got {type(value).__name__}"
                    )
        kwargs = {k: v for k, v in payload.items() if k in names}
        for name, convert in converts.items():
            if name in kwargs:
                try:
                    kwargs[name] = convert(kwargs[name])
                except PayloadMismatch as exc:
                    raise PayloadMismatch(f"field {name!r} of {model.__name__}: {exc}") from exc
        try:
            return model(**kwargs)
        except TypeError as exc:  # a required field is missing
            raise PayloadMismatch(f"payload does not fit {model.__name__}: {exc}") from exc

    return decode


_nested_decoder = functools.cache(_dataclass_decoder)


def _converter(hint: Any) -> Convert | None:
    """How to turn the JSON value of a field typed ``hint`` back into that type.

    ``None`` when the JSON value is already it. What JSON cannot carry comes back:
    a dataclass (also inside ``list``, ``tuple``, ``dict`` values and ``X | None``)
    from its object, a ``tuple`` from its array.
    """
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        model: Any = hint
        return lambda value: _nested_decoder(model)(value)  # looked up late: it may be us
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        others = [arg for arg in args if arg is not type(None)]
        return _optional(_converter(others[0])) if len(others) == 1 else None
    if origin is dict and len(args) == 2:
        return _values(_converter(args[1]))
    if origin is list and len(args) == 1:
        return _items(_converter(args[0]), list)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _items(_converter(args[0]), tuple) or (lambda value: tuple(_shaped(value, list)))
    if origin is tuple and args:
        return _fixed([_converter(arg) for arg in args])
    return None


def _optional(convert: Convert | None) -> Convert | None:
    if convert is None:
        return None
    return lambda value: None if value is None else convert(value)


def _values(convert: Convert | None) -> Convert | None:
    if convert is None:
        return None
    return lambda value: {k: convert(v) for k, v in _shaped(value, dict).items()}


def _items(
    convert: Convert | None, kind: type[list[Any]] | type[tuple[Any, ...]]
) -> Convert | None:
    if convert is None:
        return None
    return lambda value: kind(map(convert, _shaped(value, list)))


def _fixed(slots: list[Convert | None]) -> Convert:
    def convert(value: Any) -> tuple[Any, ...]:
        items = _shaped(value, list)
        if len(items) != len(slots):
            raise PayloadMismatch(f"should hold {len(slots)} items, got {len(items)}")
        return tuple(
            item if slot is None else slot(item) for slot, item in zip(slots, items, strict=True)
        )

    return convert


def _shaped(value: Any, kind: type[Any]) -> Any:
    """``value`` if JSON gives it as ``kind`` (an array may also come as a tuple, from
    :func:`as_payload` without a trip through JSON)."""
    if type(value) is not kind and not (kind is list and type(value) is tuple):
        raise PayloadMismatch(f"should be {_JSON_NAMES[kind]}, got {type(value).__name__}")
    return value


_JSON_NAMES: dict[type[Any], str] = {dict: "an object", list: "an array"}


def _msgspec_decoder(model: Any) -> Callable[[Any], Any] | None:
    msgspec = sys.modules.get("msgspec")
    if msgspec is None or not (isinstance(model, type) and issubclass(model, msgspec.Struct)):
        return None

    def decode(payload: Any) -> Any:
        return msgspec.convert(payload, model)

    return decode


def decoder_for(model: type[M] | Callable[[Any], M]) -> Callable[[Any], M]:
    """A function that builds ``model`` from a JSON payload, raising if it does not fit.

    Supported: pydantic v2 models (``model_validate``, raising its ``ValidationError``),
    msgspec Structs (``msgspec.convert``, raising its ``ValidationError``), dataclasses
    (extra payload keys are ignored, ``str``/``int``/``float``/``bool`` fields are
    type-checked, a misfit raises :class:`~rx_itty.exceptions.PayloadMismatch`), or
    any callable taking the payload.

    A dataclass's fields are rebuilt as far as their annotations say: a nested
    dataclass from its object, also as the items of ``list[...]``, ``tuple[...]``,
    the values of ``dict[str, ...]`` and in ``X | None``; a ``tuple`` from its array.
    Other fields keep their JSON value, unchecked (a ``list[str]`` is not looked
    into; a union of two dataclasses stays a dict): use pydantic or msgspec for
    full validation.

    Raises:
        InvalidOptionError: ``model`` is none of these.
    """
    validate = getattr(model, "model_validate", None)
    if callable(validate):
        return validate  # type: ignore[no-any-return]
    from_msgspec = _msgspec_decoder(model)
    if from_msgspec is not None:
        return from_msgspec
    if isinstance(model, type) and dataclasses.is_dataclass(model):
        return _dataclass_decoder(typing.cast("type[M]", model))
    if callable(model):
        return model
    raise InvalidOptionError(
        f"cannot decode payloads into {model!r}; pass a dataclass, a pydantic model, "
        "a msgspec Struct or a function"
    )


def as_payload(instance: Any) -> Any:
    """The plain JSON value to send for a model instance (the inverse of :func:`decoder_for`).

    - a pydantic model: ``model_dump(mode="json")`` (dates become ISO strings, etc.);
    - a msgspec Struct: ``msgspec.to_builtins`` (likewise);
    - a dataclass instance: its fields, as ``dataclasses.asdict`` gives them
      (nested dataclasses included); a field that is not itself a JSON value,
      such as a ``datetime``, is refused when the result is encoded.

    Raises:
        SerializationError: ``instance`` is none of these (a ``TypeError``, as a
            ``default`` hook for a JSON encoder should raise).
    """
    dump = getattr(instance, "model_dump", None)
    if callable(dump) and callable(getattr(type(instance), "model_validate", None)):
        return dump(mode="json")
    msgspec = sys.modules.get("msgspec")
    if msgspec is not None and isinstance(instance, msgspec.Struct):
        return msgspec.to_builtins(instance)
    if dataclasses.is_dataclass(instance) and not isinstance(instance, type):
        return dataclasses.asdict(instance)
    raise SerializationError(
        f"{type(instance).__name__} is not a plain JSON value or a model; convert it first "
        "(str(...), .isoformat(), .tolist(), .value ...)"
    )
