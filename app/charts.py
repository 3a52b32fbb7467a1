"""Plotly figures for the app. Pure functions from arrays/DataFrames to figures (no Streamlit)."""

from __future__ import annotations

import math
import threading
from collections import Counter

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from motor.explore.seed_spread import is_clear

COLORS = {"ID": "#8a8f98", "MOTOR": "#e4572e"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd", "#e6550d", "#31a354"]
MUTED = "#d0d3d8"
HATCHES = ["", "/", ".", "x", "\\", "+"]  # tell apart bars of one colour (several settings of one model)
# a sequential scale whose lowest colour still stands out on white (OrRd starts near white: washed out)
SCALE = [[0.0, "#fdae61"], [0.5, "#e4572e"], [1.0, "#67000d"]]
SVG_MAX_POINTS = 4000
FONT = dict(family="Inter, Source Sans Pro, sans-serif", size=13)


def _epoch_axis(fig: go.Figure, last_epoch: int) -> None:
    """Whole-number epoch ticks (no '0.5' epochs on short runs)."""
    fig.update_xaxes(title="epoch", rangemode="tozero", dtick=max(1, math.ceil(max(last_epoch, 1) / 10)))


_style = threading.local()  # per script thread: one session presenting does not enlarge another's figures
PRESENT_HEIGHT = 640  # presentation mode: about one figure per screen
PRESENT_FONT = 18


def presentation(on: bool) -> None:
    """Presentation mode for the figures built by this thread's script run (larger type, taller)."""
    _style.present = bool(on)


def presenting() -> bool:
    return getattr(_style, "present", False)


def _present(fig: go.Figure, height: int) -> go.Figure:
    if presenting():
        fig.update_layout(height=max(height, PRESENT_HEIGHT), font={**FONT, "size": PRESENT_FONT})
        fig.update_annotations(font_size=PRESENT_FONT)
    return fig


def _base(fig: go.Figure, height: int = 420, title: str | None = None) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=56 if title else 24, b=10), font=FONT,
                      title=dict(text=title, x=0.01, y=0.98, yanchor="top", font=dict(size=15)) if title else None,
                      plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
    if title and presenting():
        fig.update_layout(title_font_size=PRESENT_FONT + 6)
    return _present(fig, height)


def item_map(xy: np.ndarray, hover: list[str], color: dict, title: str, highlight: int | None = None,
             height: int = 460, cold: np.ndarray | None = None) -> go.Figure:
    """A 2-D map of items. ``color`` is one of:

    {'kind': 'category', 'values': [...], 'order': [...]}   one trace per category (legend toggles)
    {'kind': 'mask', 'values': bool[n], 'name': '...'}     highlighted items over muted others
    {'kind': 'scale', 'values': float[n], 'name': '...'}    continuous colour scale

    Every point carries its item index as ``customdata`` (a click picks the item: ``picked_item``);
    ``cold`` (bool [n]) rings the items held out of training.
    """
    fig = go.Figure()
    hover = np.asarray(hover, dtype=object)
    marker = dict(size=6, line=dict(width=0))
    # SVG below a few thousand points: WebGL has to be emulated in software where there is no GPU (VMs,
    # remote desktops, headless browsers) and was slower there; above that SVG itself gets slow.
    Scatter = go.Scatter if len(xy) <= SVG_MAX_POINTS else go.Scattergl

    def points(idx, name, mk, template, **kw):
        idx = np.asarray(idx, dtype=int)
        fig.add_trace(Scatter(x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=name, marker=mk, text=hover[idx],
                              customdata=idx, hovertemplate=template, **kw))

    kind = color["kind"]
    if kind == "category":
        values = np.asarray(color["values"], dtype=object)
        for j, cat in enumerate(color.get("order") or sorted(set(values))):
            sel = values == cat
            if not sel.any():
                continue
            c = MUTED if cat in ("other", "none") else PALETTE[j % len(PALETTE)]
            points(np.flatnonzero(sel), str(cat), dict(**marker, color=c, opacity=0.8),
                   "%{text}<extra>" + str(cat) + "</extra>")
    elif kind == "mask":
        sel = np.asarray(color["values"], bool)
        points(np.flatnonzero(~sel), "other items", dict(**marker, color=MUTED, opacity=0.6),
               "%{text}<extra></extra>")
        points(np.flatnonzero(sel), color.get("name", "selected"),
               dict(size=8, color="#e4572e", line=dict(width=0.5, color="white")), "%{text}<extra></extra>")
    else:
        vals = np.asarray(color["values"], float)
        name = color.get("name", "")
        shown = ~np.isnan(vals)  # NaN: not on the scale (e.g. the picked item, drawn as its star)
        if color.get("muted_zero"):  # zero = "none": grey, so the scale is spent on the items that have some
            zero = shown & (vals == 0)
            points(np.flatnonzero(zero), f"no {name}", dict(**marker, color=MUTED, opacity=0.6),
                   "%{text}<br>" + name + ": 0<extra></extra>")
            shown &= vals != 0
        idx = np.flatnonzero(shown)
        idx = idx[np.argsort(vals[idx], kind="stable")]  # high values drawn last, on top
        lo = float(vals[idx].min()) if len(idx) else 0.0
        hi = float(vals[idx].max()) if len(idx) else 1.0
        points(idx, name, dict(**marker, color=vals[idx], colorscale=SCALE, showscale=True, cmin=lo,
                               cmax=max(hi, lo + 1),
                               colorbar=dict(title=dict(text=name, side="right"), thickness=10)),
               "%{text}<br>" + name + ": %{marker.color}<extra></extra>")
    if cold is not None and np.any(cold):
        points(np.flatnonzero(cold), "cold items (never in training)",
               dict(size=9, symbol="circle-open", color="#111", line=dict(width=1)), "%{text}<extra>cold</extra>")
    if highlight is not None:
        points([highlight], "picked item", dict(size=16, symbol="star", color="#111", line=dict(width=1, color="white")),
               "%{text}<extra>picked</extra>")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1)
    fig = _base(fig, height, title)
    if kind == "category" and len(fig.data) > 7:  # many clusters: a legend beside the map, not over its title
        fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.01,
                                      font=dict(size=11)))
    return fig


def picked_item(event) -> int | None:
    """The item of the first clicked point in a Streamlit plotly selection event (its ``customdata``)."""
    try:
        pts = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in pts:
        c = p.get("customdata")
        c = c[0] if isinstance(c, (list, tuple)) and c else c
        if isinstance(c, (int, float)) and not isinstance(c, bool):
            return int(c)
    return None


def heatmaps(maps: np.ndarray, labels: list[str], titles: list[str], height: int = 380,
             zmax: float | None = None, zmin: float = 0.0, colorscale: str = "Blues",
             panel_labels: list[list[str]] | None = None, colorbar: str = "weight") -> go.Figure:
    """Side-by-side attention heatmaps [n, T, T] on ONE colour scale (comparable at a glance);
    rows = query token (attends), columns = key token. ``panel_labels`` gives each panel its own
    tick labels (e.g. an item's tokens beside the slots of an average)."""
    n = len(maps)
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=0.12 if n > 1 else 0.05)
    zmax = float(np.max(maps)) if zmax is None else zmax
    T = len(labels)
    tick = 11 if T <= 12 else 9  # many tokens: smaller ticks, still readable
    for j, m in enumerate(maps):
        lab = panel_labels[j] if panel_labels else labels
        fig.add_trace(go.Heatmap(z=m, x=lab, y=lab, zmin=zmin, zmax=zmax, colorscale=colorscale,
                                 showscale=j == n - 1, colorbar=dict(thickness=10, title=dict(text=colorbar)),
                                 hovertemplate="%{y} attends to %{x}: %{z:.3f}<extra></extra>"),
                      row=1, col=j + 1)
        fig.update_yaxes(autorange="reversed", row=1, col=j + 1, tickfont=dict(size=tick), automargin=True)
        fig.update_xaxes(tickangle=-45, row=1, col=j + 1, tickfont=dict(size=tick), automargin=True)
    fig.update_layout(height=height + 10 * max(T - 8, 0), margin=dict(l=10, r=10, t=40, b=10), font=FONT)
    _present(fig, height + 10 * max(T - 8, 0))
    return fig


def difference_heatmap(diff: np.ndarray, labels: list[str], title: str, height: int = 380) -> go.Figure:
    """An item's attention minus the average (diverging scale centred on 0: red = more than usual)."""
    lim = float(np.abs(diff).max()) or 1e-6
    return heatmaps(diff[None], labels, [title], height, zmax=lim, zmin=-lim, colorscale="RdBu_r",
                    colorbar="vs average")


def pooling_bars(labels: list[str], weights: np.ndarray, average: np.ndarray | None = None,
                 height: int = 340) -> go.Figure:
    """Token importance: the pooling weight of each token (and the average over all items)."""
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=weights, orientation="h", name="this item", marker_color=COLORS["MOTOR"],
                         hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    if average is not None:
        fig.add_trace(go.Bar(y=labels, x=average, orientation="h", name="average over all items",
                             marker_color=COLORS["ID"], hovertemplate="%{y}: %{x:.3f}<extra>average</extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="pooling weight (sums to 1)")
    fig.update_layout(barmode="group")
    return _base(fig, height + 12 * max(len(labels) - 8, 0))


def curves(df: pd.DataFrame, y: str, title: str, height: int = 300, best: dict | None = None) -> go.Figure:
    """One line per run over epochs (``df``: run, epoch, y); ``best`` marks each run's best epoch."""
    fig = go.Figure()
    for name, part in df.groupby("run", sort=False):
        fig.add_trace(go.Scatter(x=part["epoch"], y=part[y], mode="lines+markers", name=name,
                                 line=dict(color=COLORS.get(name), width=2), marker=dict(size=5)))
        if best and best.get(name):
            row = part[part["epoch"] == best[name]]
            if len(row):
                fig.add_trace(go.Scatter(x=row["epoch"], y=row[y], mode="markers", showlegend=False,
                                         marker=dict(size=12, symbol="star", color=COLORS.get(name)),
                                         hovertemplate=f"{name} best epoch %{{x}}: %{{y:.4f}}<extra></extra>"))
    _epoch_axis(fig, int(df["epoch"].max()) if len(df) else 1)
    fig.update_yaxes(title=y)
    return _base(fig, height, title)


def grouped_bars(table: pd.DataFrame, rows: list[str], title: str, height: int = 320, fmt: str = ".4f") -> go.Figure:
    """Bars per figure (x) and run (colour) from a metrics table (rows = figures, columns = runs). A bar of 0
    carries no number (the hover still gives it): two zero bars side by side drew their labels as one,
    '0.00000.0000'; a small gap between the bars of a group keeps the other labels apart."""
    fig = go.Figure()
    present = [r for r in rows if r in table.index]
    for name in table.columns:
        vals = pd.to_numeric(table.loc[present, name], errors="coerce")
        fig.add_trace(go.Bar(x=present, y=vals, name=name, marker_color=COLORS.get(name),
                             text=[f"{v:{fmt}}" if pd.notna(v) and v != 0 else "" for v in vals],
                             textposition="outside",
                             hovertemplate="%{x}: %{y:" + fmt + "}<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group", bargroupgap=0.1)
    fig.update_yaxes(rangemode="tozero")
    return _base(fig, height, title)


def usage_bars(usage: pd.DataFrame, height: int = 300) -> go.Figure:
    """Codewords used per sub-space (bars, one colour per modality) out of K (dashed line)."""
    fig = go.Figure()
    x = [f"{m} s{s}" for m, s in zip(usage["modality"], usage["sub-space"])]
    for j, (m, part) in enumerate(usage.groupby("modality", sort=False)):
        xs = [f"{m} s{s}" for s in part["sub-space"]]
        fig.add_trace(go.Bar(x=xs, y=part["codewords used"], name=f"{m}: used", marker_color=PALETTE[j % 16],
                             customdata=np.stack([part["K"], part["perplexity"], part["largest token (items)"]], 1),
                             hovertemplate="%{x}: %{y} of %{customdata[0]} codewords used<br>perplexity "
                                           "%{customdata[1]:.1f}<br>largest token: %{customdata[2]} items"
                                           "<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=usage["K"], mode="lines", name="K (codewords available)",
                             line=dict(dash="dash", color="#555")))
    fig.add_trace(go.Scatter(x=x, y=usage["perplexity"], mode="markers", name="perplexity (effective codewords)",
                             marker=dict(symbol="diamond", size=9, color="#111")))
    fig.update_yaxes(title="codewords", rangemode="tozero")
    return _base(fig, height)


def progress_curves(states: dict, height: int = 260) -> tuple[go.Figure, go.Figure]:
    """Live training curves from job states: (loss per epoch, valid Recall@20 per epoch)."""
    loss, valid = go.Figure(), go.Figure()
    for name, s in states.items():
        ep = list(range(1, len(s.losses) + 1))
        c = COLORS.get(name)
        loss.add_trace(go.Scatter(x=ep, y=s.losses, mode="lines+markers", name=name, line=dict(color=c, width=2),
                                  marker=dict(size=5)))
        valid.add_trace(go.Scatter(x=ep, y=s.valid, mode="lines+markers", name=name, line=dict(color=c, width=2),
                                   marker=dict(size=5)))
    last = max((len(s.losses) for s in states.values()), default=1)
    for fig, title, y in ((loss, "training loss", "loss"), (valid, "validation Recall@20", "recall@20")):
        _epoch_axis(fig, last)
        fig.update_yaxes(title=y)
        _base(fig, height, title)
    return loss, valid


def growth_lines(growth: pd.DataFrame, now: int, height: int = 320) -> go.Figure:
    """Item-side parameters against catalogue size (log axes), ID and MOTOR; a line at today's size."""
    fig = go.Figure()
    for name in ("ID", "MOTOR"):
        fig.add_trace(go.Scatter(x=growth["items"], y=growth[name], mode="lines+markers", name=name,
                                 line={"color": COLORS[name], "width": 2},
                                 hovertemplate="%{x:,} items: %{y:,} parameters<extra>" + name + "</extra>"))
    fig.add_vline(x=now, line={"dash": "dot", "color": "#555"}, annotation_text="this catalogue")
    fig.update_xaxes(type="log", title="items in the catalogue")
    fig.update_yaxes(type="log", title="item-side parameters")
    return _base(fig, height, "Item-side size as the catalogue grows")


def bucket_bars(spread: pd.DataFrame, title: str, figure: str = "test recall@20", height: int = 340,
                colors: dict[str, str] | None = None) -> go.Figure:
    """A figure per item-popularity bucket (``motor.explore.popularity.popularity_spread``: name, bucket,
    runs, mean, std, items): one bar group per bucket, one bar per name, the spread over seeds as error bars.
    A bucket with no item (no never-trained item in a run without them, say) has no bar group: an empty slot
    on the axis would read as a figure of zero or a drawing that failed.

    ``colors``: a colour per name (e.g. a setting's model: ID grey, MOTOR its colour, as in every other chart);
    names that share a colour get different hatchings."""
    spread = spread[pd.to_numeric(spread["items"], errors="coerce").fillna(1) > 0]
    order = list(spread["bucket"].unique())  # popularity_spread lists them head, mid, tail, cold
    fig = go.Figure()
    shared = Counter()
    for j, (name, part) in enumerate(spread.groupby("name", sort=False)):
        err = part["std"].to_numpy(dtype=float)
        has_err = bool(np.isfinite(err).any())
        colour = (colors or {}).get(name) or COLORS.get(name, PALETTE[j % len(PALETTE)])
        hatch = HATCHES[shared[colour] % len(HATCHES)]
        shared[colour] += 1
        fig.add_trace(go.Bar(x=part["bucket"], y=part["mean"], name=name, marker_color=colour,
                             marker_pattern_shape=hatch,
                             error_y={"type": "data", "array": np.nan_to_num(err), "visible": has_err},
                             customdata=np.stack([part["items"].fillna(0).astype(int), part["runs"],
                                                  np.nan_to_num(err)], 1),
                             hovertemplate="%{x} (%{customdata[0]:,} items): %{y:.4f}"
                                           + (" ± %{customdata[2]:.4f} over %{customdata[1]} runs" if has_err else "")
                                           + "<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group")
    # head, mid, tail, cold whichever run came first (one without a mid bucket put mid after cold)
    fig.update_xaxes(title="items by training popularity", categoryorder="array", categoryarray=order)
    fig.update_yaxes(rangemode="tozero", title=figure)
    return _base(fig, height, title)


def clear_symbol(p: float) -> str:
    """A filled circle for a gap clear of the spread between seeds (``motor.explore.seed_spread``), hollow otherwise."""
    return "circle" if is_clear(float(p)) else "circle-open"


def p_text(p: float) -> str:
    """The hover's p-value line ('' without one)."""
    return "" if np.isnan(p) else f"<br>Welch's t-test over the seeds: p = {p:.3f}"


def gap_lines(gaps: pd.DataFrame, title: str, height: int = 420, highlight: list[str] | None = None,
              median: pd.DataFrame | None = None) -> go.Figure:
    """MOTOR minus ID against the training fraction, one line per backbone (``motor.explore.regimes.gaps``
    of one dataset: backbone, train_fraction, id, motor, gap, gap_std, seeds); log x, a zero line.

    ``highlight``: these backbones keep their colours and error bars, the others turn thin and grey (13 lines
    in colour are hard to follow). ``median`` (``motor.explore.regimes.median_gap``): a thick dashed line for
    the median backbone."""
    fig = go.Figure()
    focus = set(highlight or [])
    for j, (backbone, part) in enumerate(gaps.groupby("backbone", sort=True)):
        part = part.sort_values("train_fraction")
        err = part["gap_std"].to_numpy(dtype=float)
        faded = bool(focus) and backbone not in focus
        p = part["p"].to_numpy(dtype=float) if "p" in part else np.full(len(part), np.nan)
        fig.add_trace(go.Scatter(
            x=part["train_fraction"], y=part["gap"], mode="lines+markers", name=backbone,
            line=dict(color=MUTED if faded else PALETTE[j % len(PALETTE)], width=1 if faded else 2),
            # a filled point: the gap is clear of the seeds' spread; hollow: within it (or no spread to test)
            marker=dict(size=4 if faded else 8, symbol=[clear_symbol(v) for v in p]), opacity=0.6 if faded else 1.0,
            error_y={"type": "data", "array": np.nan_to_num(err), "thickness": 1,
                     "visible": bool(np.isfinite(err).any()) and not faded},
            customdata=np.stack([part["id"], part["motor"], part["seeds"], [p_text(v) for v in p]], 1),
            hovertemplate="F = %{x}: MOTOR - ID = %{y:+.4f}<br>ID %{customdata[0]:.4f}, MOTOR %{customdata[1]:.4f} "
                          "(%{customdata[2]} seeds)%{customdata[3]}<extra>" + backbone + "</extra>"))
    if median is not None and len(median):
        fig.add_trace(go.Scatter(
            x=median["train_fraction"], y=median["gap"], mode="lines+markers", name="median backbone",
            line=dict(color="#222", width=4, dash="dash"), marker=dict(size=9, symbol="diamond"),
            customdata=median["backbones"], hovertemplate="F = %{x}: median MOTOR - ID = %{y:+.4f} over "
                                                          "%{customdata} backbones<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#444", width=1, dash="dot"))
    ticks = sorted(gaps["train_fraction"].unique())
    fig.update_xaxes(type="log", title="training fraction F (share of each user's training interactions, log)",
                     tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    fig.update_yaxes(title="MOTOR minus ID, test Recall@20", zeroline=False)
    fig = _base(fig, height, title)
    if gaps["backbone"].nunique() > 7:
        fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.01,
                                      font=dict(size=11)))
    return fig


def gap_bars(table: pd.DataFrame, title: str, height: int = 360) -> go.Figure:
    """MOTOR minus ID per backbone (``motor.explore.backbone_table.summary`` of one dataset: backbone, id,
    motor, gap, gap_std, seeds), bars coloured by who is ahead, the spread over seeds as error bars."""
    rows = table.sort_values("gap")
    err = rows["gap_std"].to_numpy(dtype=float)
    p = rows["p"].to_numpy(dtype=float) if "p" in rows else np.full(len(rows), np.nan)
    fig = go.Figure(go.Bar(
        x=rows["backbone"], y=rows["gap"], marker_color=[COLORS["MOTOR"] if g > 0 else COLORS["ID"] for g in rows["gap"]],
        # hatched: within the spread between seeds; solid: clear of it (motor.explore.seed_spread)
        marker_pattern_shape=["" if is_clear(float(v)) else "/" for v in p],
        error_y={"type": "data", "array": np.nan_to_num(err), "visible": bool(np.isfinite(err).any()), "thickness": 1},
        customdata=np.stack([rows["id"], rows["motor"], rows["seeds"], [p_text(v) for v in p]], 1), showlegend=False,
        hovertemplate="%{x}: MOTOR - ID = %{y:+.4f}<br>ID %{customdata[0]:.4f}, MOTOR %{customdata[1]:.4f} "
                      "(%{customdata[2]} seeds)%{customdata[3]}<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#444", width=1, dash="dot"))
    fig.update_yaxes(title="MOTOR minus ID, test Recall@20", zeroline=False)
    return _base(fig, height, title)


def rank_gap_scatter(table: pd.DataFrame, ratio: pd.Series, title: str, height: int = 360) -> go.Figure:
    """One point per backbone: MOTOR's effective rank as a share of ID's (x) against MOTOR minus ID, test
    Recall@20 (y), coloured by who is ahead (``motor.explore.personalisation_table``)."""
    fig = go.Figure(go.Scatter(
        x=ratio, y=table["gap"], mode="markers+text", text=table["backbone"], textposition="top center",
        marker=dict(size=10, color=[COLORS["MOTOR"] if g > 0 else COLORS["ID"] for g in table["gap"]]),
        showlegend=False, hovertemplate="%{text}: effective rank MOTOR / ID %{x:.2f}<br>MOTOR - ID = %{y:+.4f}"
                                        "<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#444", width=1, dash="dot"))
    fig.update_xaxes(title="MOTOR's effective rank / ID's (1 = as many directions)")
    fig.update_yaxes(title="MOTOR minus ID, test Recall@20", zeroline=False)
    return _base(fig, height, title)
