"""Compare: ID vs MOTOR on held-out data, model size and training curves; downloads."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import charts, state, ui
from app.workspace import VARIANT_LABELS
from motor.explore import popularity, recommendations, tables, tail
from motor.explore.personalisation import popularity_sentence
from motor.run_notes import size_note, training_end

CAPTION = ("The headline: how well each item representation ranks the items users really chose next (test Recall "
           "and NDCG), on items never seen in training (cold), and how many item-side parameters it needs. MOTOR's "
           "item side is a shared token table plus a small network; the ID table grows with every new item.")


@st.cache_data(show_spinner="Preparing the recommendation files...", max_entries=8)
def _recommendations(folders: tuple[str, ...], names: tuple[str, ...], k: int) -> pd.DataFrame:
    parts = []
    for folder, name in zip(folders, names):
        df = recommendations.all_recommendations(state.loaded_run(folder), k)
        df.insert(0, "model", name)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


@st.cache_data(show_spinner="Ranking the rare test items...", max_entries=8)
def _rare_items(folders: tuple[str, ...], names: tuple[str, ...]) -> dict[str, dict]:
    return {name: tail.rare_item_ranks(state.loaded_run(folder)) for folder, name in zip(folders, names)}


def body():
    rec, models = ui.require_run()
    names = {VARIANT_LABELS[v]: run for v, run in sorted(models.items(), key=lambda kv: kv[0] != "id")}
    metrics = {n: run.metrics for n, run in names.items()}
    table = tables.metrics_table(metrics)
    if {"ID", "MOTOR"} <= set(table.columns):
        table["MOTOR vs ID"] = tables.relative_change(table, "ID", "MOTOR").map(
            lambda v: "" if pd.isna(v) else f"{v:+.1%}")

    figs = ["test recall@10", "test recall@20", "test ndcg@10", "test ndcg@20"]
    change = table["MOTOR vs ID"] if "MOTOR vs ID" in table.columns else None
    cols = st.columns(2 * len(metrics))
    for j, (n, m) in enumerate(metrics.items()):
        delta = change.get("test recall@20") if change is not None and n == "MOTOR" else None
        cols[j].metric(f"{n} test Recall@20", f"{m['test'].get('recall@20', float('nan')):.4f}",
                       delta=f"{delta} vs ID" if delta else None,
                       help=f"best epoch {m.get('best_epoch')} of {m.get('epochs_run')}")
    for j, (n, m) in enumerate(metrics.items()):
        delta = change.get("item-side bytes") if change is not None and n == "MOTOR" else None
        cols[len(metrics) + j].metric(f"{n} item-side size", ui.fmt_bytes(m["params"].get("item_side_bytes")),
                                      delta=f"{delta} vs ID" if delta else None, delta_color="inverse",
                                      help=f"{m['params'].get('item_side'):,} trainable item-side parameters")
    reference = popularity_sentence(metrics)  # the Recall a non-personal ranking gets on the same split
    if reference:
        st.caption(reference)
    if {"ID", "MOTOR"} <= set(metrics):
        note = size_note(metrics["ID"]["params"].get("item_side") or 0,
                         metrics["MOTOR"]["params"].get("item_side") or 0, names["MOTOR"].dataset.n_items)
        if note:
            st.info(note, icon=":material/straighten:")
    pop = popularity.popularity_table(metrics)  # per bucket; also says whether F left items without interactions
    a, b = st.columns(2)
    num = table.drop(columns=[c for c in table.columns if c == "MOTOR vs ID"])
    a.plotly_chart(charts.grouped_bars(num, figs, "Test ranking quality (higher is better)"), key="bars_test",
                   config={"displayModeBar": False})
    cold_rows = [r for r in num.index if r.startswith("cold ")]
    if cold_rows:
        b.plotly_chart(charts.grouped_bars(num, cold_rows, "Cold items (held out of training)"), key="bars_cold",
                       config={"displayModeBar": False})
        zero = [f"{n} {r}" for r in cold_rows for n in num.columns if num.loc[r, n] == 0]
        if zero:
            b.caption("A bar without a number is 0: " + ", ".join(zero) + " (no held-out item in the top 20).")
    else:
        b.plotly_chart(charts.grouped_bars(num, ["item-side parameters"], "Item-side parameters", fmt=",.0f"),
                       key="bars_params", config={"displayModeBar": False})
        b.caption(popularity.no_held_out_note(pop))

    if not pop.empty:
        st.subheader("By item popularity")
        spread = popularity.popularity_spread(pop, "recall@20")
        st.plotly_chart(charts.bucket_bars(spread, "Test Recall@20 per popularity bucket"), key="bars_popularity",
                        config={"displayModeBar": False})
        sizes = pop.drop_duplicates("bucket").set_index("bucket")
        gap = popularity.gap_sentence(spread)
        if gap:
            st.markdown(gap)
        st.caption("Buckets: " + ", ".join(f"{b} {ui.plural(int(r['items']), 'item')} "
                                           f"({ui.plural(int(r['test interactions']), 'test interaction')})"
                                           for b, r in sizes.iterrows() if r["items"]) +  # no empty bucket
                   ". " + (popularity.bucket_rule(next(iter(metrics.values()))) or ""))

    if {"ID", "MOTOR"} <= set(names) and not pop.empty:
        with st.expander("Why rare items rank where they do"):
            reports = _rare_items(tuple(str(names[n].path) for n in ("ID", "MOTOR")), ("ID", "MOTOR"))
            st.dataframe(tail.rare_item_table(reports), hide_index=True, width="stretch")
            st.caption(tail.rare_item_story(reports) + f" Rare: the tail bucket above (1 to {tail.TAIL_MAX} training "
                       "interactions, not head); ranks count the candidates the test ranking has, as in the metrics "
                       "(0 = first).")

    st.subheader("All figures")
    shown = table.copy()
    for col in [c for c in shown.columns if c != "MOTOR vs ID"]:
        shown[col] = [_fmt(r, v) for r, v in zip(shown.index, shown[col])]
    st.dataframe(shown, width="stretch", height=min(40 + 35 * len(shown), 720),
                 column_config={"_index": st.column_config.TextColumn("figure", width="large")})

    st.subheader("Training curves")
    hist = tables.history_frame({n: run.history for n, run in names.items()})
    best = {n: m.get("best_epoch") for n, m in metrics.items()}
    a, b = st.columns(2)
    a.plotly_chart(charts.curves(hist, "loss", "training loss"), key="curve_loss", config={"displayModeBar": False})
    b.plotly_chart(charts.curves(hist, "valid recall@20", "validation Recall@20 (star: best epoch)", best=best),
                   key="curve_valid", config={"displayModeBar": False})
    st.caption("How training ended: " + "; ".join(f"{n} {training_end(m)}" for n, m in metrics.items()))

    st.subheader("Downloads")
    recs = _recommendations(tuple(str(run.path) for run in names.values()), tuple(names), 20)
    metrics_csv = table.to_csv().encode()
    metrics_json = json.dumps({"run": rec.run_id, "label": rec.label, "settings": rec.settings, "metrics": metrics},
                              indent=2, default=float).encode()
    c = st.columns(4)
    c[0].download_button("Metrics (CSV)", metrics_csv, f"motor-{rec.run_id}-metrics.csv", "text/csv",
                         icon=":material/download:")
    c[1].download_button("Metrics (JSON)", metrics_json, f"motor-{rec.run_id}-metrics.json", "application/json",
                         icon=":material/download:")
    c[2].download_button("Top-20 per user (CSV)", recs.to_csv(index=False).encode(),
                         f"motor-{rec.run_id}-recommendations.csv", "text/csv", icon=":material/download:")
    c[3].download_button("Top-20 per user (JSON)", recs.to_json(orient="records", indent=1).encode(),
                         f"motor-{rec.run_id}-recommendations.json", "application/json", icon=":material/download:")
    st.caption(f"{len(recs):,} recommendation rows ({', '.join(names)}; 20 per user, leaving out the items the test "
               "ranking leaves out: training items and, under the strict protocol, validation items; 'hit' marks a "
               "held-out test or cold item).")


def _fmt(row: str, v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if "bytes" in row:
        return ui.fmt_bytes(v)
    if "parameters" in row or row in ("best epoch", "epochs run"):
        return f"{int(v):,}"
    if "seconds" in row:
        return f"{v:.2f}"
    return f"{v:.4f}"


ui.page("Compare", CAPTION, body)
