"""Named training regimes for the Train page: where MOTOR is expected to help and where it is not.

A regime sets a few split settings (dotted RunConfig paths, as the Train form binds them). A regime
is offered only when every path it sets is on the form (``FORM_PATHS``), so a regime whose setting
is not available yet (e.g. the training fraction) simply does not appear.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Regime:
    title: str
    values: dict  # dotted path -> value
    help: str


REGIMES = {
    "full": Regime("Full data", {"split.cold_items": 0.0, "split.train_fraction": 1.0},
                   "every training interaction, no cold items: where learned ID embeddings are strongest"),
    "sparse": Regime("Sparse: 10% of interactions", {"split.cold_items": 0.0, "split.train_fraction": 0.1},
                     "train on a tenth of the interactions: few per item, where shared tokens should help"),
    "cold": Regime("Cold start: 20% new items", {"split.cold_items": 0.2, "split.train_fraction": 1.0},
                   "a fifth of the items never appear in training: ID cannot learn them, MOTOR knows their content"),
}


def available(form_paths) -> dict[str, Regime]:
    """The regimes whose every setting the form can edit. A path missing from the form but equal to its
    neutral value (train fraction 1.0) is dropped rather than hiding the regime."""
    out = {}
    for key, r in REGIMES.items():
        values = {p: v for p, v in r.values.items() if p in form_paths or v not in (1.0,)}
        if all(p in form_paths for p in values):
            out[key] = Regime(r.title, values, r.help)
    return out


def matching(settings: dict, regimes: dict[str, Regime]) -> str | None:
    """The regime the settings are in now (None: custom)."""
    def same(a, b) -> bool:
        try:
            return abs(float(a) - float(b)) < 1e-9
        except (TypeError, ValueError):
            return a == b

    for key, r in regimes.items():
        if all(same(settings.get(p), v) for p, v in r.values.items()):
            return key
    return None
