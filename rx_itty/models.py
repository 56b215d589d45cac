"""User models as payloads: dataclasses, pydantic models, msgspec Structs, both ways.

:func:`decoder_for` turns a model into a function ``payload -> instance`` that
raises on a payload that does not fit; the socket and the operators catch that
and report it, so one bad payload never ends a stream. :func:`as_payload` is the
way back, used when such an instance is sent: each kind of model is encoded by
its own library, so ``ch.send(Chat(...))`` and ``ch.on("chat", Chat)`` agree.
"""

from __future__ import annotations

import dataclasses
import sys
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


def _dataclass_decoder(model: type[M]) -> Callable[[Any], M]:
    try:
        hints = typing.get_type_hints(model)
    except Exception:  # unresolvable forward references: skip the scalar checks
        hints = {}
    fields = [f for f in dataclasses.fields(model) if f.init]  # type: ignore[arg-type]
    names = {f.name for f in fields}
    checks = {f.name: _SCALARS[hints[f.name]] for f in fields if hints.get(f.name) in _SCALARS}

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
        try:
            return model(**{k: v for k, v in payload.items() if k in names})
        except TypeError as exc:  # a required field is missing
            raise PayloadMismatch(f"payload does not fit {model.__name__}: {exc}") from exc

    return decode


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
