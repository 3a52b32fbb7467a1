"""A comparison as one self-contained HTML file: tables and interactive figures, plotly.js inlined
(the file opens offline and makes no outside request). No Streamlit here."""

from __future__ import annotations

import html
import time

import pandas as pd
import plotly.graph_objects as go

STYLE = ("body{font-family:Inter,Source Sans Pro,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222}"
         "table{border-collapse:collapse;font-size:13px;margin:1rem 0}td,th{border:1px solid #ddd;padding:4px 8px;"
         "text-align:right}th{background:#f5f5f5}h1{color:#e4572e}")


def comparison_html(title: str, intro: str, tables: dict[str, pd.DataFrame], figures: list[go.Figure]) -> str:
    head = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>")
    made = f"<p>{html.escape(intro)}</p><p><small>made by motor-lab on {time.strftime('%Y-%m-%d %H:%M')}</small></p>"
    parts = [head, made]
    for j, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if j == 0 else False,
                                 config={"displayModeBar": False}))
    for name, df in tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>" + df.to_html(index=False, na_rep="", float_format="%.4f"))
    parts.append("</body></html>")
    return "\n".join(parts)
