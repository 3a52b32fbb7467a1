"""Has a run's Token Cross Network collapsed? The key figures of ``metrics.json["item_encoder"]``.

Training writes the TCN's attention diagnostics (``motor.encoders.diagnostics``) into the run's
metrics; this module reads them back as a few named figures, each beside the threshold that
flags a collapse, so the app (and a notebook) can say "the tokens do not cross" in one place.
"""

from __future__ import annotations

from motor.encoders.diagnostics import MAX_WEIGHT_LIMIT, POOL_FLOOR_TIMES_UNIFORM, SAME_KEY_LIMIT, TV_FLOOR


def collapse_report(metrics: dict) -> dict | None:
    """``{"collapsed", "warnings", "tcn", "figures"}`` from a run's metrics, None without diagnostics
    (an ID run, or a run trained before they existed).

    ``figures``: one dict per available figure: ``name``, ``value``, ``limit`` (the threshold),
    ``bad_when`` ('above' or 'below') and ``ok`` (False: this figure flags a collapse), ``help``.
    """
    diag = metrics.get("item_encoder") if isinstance(metrics, dict) else None
    if not isinstance(diag, dict) or "collapsed" not in diag:
        return None
    figures = []
    mean = (diag.get("attention") or {}).get("mean") or {}

    def add(name: str, value, limit: float, bad_when: str, help_: str) -> None:
        if value is None:
            return
        value = float(value)
        ok = value <= limit if bad_when == "above" else value >= limit
        figures.append({"name": name, "value": value, "limit": float(limit), "bad_when": bad_when, "ok": ok,
                        "help": help_})

    add("mean largest attention weight", mean.get("max_weight"), MAX_WEIGHT_LIMIT, "above",
        "1/T: uniform rows, 1: one-hot rows (each token looks at a single token)")
    add("share of same-key items", mean.get("same_key"), SAME_KEY_LIMIT, "above",
        "items whose every token attends to one and the same key: a single dark column, no crossing")
    add("TV distance from the average map", mean.get("tv_from_average"), TV_FLOOR, "below",
        "0: every item has the same attention map (it ignores the item's content)")
    pool = diag.get("pooling") or {}
    if pool.get("T"):
        add("pooling: mean largest weight", pool.get("max_weight"), POOL_FLOOR_TIMES_UNIFORM / float(pool["T"]),
            "below", f"1/T = {1 / float(pool['T']):.3f} is uniform pooling (every token counts the same)")
    return {"collapsed": bool(diag.get("collapsed")), "warnings": list(diag.get("warnings") or []),
            "tcn": diag.get("tcn"), "items": diag.get("items"), "figures": figures}
