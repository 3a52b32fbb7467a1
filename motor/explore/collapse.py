"""Has a run's Token Cross Network collapsed? The key figures of ``metrics.json["item_encoder"]``.

Training writes the TCN's attention diagnostics (``motor.encoders.diagnostics``) into the run's
metrics; this module reads them back as a few named figures, each beside the threshold that
flags a collapse, so the app, the CLI (and a notebook) can say "the tokens do not cross" in one place.

Two different things can be flagged, and the warning names which: the attention (the tokens hardly
cross: one-hot rows, one key for every row, or the same map for every item) or only the pooling (the
tokens cross, but count alike in the item vector). The first is a failure of the method; the second is
what the model that validated best learned (the demo at 10% of its data, seed 999: best epoch 8, mean
largest pooling weight 0.19 against 2/T = 0.25, attention healthy), and telling a user that its tokens
do not cross would be wrong.
"""

from __future__ import annotations

from motor.encoders.diagnostics import MAX_WEIGHT_LIMIT, POOL_FLOOR_TIMES_UNIFORM, SAME_KEY_LIMIT, TV_FLOOR


def collapse_report(metrics: dict) -> dict | None:
    """``{"collapsed", "failed", "warnings", "tcn", "items", "figures"}`` from a run's metrics, None without diagnostics
    (an ID run, or a run trained before they existed).

    ``figures``: one dict per available figure: ``name``, ``part`` ('attention' or 'pooling'), ``value``,
    ``limit`` (the threshold), ``bad_when`` ('above' or 'below') and ``ok`` (False: this figure flags a
    collapse), ``help``. ``failed``: which part the warning is about, 'attention' (whatever the pooling),
    'pooling' (only the pooling is flagged) or None (healthy).
    """
    diag = metrics.get("item_encoder") if isinstance(metrics, dict) else None
    if not isinstance(diag, dict) or "collapsed" not in diag:
        return None
    figures = []
    mean = (diag.get("attention") or {}).get("mean") or {}

    def add(name: str, value, limit: float, bad_when: str, help_: str, part: str = "attention") -> None:
        if value is None:
            return
        value = float(value)
        ok = value <= limit if bad_when == "above" else value >= limit
        figures.append({"name": name, "part": part, "value": value, "limit": float(limit), "bad_when": bad_when,
                        "ok": ok, "help": help_})

    add("mean largest attention weight", mean.get("max_weight"), MAX_WEIGHT_LIMIT, "above",
        "1/T: uniform rows, 1: one-hot rows (each token looks at a single token)")
    add("share of same-key items", mean.get("same_key"), SAME_KEY_LIMIT, "above",
        "items whose every token attends to one and the same key: a single dark column, no crossing")
    add("TV distance from the average map", mean.get("tv_from_average"), TV_FLOOR, "below",
        "0: every item has the same attention map (it ignores the item's content)")
    pool = diag.get("pooling") or {}
    if pool.get("T"):
        add("pooling: mean largest weight", pool.get("max_weight"), POOL_FLOOR_TIMES_UNIFORM / float(pool["T"]),
            "below", f"1/T = {1 / float(pool['T']):.3f} is uniform pooling (every token counts the same)", "pooling")
    collapsed = bool(diag.get("collapsed"))
    flagged = {f["part"] for f in figures if not f["ok"]}
    # a collapsed run whose figures do not say which part (written by an older version) is read as the attention
    failed = ("pooling" if flagged == {"pooling"} else "attention") if collapsed else None
    return {"collapsed": collapsed, "failed": failed, "warnings": list(diag.get("warnings") or []),
            "tcn": diag.get("tcn"), "items": diag.get("items"), "figures": figures}


def collapse_warning(metrics: dict) -> tuple[str, str] | None:
    """``(headline, explanation)`` of the run's collapse warning, None when its TCN is healthy (or has no
    diagnostics). The headline says which part failed; the explanation gives the run's figures."""
    rep = collapse_report(metrics)
    if rep is None or not rep["collapsed"]:
        return None
    symptoms = "; ".join(rep["warnings"])
    if rep["failed"] == "pooling":
        best, ran = metrics.get("best_epoch"), metrics.get("epochs_run")
        when = f" It is the model of epoch {best} of {ran}, the one that validated best." if best and ran else ""
        return ("MOTOR's pooling weighs an item's tokens almost equally",
                f"{symptoms}. The attention figures are healthy, so the tokens do cross; but each item vector is "
                f"close to the plain mean of its tokens after the crossing, so which token counts most says little "
                f"about the item.{when}")
    return ("The Token Cross Network may have collapsed",
            f"its tokens hardly cross, so MOTOR's item vectors are close to a plain average of token embeddings. "
            f"{symptoms}. Try another learning rate, fewer layers or more epochs.")
