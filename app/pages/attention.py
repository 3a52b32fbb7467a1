"""Attention: how the Token Cross Network combines one item's tokens into its vector."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import charts, state, ui
from motor.explore import attention, layouts

CAPTION = ("Inside MOTOR, an item's tokens (image and text pieces) attend to each other before they are pooled into "
           "one item vector. Pick a layer and a head: the item's map sits beside the average over all items on one "
           "colour scale, and their difference shows what is particular to this item; the bars show how much each "
           "token counts in the final vector.")


@st.cache_data(show_spinner="Averaging attention over all items...", max_entries=8)
def _averages(folder: str, key: str):
    run = state.loaded_run(folder)
    enc = run.model.items
    return enc.attention_average(), enc.pooling_average()


def body():
    rec, models = ui.require_run(need="motor")
    run = models["motor"]
    ds, tok, enc = run.dataset, run.tokenizer, run.model.items
    item = ui.item_picker(ds, "Item", help="The same pick is used on the Tokens page.")
    view = attention.attention_view(enc, tok, item)
    folder = rec.folder("motor")
    avg_att, avg_pool = _averages(str(folder), layouts.model_key(folder))
    labels = view["labels"]
    ui.collapse_notice(run.metrics)  # the run's own verdict (metrics.json), over all items
    st.caption(f"{len(labels)} tokens: " + ", ".join(f"`{lab}`" for lab in labels) +
               ". A label reads modality, sub-space (s) and codeword (c).")

    if view["attention"] is None:
        st.info(f"This run's Token Cross Network is **{view['tcn']}**, which has no attention maps "
                "(train with the 'attention' variant to see them).", icon=":material/info:")
    else:
        att = view["attention"]  # [L, heads, T, T]
        L, H = att.shape[:2]
        st.subheader("Token-cross attention of this item")
        picked = st.session_state.setdefault("picked", {})
        c1, c2, _ = st.columns([1, 1, 2])
        layer = int(ui.bound(c1.selectbox, picked, "att_layer", "Layer", options=list(range(L)),
                             format_func=lambda i: f"layer {i + 1} of {L}"))
        head = ui.bound(c2.selectbox, picked, "att_head", "Head", options=["mean"] + list(range(H)),
                        format_func=lambda h: f"mean of the {H} heads" if h == "mean" else f"head {h + 1} of {H}")
        pick = (lambda a: a[layer].mean(0)) if head == "mean" else (lambda a: a[layer, int(head)])
        mine = pick(att)
        what = f"layer {layer + 1}, " + ("mean of heads" if head == "mean" else f"head {int(head) + 1}")
        st.caption("Row = the token that attends, column = the token it attends to; each row sums to 1. Both maps "
                   "share one colour scale.")
        if avg_att is not None:
            avg = pick(avg_att)
            st.plotly_chart(charts.heatmaps(np.stack([mine, avg]), labels, [f"this item · {what}",
                                                                            f"average over all items · {what}"],
                                            zmax=float(max(mine.max(), avg.max())),
                                            panel_labels=[labels, attention.slot_labels(tok)]),
                            key="att:pair", config={"displayModeBar": False})
            st.plotly_chart(charts.difference_heatmap(mine - avg, labels, f"this item minus the average · {what}"),
                            key="att:diff", config={"displayModeBar": False})
            st.caption("Red: this item's token looks at that token more than items usually do; blue: less. "
                       "What stands out here is what is particular to this item.")
        else:
            st.plotly_chart(charts.heatmaps(mine[None], labels, [f"this item · {what}"]), key="att:pair",
                            config={"displayModeBar": False})

    if view["pooling"] is not None:
        st.subheader("Token importance (pooling weights)")
        st.caption("How much each token contributes to the item vector; grey bars: the same slot's average over "
                   "all items. A token far above its average is what makes this item distinctive.")
        st.plotly_chart(charts.pooling_bars(labels, np.asarray(view["pooling"]),
                                            None if avg_pool is None else np.asarray(avg_pool)),
                        key="pooling", config={"displayModeBar": False})


ui.page("Attention", CAPTION, body)
