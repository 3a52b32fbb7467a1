"""Attention: how the Token Cross Network combines one item's tokens into its vector."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import charts, state, ui
from motor.explore import attention, layouts

CAPTION = ("Inside MOTOR, an item's tokens (image and text pieces) attend to each other before they are pooled into "
           "one item vector. The heatmaps show, for one item, which token looks at which in every layer and head; "
           "the bars show how much each token counts in the final vector, and the last maps the average pattern "
           "over all items.")


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
    st.caption(f"{len(labels)} tokens: " + ", ".join(f"`{lab}`" for lab in labels) +
               ". A label reads modality, sub-space (s) and codeword (c).")

    if view["attention"] is None:
        st.info(f"This run's Token Cross Network is **{view['tcn']}**, which has no attention maps "
                "(train with the 'attention' variant to see them).", icon=":material/info:")
    else:
        att = view["attention"]  # [L, heads, T, T]
        L, H = att.shape[:2]
        st.subheader("Token-cross attention of this item")
        st.caption("Row = the token that attends, column = the token it attends to; each row sums to 1.")
        for layer in range(L):
            st.plotly_chart(charts.heatmaps(att[layer], labels, [f"layer {layer + 1}, head {h + 1}" for h in range(H)],
                                            zmax=float(att.max())),
                            key=f"att:{layer}", config={"displayModeBar": False})

    if view["pooling"] is not None:
        st.subheader("Token importance (pooling weights)")
        st.caption("How much each token contributes to the item vector; grey bars: the same slot's average over "
                   "all items. A token far above its average is what makes this item distinctive.")
        st.plotly_chart(charts.pooling_bars(labels, np.asarray(view["pooling"]),
                                            None if avg_pool is None else np.asarray(avg_pool)),
                        key="pooling", config={"displayModeBar": False})

    if avg_att is not None:
        st.subheader("Average attention over all items")
        st.caption("The same maps averaged over every item, by slot (modality and sub-space): the crossing "
                   "pattern the network learned in general, e.g. whether image tokens read text tokens.")
        slots = attention.slot_labels(tok)
        for layer in range(avg_att.shape[0]):
            st.plotly_chart(charts.heatmaps(avg_att[layer], slots,
                                            [f"average · layer {layer + 1}, head {h + 1}" for h in range(avg_att.shape[1])]),
                            key=f"avg:{layer}", config={"displayModeBar": False})


ui.page("Attention", CAPTION, body)
