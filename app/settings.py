"""The Train page's settings as a plain dict, and their translation into ``RunConfig``s.

Defaults come from ``motor.presets.preset("quick", ...)`` (the lead tunes that preset, the app
follows). The dict lives in ``st.session_state``, so settings survive page switches and failed
runs; ``build_configs`` turns it into one RunConfig per item representation, through the same
``preset`` function the CLI uses, so every value is checked by ``motor.config`` (a bad value is a
MotorError with the fix, shown above the form). No Streamlit here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import typing
from typing import Literal, get_args, get_origin

from motor.config import field_docs, to_dict
from motor.errors import MotorError
from motor.experiment import RunConfig
from motor.presets import preset

PRESET = "quick"
VARIANTS = {"both": ["id", "motor"], "motor": ["motor"], "id": ["id"]}
VARIANT_NAMES = {"both": "ID and MOTOR, side by side", "motor": "MOTOR only", "id": "ID only"}
TEST_OVERRIDES_ENV = "MOTOR_LAB_TEST_SETTINGS"
APP_THREADS = int(os.environ.get("MOTOR_LAB_THREADS", "1"))  # torch/faiss threads of a training started in the app  # JSON merged over the defaults (tests only: tiny epochs)


def _largest_power_of_two(n: int) -> int:
    return 1 << (max(2, n).bit_length() - 1)


def default_settings(modalities: dict[str, int] | None = None, n_items: int | None = None) -> dict:
    """Settings for the Train form: the 'quick' preset, codebooks fitted to the dataset's sizes."""
    cfg = preset(PRESET, "motor")
    tok, mo, tr = cfg.tokenizer, cfg.motor, cfg.train
    pq = {}
    for name, dim in (modalities or {}).items():
        k = tok.k if n_items is None else min(tok.k, _largest_power_of_two(n_items))
        pq[name] = {"m": min(tok.m, dim), "k": k, "normalize": tok.normalize, "opq": tok.opq}
    s = {
        "backbone": cfg.backbone,
        "variants": "both",
        "epochs": tr.epochs, "lr": tr.lr, "seed": tr.seed, "patience": tr.patience, "batch_size": tr.batch_size,
        "threads": tr.threads,
        "cold_items": cfg.split.cold_items,
        "tcn": mo.tcn, "layers": mo.layers, "heads": mo.heads, "token_dim": mo.token_dim,
        "pq": pq,
        "model": dict(cfg.model),
    }
    # Execution, not modelling: on 2 cores a training thread pool of 2 competes with the page, the browser
    # and the UMAP process; with 1 thread ID trained faster and MOTOR no slower in the app (app_bench.py).
    s["threads"] = APP_THREADS
    extra = os.environ.get(TEST_OVERRIDES_ENV)
    if extra:
        s.update(json.loads(extra))
    return s


def fit_settings(settings: dict, modalities: dict[str, int], n_items: int) -> dict:
    """``settings`` with PQ entries for exactly the dataset's modalities (new ones get defaults)."""
    s = copy.deepcopy(settings)
    base = default_settings(modalities, n_items)["pq"]
    s["pq"] = {m: s.get("pq", {}).get(m, base[m]) for m in modalities}
    return s


def preset_model(backbone: str) -> dict:
    """The preset's backbone settings when it names this backbone, else {} (the backbone's defaults)."""
    cfg = preset(PRESET, "id")
    return dict(cfg.model) if cfg.backbone == backbone else {}


def build_configs(settings: dict, data_config: dict) -> dict[str, RunConfig]:
    """One validated RunConfig per requested item representation ('id', 'motor')."""
    s = settings
    variants = VARIANTS.get(s.get("variants", "both"))
    if variants is None:
        raise MotorError(f"unknown item representation choice {s.get('variants')!r}")
    per_modality = {name: {k: v for k, v in p.items() if k in ("m", "k", "normalize", "opq")}
                    for name, p in s.get("pq", {}).items()}
    overrides = {
        "data": dict(data_config),
        "backbone": s["backbone"],
        "model": dict(s.get("model") or {}),
        "split": {"cold_items": float(s.get("cold_items", 0.0))},
        "train": {"epochs": int(s["epochs"]), "lr": float(s["lr"]), "seed": int(s["seed"]),
                  "patience": int(s["patience"]), "batch_size": int(s["batch_size"]),
                  "threads": int(s.get("threads", 0))},
        "tokenizer": {"per_modality": per_modality},
        "motor": {"tcn": s["tcn"], "layers": int(s["layers"]), "heads": int(s["heads"]),
                  "token_dim": int(s["token_dim"])},
    }
    out = {}
    for items in variants:
        cfg = preset(PRESET, items, **copy.deepcopy(overrides))
        cfg.validate()
        out[items] = cfg
    return out


def summary(settings: dict) -> dict:
    """The settings worth listing in the run registry (JSON)."""
    keep = ("backbone", "variants", "epochs", "lr", "seed", "patience", "batch_size", "threads", "cold_items", "tcn",
            "layers",
            "heads", "token_dim", "pq", "model")
    return {k: settings[k] for k in keep if k in settings}


def config_dicts(configs: dict[str, RunConfig]) -> dict[str, dict]:
    return {k: to_dict(v) for k, v in configs.items()}


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
