"""Shared Streamlit pieces: the page frame (title, caption, error boundary), bound widgets, pickers."""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable

import numpy as np
import streamlit as st

from app import state
from app.workspace import VARIANT_LABELS, RunRecord
from motor import run_compare
from motor.errors import MotorError

log = logging.getLogger("motor_lab")


PRESENT_CSS = """<style>
/* presentation mode: larger type, less text, about one figure per screen */
html, .stMarkdown p, .stMarkdown li { font-size: 22px !important; }
h1 { font-size: 3rem !important; } h2, h3 { font-size: 2.1rem !important; }
[data-testid="stCaptionContainer"] { display: none; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; }
/* a large value in a row of four wraps instead of being cut to "512 of…" */
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; overflow-wrap: anywhere; }
[data-testid="stPlotlyChart"] { margin-bottom: 8vh; }
</style>"""


def presentation_mode() -> bool:
    """The session's presentation switch (sidebar), applied to this run's CSS and figures."""
    from app import charts

    on = bool(st.session_state.get("present", False))
    charts.presentation(on)
    if on:
        st.html(PRESENT_CSS)
    return on


def page(title: str, caption: str, body: Callable[[], None]) -> None:
    """Draw a page: title, one plain-language caption, then ``body`` inside an error boundary.

    A MotorError (bad data, impossible setting) is shown as its message; anything else is a bug:
    a one-line message for the user, the traceback in the server log. Session state (settings,
    uploads, runs) is untouched either way.
    """
    st.title(title)
    st.caption(caption)
    try:
        body()
    except MotorError as e:
        st.error(str(e), icon=":material/error:")
    except Exception as e:
        if type(e).__module__.startswith("streamlit"):  # st.stop / st.rerun / page switches
            raise
        log.error("page %s failed:\n%s", title, traceback.format_exc())
        st.error(f"Something went wrong while drawing this page ({type(e).__name__}: {e}). Your settings and runs "
                 "are kept; the details are in the server log.", icon=":material/bug_report:")


def bound(widget: Callable, store: dict, name: str, label: str, key: str | None = None, default=None, **kw):
    """A widget whose value lives in ``store[name]`` (session state), so it survives page switches.

    Streamlit forgets a widget's own state when its page is not drawn; the store does not.
    """
    wkey = key or f"w:{name}"
    if store.get(name) is None and default is not None:
        store[name] = default
    if wkey not in st.session_state:
        st.session_state[wkey] = store.get(name)
    options = kw.get("options")
    if options is not None:
        offered, now = list(options), st.session_state[wkey]
        if isinstance(now, list):  # a multiselect: the choices still offered
            st.session_state[wkey] = [v for v in now if v in offered]
        elif now not in offered:
            st.session_state[wkey] = offered[0]
    value = widget(label, key=wkey, **kw)
    store[name] = value
    return value


def no_run_yet() -> None:
    """Stop the page with the way to a run (only when this session sees no run at all: none to pick on Runs)."""
    st.info("No trained run yet. Open the **Train** page and press **Train** (about a minute on the demo).",
            icon=":material/info:")
    st.page_link("app/pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()


def require_run(need: str | None = None) -> tuple[RunRecord, dict]:
    """The active run and its loaded models (variant -> LoadedRun); stops the page with a hint if none."""
    rec = state.active_run()
    if rec is None:
        no_run_yet()
    if need and need not in rec.variants:
        run_line(rec)
        st.info(f"The run **{rec.label}** has no {VARIANT_LABELS[need]} model. Pick a run that trained "
                f"{VARIANT_LABELS[need]} (sidebar) or train one.", icon=":material/info:")
        st.stop()
    models = state.run_models(rec)
    run_line(rec)
    return rec, models


def run_name(rec: RunRecord, precise: bool = False) -> str:
    """A run in few words: backbone, models, dataset, when (the label's parts are not repeated); ``precise``
    gives the time to the second (and the day when it is not today)."""
    t = time.localtime(rec.created)
    today = t[:3] == time.localtime()[:3]
    fmt = ("%H:%M:%S" if today else "%d %b %H:%M:%S") if precise else ("%H:%M" if today else "%d %b")
    regime = "".join(f" · {w}" for w in split_words(rec.settings))
    return (f"{rec.backbone} {'+'.join(VARIANT_LABELS[v] for v in rec.variants)} · {rec.dataset}{regime} · "
            f"{time.strftime(fmt, t)}")


def split_words(settings: dict) -> list[str]:
    """``motor.run_compare.split_words`` of a run's settings: the app's flat ones ('split.train_fraction') or a
    nested config."""
    def read(part: str, key: str):
        if not isinstance(settings, dict):
            return None
        nested = settings.get(part)
        return settings.get(f"{part}.{key}", nested.get(key) if isinstance(nested, dict) else None)

    return run_compare.split_words(read("split", "train_fraction"), read("split", "cold_items"))


def run_names(recs: list[RunRecord]) -> dict[str, str]:
    """``run_name`` per run id, each label unique: runs whose labels would read alike (same settings in the same
    minute, or on the same earlier day) get their time to the second, then their id's tail. A selectbox sends
    back the text shown, so two equal labels would open the same run whichever the user picked."""
    names = {r.run_id: run_name(r) for r in recs}
    for precise in (True, False):
        seen = Counter(names.values())
        for r in recs:
            if seen[names[r.run_id]] > 1:
                names[r.run_id] = run_name(r, True) if precise else f"{names[r.run_id]} #{r.run_id[-6:]}"
    return names


def run_line(rec: RunRecord) -> None:
    st.markdown(f":material/folder_open: Run **{run_name(rec)}** · change it in the sidebar")


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 group', '3 groups'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def picker_key(ds, key: str = "item") -> str:
    """The widget key of the item picker (callbacks set it to pick an item, e.g. a map click)."""
    return f"w:pick:{key}:{ds.name}:{ds.n_items}"


def item_picker(ds, label: str = "Item", key: str = "item", popularity: np.ndarray | None = None,
                help: str | None = None) -> int:
    """Pick an item by title (most interacted first); the choice is shared by all pages."""
    from motor.explore.catalogue import item_label

    pop = popularity if popularity is not None else np.bincount(ds.interactions.item, minlength=ds.n_items)
    order = np.argsort(-pop, kind="stable").tolist()
    store = st.session_state.setdefault("picked", {})
    if store.get(key) is not None and store[key] >= ds.n_items:
        store[key] = None
    if store.get(key) is None:
        store[key] = order[0]
    return int(bound(st.selectbox, store, key, label, key=picker_key(ds, key), options=order,
                     format_func=lambda i: f"{item_label(ds, i)}  ({pop[i]} interactions)", help=help))


def metric_row(values: list[tuple[str, str, str | None]]) -> None:
    """A row of st.metric: (label, value, help)."""
    cols = st.columns(len(values))
    for c, (label, value, help_) in zip(cols, values):
        c.metric(label, value, help=help_)


def fmt_int(n) -> str:
    return "–" if n is None else f"{int(n):,}"


def fmt_bytes(n) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def personalisation_notice(runs: dict[str, dict]) -> None:
    """How alike the users' lists are, per run beside the popularity ranking, and a warning for each run that
    ranks nearly every user alike (``metrics.json["personalisation"]``)."""
    from motor.explore.personalisation import personalisation_sentence, personalisation_warnings

    sentence = personalisation_sentence(runs)
    if sentence:
        st.markdown(sentence)
    for text in personalisation_warnings(runs):
        st.warning(text, icon=":material/warning:")


def collapse_notice(metrics: dict) -> None:
    """The Token Cross Network's collapse check from a run's metrics (``item_encoder``): a warning naming
    each symptom when it collapsed, and the key figures beside their thresholds either way."""
    from motor.explore.collapse import collapse_report, collapse_warning

    rep = collapse_report(metrics)
    if rep is None:
        return
    warning = collapse_warning(metrics)  # which part failed: the crossing, or only the pooling
    if warning:
        st.warning(f"**{warning[0]}**: {warning[1]}", icon=":material/warning:")
    if not rep["figures"]:
        return
    cols = st.columns(len(rep["figures"]))
    for c, f in zip(cols, rep["figures"]):
        upper = f["bad_when"] == "above"  # the limit is a ceiling: the arrow points down, as '≤' does
        limit = f"{'≤' if upper else '≥'} {f['limit']:.3g}"
        c.metric(f["name"], f"{f['value']:.3f}", delta=f"healthy {limit}" if f["ok"] else f"collapsed: wants {limit}",
                 delta_color="green" if f["ok"] else "red", delta_arrow="down" if upper else "up", help=f["help"])
    st.caption(f"Attention diagnostics of the {rep['tcn']} Token Cross Network over {rep['items']:,} items "
               "(written at the end of training)." if rep.get("items") else
               "Attention diagnostics written at the end of training.")
