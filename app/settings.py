"""The Train page's settings, bound to dotted ``RunConfig`` paths, and their translation into RunConfigs.

The settings are a plain dict whose keys are the dotted paths the form edits (``train.lr``,
``motor.heads``, ``tokenizer.per_modality``, ``model``; listed once, in ``FORM_PATHS``) plus the
app-only choice of item representations (``variants``). Defaults are read from
``motor.presets.preset("quick", ...)`` (the lead tunes that preset, the app follows); the dict lives
in ``st.session_state``, so settings survive page switches and failed runs. ``build_configs`` hands the
same paths to ``preset`` as overrides, so every value is checked by ``motor.config`` (a bad value is a
MotorError with the fix, shown above the form). No Streamlit here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import typing
from typing import Literal, get_args, get_origin

from motor.config import field_docs, get_path, to_dict
from motor.errors import MotorError
from motor.experiment import RunConfig
from motor.presets import preset

PRESET = "quick"
VARIANTS = {"both": ["id", "motor"], "motor": ["motor"], "id": ["id"]}
VARIANT_NAMES = {"both": "ID and MOTOR, side by side", "motor": "MOTOR only", "id": "ID only"}
# The RunConfig settings the Train form edits, by dotted path; everything else keeps the preset's value.
FORM_PATHS = ("backbone", "train.epochs", "train.lr", "train.seed", "train.patience", "train.batch_size",
              "train.threads", "split.cold_items", "split.train_fraction", "motor.tcn", "motor.layers", "motor.heads", "motor.token_dim",
              "tokenizer.per_modality", "model")
PQ_FIELDS = ("m", "k", "normalize", "opq")  # per modality, in "tokenizer.per_modality"
TEST_OVERRIDES_ENV = "MOTOR_LAB_TEST_SETTINGS"  # JSON merged over the defaults (tests only: tiny epochs)
APP_THREADS = int(os.environ.get("MOTOR_LAB_THREADS", "1"))  # torch/faiss threads of a training started in the app


def _largest_power_of_two(n: int) -> int:
    return 1 << (max(2, n).bit_length() - 1)


def _plain(value):
    return to_dict(value) if dataclasses.is_dataclass(value) else copy.deepcopy(value)


def default_settings(modalities: dict[str, int] | None = None, n_items: int | None = None) -> dict:
    """Settings for the Train form: the 'quick' preset, codebooks fitted to the dataset's sizes."""
    cfg = preset(PRESET, "motor")
    s = {"variants": "both", **{path: _plain(get_path(cfg, path)) for path in FORM_PATHS}}
    tok = cfg.tokenizer
    s["tokenizer.per_modality"] = {
        name: {"m": min(tok.m, dim), "k": tok.k if n_items is None else min(tok.k, _largest_power_of_two(n_items)),
               "normalize": tok.normalize, "opq": tok.opq}
        for name, dim in (modalities or {}).items()}
    # Execution, not modelling: on 2 cores a training thread pool of 2 competes with the page, the browser
    # and the UMAP process; with 1 thread ID trained faster and MOTOR no slower in the app (app_bench.py).
    s["train.threads"] = APP_THREADS
    extra = os.environ.get(TEST_OVERRIDES_ENV)
    if extra:
        s.update(json.loads(extra))
    return s


K_CHOICES = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
BY_SHAPE = "tokenizer.by_shape"  # codebook choices per modality shape (name, width, item cap), across datasets


def k_options(n_items: int) -> list[int]:
    """The codebook sizes the form offers: powers of two up to the number of items."""
    return [k for k in K_CHOICES if k <= n_items] or [2]


def m_limit(dim: int) -> int:
    """The most tokens (sub-vectors) the form offers for a modality of ``dim`` dimensions."""
    return min(64, dim)


def fit_settings(settings: dict, modalities: dict[str, int], n_items: int) -> dict:
    """``settings`` with PQ entries for exactly the dataset's modalities. Each entry is remembered per modality
    shape (name, width, largest K), so a dataset of another shape neither inherits values it cannot take (the
    widgets would fall to their minimum, M=1, K=4) nor overwrites the choices made for this one: they come back
    with a dataset of this shape. New shapes get the dataset's defaults."""
    s = copy.deepcopy(settings)
    base = default_settings(modalities, n_items)["tokenizer.per_modality"]
    have = s.get("tokenizer.per_modality", {})
    kept = s.setdefault(BY_SHAPE, {})
    out = {}
    for m, dim in modalities.items():
        shape = f"{m}:{dim}:{k_options(n_items)[-1]}"
        entry = have.get(m)
        fits = (isinstance(entry, dict) and isinstance(entry.get("m"), int) and 1 <= entry["m"] <= m_limit(dim)
                and entry.get("k") in k_options(n_items))
        out[m] = kept.get(shape) or (entry if fits else base[m])
        kept[shape] = out[m]  # one object: the form's edits land in both
    s["tokenizer.per_modality"] = out
    return s


def preset_model(backbone: str) -> dict:
    """The preset's backbone settings when it names this backbone, else {} (the backbone's defaults)."""
    cfg = preset(PRESET, "id")
    return to_dict(cfg.model) if cfg.backbone == backbone else {}


def overrides(settings: dict, data_config: dict) -> dict:
    """The form's settings as dotted RunConfig overrides (what ``build_configs`` applies to the preset)."""
    unknown = [k for k in settings if k not in FORM_PATHS and k not in ("variants", BY_SHAPE)]
    if unknown:
        raise MotorError(f"unknown Train setting {unknown[0]!r}; the form edits {', '.join(FORM_PATHS)}")
    out = {"data": dict(data_config), **{p: copy.deepcopy(settings[p]) for p in FORM_PATHS if p in settings}}
    if "tokenizer.per_modality" in out:
        out["tokenizer.per_modality"] = {name: {k: v for k, v in pq.items() if k in PQ_FIELDS}
                                         for name, pq in out["tokenizer.per_modality"].items()}
    return out


def build_configs(settings: dict, data_config: dict) -> dict[str, RunConfig]:
    """One validated RunConfig per requested item representation ('id', 'motor')."""
    variants = VARIANTS.get(settings.get("variants", "both"))
    if variants is None:
        raise MotorError(f"unknown item representation choice {settings.get('variants')!r}")
    return {items: preset(PRESET, items, overrides(settings, data_config)) for items in variants}


def summary(settings: dict) -> dict:
    """The settings worth listing in the run registry (JSON): the form's paths and the variants."""
    return {k: settings[k] for k in ("variants", *FORM_PATHS) if k in settings}


@dataclasses.dataclass
class FieldSpec:
    """One backbone setting as the form draws it."""

    name: str
    kind: str  # 'int', 'float', 'bool', 'choice'
    default: object
    help: str
    options: tuple = ()


def backbone_fields(backbone_cls) -> list[FieldSpec]:
    """The editable settings of a backbone's Config dataclass (numbers, flags, choices)."""
    cls = backbone_cls.Config
    if not dataclasses.is_dataclass(cls):
        return []
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.default is dataclasses.MISSING:
            continue
        if get_origin(tp) is Literal:
            out.append(FieldSpec(f.name, "choice", f.default, docs[f.name], get_args(tp)))
        elif tp is bool:
            out.append(FieldSpec(f.name, "bool", f.default, docs[f.name]))
        elif tp is int:
            out.append(FieldSpec(f.name, "int", f.default, docs[f.name]))
        elif tp is float:
            out.append(FieldSpec(f.name, "float", f.default, docs[f.name]))
    return out


def adopt_saved(defaults: dict, saved, ds, data_config: dict) -> dict | None:
    """Settings saved by an earlier session (``app.session_memory``) merged into today's ``defaults``: known keys
    of the same type, per-modality codebook entries of today's shape; None when what is left no longer makes a
    run (another version's file, or a damaged one), so the form opens on the defaults."""
    if not isinstance(saved, dict):
        return None
    merged = {**defaults, **{k: v for k, v in saved.items() if k in defaults and type(v) is type(defaults[k])}}
    template = default_settings({"x": 64}, 1024)["tokenizer.per_modality"]["x"]  # one modality's entry
    merged["tokenizer.per_modality"] = {
        m: e for m, e in merged.get("tokenizer.per_modality", {}).items() if isinstance(e, dict)
        and e.keys() == template.keys() and all(type(e[k]) is type(template[k]) for k in template)}
    try:
        fitted = (fit_settings(merged, {m.name: m.dim for m in ds.modalities.values()}, ds.n_items)
                  if ds is not None else merged)
        build_configs(fitted, data_config)
    except Exception:  # noqa: BLE001 - whatever is wrong with them, the form must open
        return None
    return merged
