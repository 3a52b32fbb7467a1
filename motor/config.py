"""Typed settings: every hyperparameter is a dataclass field with a documented default.

``from_dict`` rejects unknown keys (a typo is an error, not a silently ignored setting) and
checks types, so a config read back from a run folder or typed on the command line means
exactly what it says. Nested dataclasses and ``dict[str, Dataclass]`` fields are supported.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from motor.errors import MotorError

T = TypeVar("T")


def field_docs(cls) -> dict[str, str]:
    """The documentation of each field: the ``help`` entry of its metadata."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def doc(default, help: str, **kw):
    """A dataclass field with a default and a one-line documentation string."""
    if isinstance(default, (list, dict, set)) or (dataclasses.is_dataclass(default) and not isinstance(default, type)):
        value = default
        return dataclasses.field(default_factory=lambda: copy.deepcopy(value), metadata={"help": help}, **kw)
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


def _check(value, tp, where: str):
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        options = get_args(tp)
        if value not in options:
            raise MotorError(f"{where} must be one of {', '.join(map(repr, options))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(value, a, where)
            except MotorError as e:
                errors.append(str(e))
        raise MotorError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise MotorError(f"{where} must be a list, got {value!r}")
        (inner, *_) = get_args(tp) or (Any,)
        return [_check(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise MotorError(f"{where} must be a mapping, got {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_check(k, kt, where): _check(v, vt, f"{where}[{k!r}]") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise MotorError(f"{where} must be a mapping of {tp.__name__} settings, got {value!r}")
        return from_dict(tp, value, where=where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MotorError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise MotorError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise MotorError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise MotorError(f"{where} must be text, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict | None, where: str | None = None) -> T:
    """Build ``cls`` from a mapping; unknown keys and wrong types raise ``MotorError``."""
    data = dict(data or {})
    where = where or cls.__name__
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known settings: {', '.join(names)}"
        raise MotorError(f"unknown setting {k!r} for {where}{hint}")
    kwargs = {k: _check(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(obj) -> dict:
    """A JSON-ready dict of a config dataclass (nested ones included)."""
    return dataclasses.asdict(obj)


def replace(obj: T, **changes) -> T:
    """A copy of ``obj`` with some fields changed, type-checked like ``from_dict``."""
    merged = to_dict(obj)
    merged.update(changes)
    return from_dict(type(obj), merged)
