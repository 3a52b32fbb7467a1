"""Typed settings: every hyperparameter is a dataclass field with a documented default.

``from_dict`` rejects unknown keys (a typo is an error, not a silently ignored setting) and
checks types, so a config read back from a run folder or typed on the command line means
exactly what it says. Nested dataclasses and ``dict[str, Dataclass]`` fields are supported.

``apply_overrides`` is the one way to change a config: dotted paths (``train.lr=0.01``,
``model.n_layers=3``, ``tokenizer.per_modality.text.m=2``) merged into a copy, then checked
and validated like ``from_dict``. The CLI's ``--set``, the presets, the app's settings form
and the benchmarks all go through it.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import numbers
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import numpy as np

from motor.errors import MotorError

T = TypeVar("T")


def _did_you_mean(key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known settings: {', '.join(names)}"


def field_docs(cls) -> dict[str, str]:
    """The documentation of each field: the ``help`` entry of its metadata."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def doc(default, help: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
        high_open: bool = False, **kw):
    """A dataclass field with a default and a one-line documentation string.

    ``low``/``high`` (None: unbounded; ``*_open``: the end excluded) declare the valid interval of a
    number, which ``from_dict`` checks (``check_ranges``) before the class's own ``validate()``.
    """
    meta = {"help": help}
    if low is not None or high is not None:
        meta["range"] = (low, high, low_open, high_open)
    if isinstance(default, (list, dict, set)) or (dataclasses.is_dataclass(default) and not isinstance(default, type)):
        value = default
        return dataclasses.field(default_factory=lambda: copy.deepcopy(value), metadata=meta, **kw)
    return dataclasses.field(default=default, metadata=meta, **kw)


def check_range(name: str, value: float, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> None:
    """Raise ``MotorError`` unless ``value`` lies in the interval; the message gives the valid range.

    ``low``/``high`` None means unbounded on that side; ``low_open``/``high_open`` exclude the end.
    """
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high or not math.isfinite(value):  # NaN passes every comparison; inf lies outside any range
        left = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        right = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise MotorError(f"{name} must be in {left}, {right}, got {value!r}")


def check_ranges(obj, where: str = "") -> None:
    """``check_range`` on every field of a config dataclass that declares its interval with ``doc``
    (the message names the setting as ``where.field``, like the type errors of ``from_dict``)."""
    for f in dataclasses.fields(obj):
        bounds = f.metadata.get("range")
        if bounds is not None and getattr(obj, f.name) is not None:  # None: an optional setting left unset
            low, high, low_open, high_open = bounds
            check_range(f"{where}.{f.name}" if where else f.name, getattr(obj, f.name), low, high,
                        low_open=low_open, high_open=high_open)


def _check(value, tp, where: str):
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        options = get_args(tp)
        if isinstance(value, str):  # 'MOTOR' or 'Strict' is the option it names, as backbone names are read
            value = next((o for o in options if isinstance(o, str) and o.lower() == value.lower()), value)
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
        return {_check(k, kt, where): _entry(v, vt, f"{where}[{k!r}]") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise MotorError(f"{where} must be a mapping of {tp.__name__} settings, got {value!r}")
        return from_dict(tp, value, where=where)
    # numbers.Real/Integral take numpy's scalars too (np.int64 from np.arange, np.float32 from a sweep), stored
    # as Python's, so the saved config.json holds plain numbers
    if tp is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise MotorError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, (bool, np.bool_)) or not (isinstance(value, numbers.Integral) or (
                isinstance(value, numbers.Real) and float(value).is_integer())):
            raise MotorError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if tp is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise MotorError(f"{where} must be true or false, got {value!r}")
        return bool(value)
    if tp is str:
        if not isinstance(value, str):
            raise MotorError(f"{where} must be text, got {value!r}")
        return value
    return value


def _entry(value, tp, where: str):
    """``_check`` of one mapping entry; a message from its own validate() (``k=12: ...``) is told which entry."""
    try:
        return _check(value, tp, where)
    except MotorError as e:
        raise (e if where in str(e) else MotorError(f"{where}: {e}")) from None


def from_dict(cls: type[T], data: dict | None, where: str | None = None) -> T:
    """Build ``cls`` from a mapping; unknown keys and wrong types raise ``MotorError``."""
    data = dict(data or {})
    where = where or cls.__name__
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise MotorError(f"unknown setting {unknown[0]!r} for {where}{_did_you_mean(unknown[0], names)}")
    kwargs = {k: _check(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    obj = cls(**kwargs)
    check_ranges(obj, where)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def checked(cls: type[T], cfg, where: str | None = None) -> T:
    """``cfg`` (a ``cls``, a mapping of its settings, or None for the defaults) checked as a config file's would
    be: a section built in Python (``SplitConfig(method="RANDOM")``) is not checked when it is made."""
    where = where or cls.__name__
    if cfg is None or isinstance(cfg, Mapping):
        return from_dict(cls, dict(cfg or {}), where=where)
    if not isinstance(cfg, cls):
        raise MotorError(f"{where} must be a {cls.__name__} or a mapping of its settings, got {type(cfg).__name__}")
    return from_dict(cls, to_dict(cfg), where=where)


def check_field(obj, name: str, where: str | None = None):
    """One field of a config dataclass checked against its annotated type (as ``from_dict`` would), for a
    dataclass built directly in Python; returns the value as stored (``'MOTOR'`` -> ``'motor'``)."""
    return _check(getattr(obj, name), typing.get_type_hints(type(obj))[name], where or name)


def to_dict(obj) -> dict:
    """A JSON-ready dict of a config dataclass (nested ones included)."""
    return dataclasses.asdict(obj)


def _merge(tp, data: dict, keys: list[str], value, where: str) -> None:
    """Set ``data[keys...] = value`` after checking each name against the type ``tp`` of ``data``.

    A mapping value merges into the section it names; any other value replaces. Sections typed
    ``Any`` (a backbone's settings, checked once the backbone is known) are merged unchecked here:
    ``from_dict`` checks them afterwards.
    """
    key, rest = keys[0], keys[1:]
    path = f"{where}.{key}" if where else key
    inner: Any = Any
    if dataclasses.is_dataclass(tp):
        names = [f.name for f in dataclasses.fields(tp) if f.init]
        if key not in names:
            raise MotorError(f"unknown setting {path!r}{_did_you_mean(key, names)}")
        inner = typing.get_type_hints(tp)[key]
    elif get_origin(tp) is dict:
        inner = (get_args(tp) or (Any, Any))[1]
    elif tp is not Any:
        raise MotorError(f"{where!r} is a single setting, not a section; set it as {where}=VALUE")
    if rest or (isinstance(value, Mapping) and isinstance(data.get(key), dict)):
        section = data.get(key)
        if section is None:
            section = data[key] = {}
        if not isinstance(section, dict):
            raise MotorError(f"{path!r} is a single setting, not a section; set it as {path}=VALUE")
        if rest:
            _merge(inner, section, rest, value, path)
        else:
            for k, v in value.items():
                _merge(inner, section, str(k).split("."), v, path)
    else:
        data[key] = copy.deepcopy(value.to_dict() if hasattr(value, "to_dict") else
                                  to_dict(value) if dataclasses.is_dataclass(value) else value)


def apply_overrides(cfg: T, overrides: Mapping[str, Any] | None = None) -> T:
    """A new, validated copy of ``cfg`` with ``overrides`` merged in; ``cfg`` itself is unchanged.

    Keys are dotted paths (``"train.lr"``, ``"model.n_layers"``, ``"tokenizer.per_modality.text.m"``);
    a mapping value merges into the section it names, so ``{"train": {"lr": 0.01}}`` equals
    ``{"train.lr": 0.01}``. An unknown name is a ``MotorError`` with a did-you-mean, and the result
    passes the same type checks and ``validate()`` as ``from_dict``. A config class may name
    sections that restart from their defaults when another field changes
    (``RESETS = {"backbone": "model"}``: a new backbone does not inherit the old one's settings).
    """
    cls = type(cfg)
    data = to_dict(cfg)
    overrides = dict(overrides or {})
    for trigger, section in getattr(cls, "RESETS", {}).items():
        new = [v for k, v in overrides.items() if k == trigger]
        if new and _name(new[-1]) != _name(data.get(trigger)):  # "BPR" is bpr: its settings stay
            data[section] = {}
    for key, value in overrides.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise MotorError(f"setting {key!r}: expected a dotted path such as train.lr")
        _merge(cls, data, key.split("."), value, "")
    return from_dict(cls, data)


def _name(value):
    """A registry name compared as the registries look it up (case-insensitive); other values as they are."""
    return value.lower() if isinstance(value, str) else value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"train.lr=0.01"`` -> ``("train.lr", 0.01)``: the value is JSON when it parses, else text."""
    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise MotorError(f"{text!r}: expected KEY=VALUE, for example model.reg_weight=0.001")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def get_path(cfg, path: str):
    """The value at a dotted path of a config (dataclass attributes or mapping keys)."""
    value = cfg
    for key in path.split("."):
        value = value[key] if isinstance(value, Mapping) else getattr(value, key)
    return value


def read_config_file(path: str | None) -> dict:
    """The settings of a ``--config FILE`` (a JSON object of RunConfig sections; {} without a path), or a
    MotorError saying what is wrong with the file."""
    if not path:
        return {}
    inside = [n for n in ("best_config.json", "config.json") if (Path(path) / n).is_file()]
    if inside:  # a tune's or a run's folder, given for the file in it
        raise MotorError(f"--config {path} is a folder; --config takes a file, here {Path(path) / inside[0]}")
    try:  # bytes: json detects UTF-8 (with or without a BOM), UTF-16 and UTF-32, as editors save them
        loaded = json.loads(Path(path).read_bytes())
    except (OSError, json.JSONDecodeError) as e:
        raise MotorError(f"--config {path}: cannot read JSON ({e})") from None
    except UnicodeDecodeError:  # a binary file given by mistake (model.safetensors) or a legacy encoding
        raise MotorError(f"--config {path}: not a JSON text file (not UTF-8); give a RunConfig JSON such as a "
                         "run's config.json or a tune's best_config.json, saved as UTF-8") from None
    if not isinstance(loaded, dict):
        raise MotorError(f"--config {path}: expected a JSON object of RunConfig settings")
    return loaded
