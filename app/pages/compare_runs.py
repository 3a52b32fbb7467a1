"""Compare runs: several finished runs at once (seeds, training fractions, backbones), with spread."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import charts, report, state, ui
from app.workspace import VARIANT_LABELS
from motor.explore import popularity
from motor.run_compare import FIGURES, gap_sentence, motor_minus_id, run_rows, setting_label, with_spread

CAPTION = ("Put several runs side by side: the same backbone at several seeds (how much is noise?), at several "
           "training or cold-item fractions (where does MOTOR help?), or several backbones. Runs that differ only "
           "by their seed are summarised as a mean with its spread. Export the comparison as one HTML file.")


def entries(recs) -> list[dict]:
    out = []
    for r in recs:
        for v in r.variants:
            folder = r.folder(v)
            try:
                metrics = json.loads((folder / "metrics.json").read_text())
                items = json.loads((folder / "dataset.json").read_text()).get("stats", {}).get("items")
            except (OSError, ValueError):
                continue
            out.append({"run": r.run_id, "label": r.label, "backbone": r.backbone, "variant": v, "dataset": r.dataset,
                        "items": items, "settings": r.settings, "metrics": metrics})
    return out


def spread_bars(summary: pd.DataFrame, figure: str) -> go.Figure:
    """Mean per setting; error bars (standard deviation over seeds) only where a setting has two runs or more:
    one run has no spread, and a zero-length bar would read as one."""
    fig = go.Figure()
    spread = bool(summary[f"{figure} std"].notna().any())
    for model, part in summary.groupby("model", sort=False):
        name = {"id": "ID", "motor": "MOTOR"}.get(model, model)
        labels = [setting_label(r).replace(f" · {name}", "") for _, r in part.iterrows()]
        err = part[f"{figure} std"].fillna(0).to_numpy()
        fig.add_trace(go.Bar(x=labels, y=part[f"{figure} mean"], name=name, marker_color=charts.COLORS.get(name),
                             error_y={"type": "data", "array": err,
                                      "visible": bool(part[f"{figure} std"].notna().any())},
                             customdata=np.stack([part["runs"], err], 1),
                             hovertemplate="%{x}: %{y:.4f} ± %{customdata[1]:.4f} (%{customdata[0]} runs)"
                                           "<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(rangemode="tozero", title=f"test {figure}")
    return charts._base(fig, 360, f"Test {figure}: mean over seeds, bar = standard deviation" if spread else
                        f"Test {figure} (one run per setting: no spread to show)")


def size_scatter(rows: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for model, part in rows.groupby("model", sort=False):
        name = {"id": "ID", "motor": "MOTOR"}.get(model, model)
        fig.add_trace(go.Scatter(x=part["catalogue items"], y=part["item-side parameters"], mode="markers",
                                 name=name, marker={"size": 11, "color": charts.COLORS.get(name)},
                                 text=part["run"], hovertemplate="%{text}: %{x:,} items, %{y:,} parameters"
                                                                 "<extra>" + name + "</extra>"))
    lo = np.log10(max(1, float(rows["catalogue items"].min() or 1)) / 3)
    hi = np.log10(max(1, float(rows["catalogue items"].max() or 1)) * 3)
    fig.update_xaxes(type="log", title="items in the catalogue", dtick=1, range=[lo, hi])  # decades only
    fig.update_yaxes(type="log", title="item-side parameters", dtick=1)
    return charts._base(fig, 340, "Item-side size against catalogue size")


def popularity_chart(es: list[dict], rows: pd.DataFrame) -> go.Figure | None:
    """Test Recall@20 per popularity bucket (metrics.json ``by_popularity``), one bar per setting, the spread
    over its seeds as error bars; None when no picked run has buckets."""
    labels = [setting_label(r) for _, r in rows.iterrows()]  # rows follow es, one per run and variant
    table = popularity.popularity_table([(lab, e["metrics"]) for lab, e in zip(labels, es)])
    if table.empty:
        return None
    colors = {lab: charts.COLORS.get(VARIANT_LABELS.get(m, m)) for lab, m in zip(labels, rows["model"])}
    return charts.bucket_bars(popularity.popularity_spread(table, "recall@20"),
                              "By item popularity: test Recall@20 (bar = standard deviation over seeds)", colors=colors)


def body():
    runs = state.runs()
    if not runs:
        ui.no_run_yet()
    by_id = {r.run_id: r for r in runs}
    # the runs a person picked outlive page switches (Streamlit forgets an undrawn widget); until they pick, the
    # newest four, so a run trained since is in the comparison
    chosen = st.session_state.setdefault("compare_runs", {})
    if "w:compare_runs" not in st.session_state:
        st.session_state["w:compare_runs"] = ([i for i in chosen["runs"] if i in by_id] if "runs" in chosen
                                              else [r.run_id for r in runs[:4]])
    picked = st.multiselect("Runs to compare (newest first)", list(by_id), key="w:compare_runs",
                            format_func=lambda i: f"{ui.run_name(by_id[i])} ({i[-6:]})",
                            on_change=lambda: chosen.update(runs=list(st.session_state["w:compare_runs"])))
    if not picked:
        st.info("Pick at least one run.", icon=":material/info:")
        return
    es = entries([by_id[i] for i in picked])
    rows = run_rows(es)
    summary = with_spread(rows)
    st.subheader("Each setting, over its seeds")
    shown = summary.assign(setting=[setting_label(r) for _, r in summary.iterrows()])
    cols = ["setting", "runs", "seeds"] + [c for f in FIGURES for c in (f"{f} mean", f"{f} std")
                                           if shown[c].notna().any()] + ["item-side parameters"]
    st.dataframe(shown[cols], hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in cols
                                if c.endswith(("mean", "std"))})
    for _, pair in motor_minus_id(summary).iterrows():  # is a gap more than seed noise? (Welch over the seeds)
        st.markdown("- " + gap_sentence(pair))
    figs = [spread_bars(summary, "recall@20")]
    cold = summary["cold recall@20 mean"].dropna()
    if (cold > 0).any():  # all 0 would be an empty plot on a 0-1 axis
        figs.append(spread_bars(summary, "cold recall@20"))
    figs.append(size_scatter(rows))
    pop = popularity_chart(es, rows)
    if pop is not None:
        figs.append(pop)
    for j, fig in enumerate(figs):
        st.plotly_chart(fig, key=f"cmp:{j}", config={"displayModeBar": False})
    if len(cold) and not (cold > 0).any():
        st.info("Test cold Recall@20 is 0 for every setting here: no run ranked any held-out item in its top 20, "
                "so there is no chart of it.", icon=":material/info:")
    if pop is None:
        st.caption("Popularity buckets appear here for runs whose metrics include them (by_popularity).")
    st.subheader("Every run")
    st.dataframe(rows.drop(columns=["label"]), hide_index=True, width="stretch")
    page = report.comparison_html("motor-lab: runs compared", CAPTION, {"Settings over seeds": shown[cols],
                                                                         "Every run": rows}, figs)
    st.download_button("Export as HTML report", page.encode(), "motor-lab-comparison.html", "text/html",
                       icon=":material/download:", key="w:compare_export",
                       help="One self-contained file: tables and interactive figures, opens offline.")


ui.page("Compare runs", CAPTION, body)
