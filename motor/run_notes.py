"""Plain-language notes about a finished run, from its metrics.json (used by the app's pages).

Two facts a reader gets wrong from the raw numbers: a run whose best epoch is its last one was
still improving when it hit the epoch cap (it did not stop early), and on a small catalogue
MOTOR's item side can be larger than ID's (its token table and Token Cross Network are a fixed
cost; the ID table grows with every item).
"""

from __future__ import annotations

import math


def training_end(metrics: dict) -> str:
    """How training ended: early stop, still improving at the epoch cap, or all epochs with an earlier best."""
    best, run = metrics.get("best_epoch"), metrics.get("epochs_run")
    if not best or not run:
        return "unknown"
    if metrics.get("stopped") == "early_stop":
        return f"stopped early after epoch {run} (best epoch {best})"
    if metrics.get("stopped") == "nan_loss":
        return f"stopped at epoch {run}: the loss became NaN (best epoch {best} kept)"
    if best == run:
        return f"still improving at the epoch cap ({run} epochs): more epochs may help"
    return f"ran all {run} epochs (best epoch {best})"


def stop_note(messages: dict[str, str | None]) -> str:
    """Why each model's training stopped, one clause per model that says something, each named by its model
    (``{"ID": ..., "MOTOR": ...}`` in training order); one ``both: ...`` clause when every model says the same.
    '' when none says anything (each ran all its epochs)."""
    said = {name: m for name, m in messages.items() if m}
    if len(said) > 1 and len(said) == len(messages) and len(set(said.values())) == 1:
        return f"{'both' if len(said) == 2 else 'all'}: {next(iter(said.values()))}"
    return "; ".join(f"{name}: {m}" for name, m in said.items())


def item_side_breakeven(id_item_side: int, motor_item_side: int, n_items: int) -> int | None:
    """The catalogue size from which MOTOR's item side is smaller than ID's (None if it already is).

    ID's item side grows by ``id_item_side / n_items`` parameters per item (its embedding row);
    MOTOR's does not grow with items (a new item adds token ids, not parameters).
    """
    if not n_items or not id_item_side or motor_item_side < id_item_side:
        return None
    per_item = id_item_side / n_items
    return math.floor(motor_item_side / per_item) + 1


def size_note(id_item_side: int, motor_item_side: int, n_items: int) -> str | None:
    """Why MOTOR is larger than ID on this catalogue, in one sentence (None when it is not)."""
    at = item_side_breakeven(id_item_side, motor_item_side, n_items)
    if at is None:
        return None
    per_item = id_item_side / n_items
    return (f"On this catalogue of {n_items:,} items MOTOR's item side ({motor_item_side:,} parameters) is larger "
            f"than ID's ({id_item_side:,}): its shared token table and Token Cross Network are a fixed cost, while "
            f"the ID table grows by {per_item:,.0f} parameters with every item. From about {at:,} items on, "
            "MOTOR is the smaller one, and new items never make it grow.")
