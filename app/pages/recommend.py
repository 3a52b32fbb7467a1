"""Recommend: one user's history, and what MOTOR and the ID baseline recommend to them."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import ui
from app.workspace import VARIANT_LABELS
from motor.explore import recommendations

CAPTION = ("Pick a user and compare MOTOR's top-K with the ID baseline's. Items the user really interacted with later "
           "(held out for testing) are marked as hits; cold items (never seen in training) only MOTOR can rank "
           "sensibly. Below: the user's training history (what both models learned from) and the held-out items.")


def random_user(key: str, ids: list, current) -> None:
    """Button callback: runs before the widgets are created, so it may set the user box's value."""
    others = [u for u in ids if u != current] or ids
    st.session_state[key] = others[int(np.random.default_rng().integers(len(others)))]


def body():
    rec, models = ui.require_run()
    first = next(iter(models.values()))
    users = recommendations.user_options(first)
    if users.empty:
        st.info("No user in this run has held-out test items.")
        return
    store = st.session_state.setdefault("picked", {})
    ids = users["user_id"].tolist()
    info = dict(zip(ids, zip(users["train"].tolist(), users["test"].tolist())))
    c1, c2, c3 = st.columns([3, 2, 1])
    with c1:
        user = ui.bound(st.selectbox, store, "user", "User", key=f"w:user:{rec.dataset}", options=ids,
                        format_func=lambda u: f"user {u} · {info[u][0]} training items, {info[u][1]} held out")
    with c2:
        k = int(ui.bound(st.slider, store, "k", "How many recommendations (K)", default=10, min_value=5,
                         max_value=50, step=5))
    with c3:
        st.write("")
        st.button("Random user", icon=":material/casino:", key="w:random_user", on_click=random_user,
                  args=(f"w:user:{rec.dataset}", ids, user), help="Pick another user at random")

    res = recommendations.compare_recommendations(models, user, k)
    names = list(res["lists"])
    hits = [(f"{VARIANT_LABELS[n]} hits", f"{res['hits'][n]} of {k}",
             f"recommended items that are among the user's {res['n_truth']} held-out items") for n in names]
    extra = []
    if len(names) > 1:
        extra = [("In both lists", f"{len(res['overlap'])} of {k}", "items recommended by both models"),
                 ("Jaccard overlap", f"{res['jaccard']:.2f}", "|both| / |either|: 1 = same items")]
    ui.metric_row(hits + extra + [("Held-out items", str(res["n_truth"]), "test (and cold) interactions")])

    cols = st.columns(len(names))
    config = {"rank": st.column_config.NumberColumn("#", width=40),
              "title": st.column_config.TextColumn("title", width="medium"),
              "score": st.column_config.NumberColumn("score", format="%.2f", width=60),
              "hit": st.column_config.CheckboxColumn("hit", help="held-out item of this user", width=40),
              "cold": st.column_config.CheckboxColumn("cold", help="never seen in training", width=45),
              "in other list": st.column_config.CheckboxColumn("both", help="also in the other model's list",
                                                               width=45)}
    for col, name in zip(cols, names):
        df = res["lists"][name]
        show = ["rank", "title", "score", "hit", "cold"] + (["in other list"] if len(names) > 1 else [])
        with col:
            st.markdown(f"**{VARIANT_LABELS[name]} top-{k}**")
            st.dataframe(df[show], hide_index=True, width="stretch", column_config=config,
                         height=min(38 + 35 * k, 740))

    a, b = st.columns(2)
    with a:
        hist = recommendations.user_history(first, user)
        n_train = int((hist["part"] == "train").sum())
        st.markdown(f"**History** ({n_train} training items the models learned from, {len(hist) - n_train} validation "
                    "items that chose the epoch; the lists leave out the items the test ranking leaves out)")
        st.dataframe(hist.drop(columns=["item", "item_id"]), hide_index=True, width="stretch", height=300)
    with b:
        held = res["held_out"]
        found = set().union(*(set(df.loc[df["hit"], "item"]) for df in res["lists"].values()))
        held = held.assign(found=held["item"].isin(found))
        st.markdown(f"**Held-out items** (what the user did next; {int(held['found'].sum())} found by a model)")
        st.dataframe(held.drop(columns=["item"]), hide_index=True, width="stretch", height=300,
                     column_config={"found": st.column_config.CheckboxColumn("found in a top-K")})


ui.page("Recommend", CAPTION, body)
