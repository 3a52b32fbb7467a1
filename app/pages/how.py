"""How MOTOR works: the pipeline from item content to recommendation scores, with this run's numbers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, state, ui
from motor.errors import MotorError
from motor.explore import attention, backbone_table, bench_tables, catalogue, personalisation_table, regimes, tokens
from motor.explore.seed_spread import CLEAR_NOTE
from motor.item_story import item_audience, item_side_growth

CAPTION = ("MOTOR in six steps, drawn with the open dataset and run: an item's content becomes a few shared tokens, "
           "a small network crosses them into the item's vector, and the recommender scores that vector exactly as "
           "it would score an ID embedding. Pick an item and follow it down the page.")
ROOT = Path(__file__).resolve().parents[2]


def body():
    if state.active_run() is None:  # the benchmark's figure needs no run of this session
        st.info("No trained run yet: the pipeline below is drawn with a run's live numbers. Open the **Train** "
                "page and press **Train** (about a minute on the demo).", icon=":material/info:")
        st.page_link("app/pages/train.py", label="Go to Train", icon=":material/model_training:")
        benchmark_sections()
        return
    rec = state.active_run()
    if "motor" not in rec.variants:  # an ID-only run: nothing to follow through tokens, the benchmarks still apply
        ui.run_line(rec)
        st.info(f"The run **{rec.label}** has no MOTOR model, so there is no item to follow through tokens. Pick a "
                "run that trained MOTOR (sidebar) or train one.", icon=":material/info:")
        benchmark_sections()
        return
    rec, models = ui.require_run(need="motor")
    run = models["motor"]
    ds, tok, enc = run.dataset, run.tokenizer, run.model.items
    item = ui.item_picker(ds, "Follow this item", help="The same pick is used on the Tokens and Attention pages.")
    name = catalogue.item_label(ds, item)
    summ = tokens.collision_summary(tok)
    usage = tokens.codebook_usage(tok)

    st.subheader("1 · Item features: what the item looks like and says")
    mods = list(ds.modalities.values())
    described = ", ".join(f"**{m.name}** ({m.dim}-d" + (f"; {m.n_missing:,} items have none" if m.n_missing else "")
                          + ")" for m in mods)
    if any(m.n_missing for m in mods):  # the long-tail demo: most movies have no poster
        st.markdown(f"The **{ds.n_items:,} items** are described by up to "
                    f"{ui.plural(len(mods), 'feature vector')}: {described}. These come from pretrained encoders (a "
                    "picture model, a sentence model); they are never trained here. An item without a modality's "
                    "content is not given a made-up vector: it gets that modality's reserved 'missing' tokens in "
                    "step 2, and so does a brand-new item without it.")
    else:
        st.markdown(f"Every one of the **{ds.n_items:,} items** is described by "
                    f"{ui.plural(len(mods), 'feature vector')}: {described}. These come from pretrained encoders (a "
                    "picture model, a sentence model); they are never trained here, and a brand-new item has them too.")

    st.subheader("2 · Product quantization: features become tokens")
    per = summ["per_modality"]
    ui.metric_row([(f"{m}: M x K", f"{v['m']} x {v['k']}",
                    (f"the {v['dims']}-d vector is cut into M={v['m']} pieces; each piece becomes the nearest of "
                     f"K={v['k']} codewords (one token)")) for m, v in per.items()] +
                  [("Codewords in use", f"{usage['codewords used'].sum():,} of {usage['K'].sum():,}", None),
                   ("Collision rate", f"{summ['collision_rate']:.1%}",
                    "items whose whole token tuple equals another item's: MOTOR cannot tell them apart")])

    st.subheader(f"3 · The tokens of {name}")
    mine = tokens.item_tokens(tok, item)
    st.markdown(f"{name} is now **{summ['tokens_per_item']} token ids** out of a shared vocabulary of "
                f"**{summ['vocab_size']:,}**. The right column is how many items carry the same token: they share "
                "its embedding, so what one of them learns, the others get.")
    st.dataframe(mine[["label", "modality", "sub-space", "codeword", "items with this token"]], hide_index=True,
                 width="stretch")

    st.subheader("4 · Token embeddings and the Token Cross Network")
    view = attention.attention_view(enc, tok, item)
    if view["attention"] is not None:
        att = view["attention"]  # [L, heads, T, T]
        st.markdown(f"Each token id looks up a learned embedding; {att.shape[0]} attention "
                    f"{'layer lets' if att.shape[0] == 1 else 'layers let'} the tokens read each other (last layer, "
                    "averaged over heads, below), then a weighted pooling makes one vector.")
        a, b = st.columns(2)
        a.plotly_chart(charts.heatmaps(att[-1].mean(0, keepdims=True), view["labels"],
                                       [f"{name}: who attends to whom"]), key="how_att",
                       config={"displayModeBar": False})
        if view["pooling"] is not None:
            b.plotly_chart(charts.pooling_bars(view["labels"], np.asarray(view["pooling"])), key="how_pool",
                           config={"displayModeBar": False})
    else:
        st.markdown(f"Each token id looks up a learned embedding; this run's Token Cross Network is "
                    f"**{view['tcn']}** (no attention maps), which combines them into one vector.")

    st.subheader("5 · The item vector")
    vectors = run.vectors()[1]
    near = tokens.nearest_items(vectors, ds, item, 5, tok, index=run.index())
    st.markdown(f"The result is one **{vectors.shape[1]}-d vector**, used exactly where an ID model uses its item "
                "embedding. Items with nearby vectors (cosine after removing the average item):")
    st.dataframe(near[["title", "cosine", "shared tokens"]], hide_index=True, width="stretch")

    st.subheader("6 · The recommender's scores")
    st.markdown(f"The **{rec.backbone}** backbone scores a user and an item by the inner product of their vectors. "
                f"The users who score {name} highest, and where it lands among the items each has not seen yet:")
    st.dataframe(item_audience(run, item, 5), hide_index=True, width="stretch",
                 column_config={"score": st.column_config.NumberColumn(format="%.3f")})

    st.subheader("Beside the ID table it replaces")
    p = run.metrics["params"]
    id_side = (models["id"].metrics["params"]["item_side"] if "id" in models
               else ds.n_items * vectors.shape[1])
    growth = item_side_growth(id_side, p["item_side"], ds.n_items)
    st.markdown(f"An ID model learns one row per item: **{id_side:,} parameters** for {ds.n_items:,} items, growing "
                f"with every new item, and a new item has no row until it is retrained. MOTOR's item side is "
                f"**{p['item_side']:,} parameters** whatever the number of items.")
    st.plotly_chart(charts.growth_lines(growth, ds.n_items), key="how_growth", config={"displayModeBar": False})
    st.dataframe(pd.DataFrame(growth).rename(columns={"items": "catalogue (items)"}), hide_index=True,
                 width="stretch")

    benchmark_sections()


def benchmark_sections() -> None:
    """The benchmarks behind MOTOR's claim, each drawn on its own: a table that cannot be read says so where it
    would be and does not hide the others."""
    for section in (regimes_section, backbones_section, personalisation_section):
        try:
            section()
        except MotorError as e:
            st.error(str(e), icon=":material/error:")


def bench_csv(name: str) -> Path:
    """A benchmark's table, ``benchmarks/<name>.csv`` of the checkout (``MOTOR_LAB_<NAME>_CSV`` overrides it)."""
    return Path(os.environ.get(f"MOTOR_LAB_{name.upper()}_CSV") or ROOT / "benchmarks" / f"{name}.csv")


def backbones_section() -> None:
    path = bench_csv("backbones")
    table = drawn_table(
        "Items with interactions, and new items: the backbone table", path, backbone_table.HOW_TO,
        "It trains every backbone with ID and with MOTOR, 10% of the items held out as new (`--cold-items`)",
        lambda p: backbone_table.summary(backbone_table.load_backbones(p)),
        "The same backbones on all the data, with some items held out of training as new. On items that have "
        "interactions an ID row learns each item on its own, and MOTOR often ranks them worse. A held-out item has no "
        "trained ID row at all, while MOTOR still reads its content: that is where shared tokens should win clearly.")
    if table is None:
        return
    for j, data in enumerate(table["dataset"].drop_duplicates()):
        rows = table[table["dataset"] == data]
        a, b = st.columns(2)
        a.plotly_chart(charts.gap_bars(rows, f"{data}: items with interactions"), key=f"how_backbones:{j}",
                       config={"displayModeBar": False})
        cold = rows.set_index("backbone")[["cold_id", "cold_motor"]].rename(columns={"cold_id": "ID",
                                                                                     "cold_motor": "MOTOR"})
        b.plotly_chart(charts.grouped_bars(cold, list(cold.index), f"{data}: new items, cold Recall@20",
                                           fmt=".3f"), key=f"how_cold:{j}", config={"displayModeBar": False})
        st.caption(f"{data}, {backbone_table.held_out(table, data)} held out as new: "
                   f"{backbone_table.win_summary(table, data)}.")
    st.caption(f"Warm test Recall@20 and cold Recall@20 (held-out items' test interactions ranked among all items), "
               f"mean over seeds (bars: their spread), from `{path.name}`{written(path, 'backbones')}; solid bars are "
               f"clear, hatched ones within the spread; {CLEAR_NOTE}.")


def personalisation_section() -> None:
    path = bench_csv("personalisation")
    table = drawn_table(
        "Do the item vectors spread? How many directions ID and MOTOR use, per backbone", path,
        personalisation_table.HOW_TO, "It trains the backbone table's cells and measures how the item vectors "
        "spread and how alike users' top-20 lists are",
        lambda p: personalisation_table.summary(personalisation_table.load_personalisation(p)),
        "An ID row can point anywhere; a MOTOR vector is built from tokens that many items share, so items with "
        "similar content get similar vectors. The effective rank counts how many directions the item vectors "
        "really use (of their 64 or more dimensions), around their mean: an offset every item shares cannot change "
        "a ranking. Where MOTOR keeps far fewer directions than ID, it tends to lose most.")
    if table is None:
        return
    for j, data in enumerate(table["dataset"].drop_duplicates()):
        rows = table[table["dataset"] == data].set_index("backbone")
        a, b = st.columns(2)
        cols = personalisation_table.rank_columns(rows)  # around the items' mean where the table has it
        ranks = rows[list(cols)].rename(columns=dict(zip(cols, ("ID", "MOTOR"))))
        a.plotly_chart(charts.grouped_bars(ranks, list(ranks.index), f"{data}: effective rank of the item vectors"
                                           + (" around their mean" if cols[0] == "centred_id" else ""), fmt=".1f"),
                       key=f"how_rank:{j}", config={"displayModeBar": False})
        overlap = rows[["overlap_id", "overlap_motor"]].rename(columns={"overlap_id": "ID", "overlap_motor": "MOTOR"})
        b.plotly_chart(charts.grouped_bars(overlap, list(overlap.index), f"{data}: share of two users' top-20 in "
                                           "common", fmt=".2f"), key=f"how_overlap:{j}", config={"displayModeBar": False})
        both = table[table["dataset"] == data].dropna(subset=["gap"])
        if len(both) >= 3:
            rho = personalisation_table.rank_gap_correlation(table, data)
            st.plotly_chart(charts.rank_gap_scatter(both, personalisation_table.rank_ratio(both),
                                                    f"{data}: fewer directions, larger loss?"),
                            key=f"how_rank_gap:{j}", config={"displayModeBar": False})
            st.caption(f"{data}: rank correlation between the two, over {len(both)} backbones: {rho:+.2f} (+1: MOTOR "
                       "loses most exactly where its vectors give up most directions). A correlation, not a proof of "
                       "cause.")
        st.caption(f"{data}: {personalisation_table.sentence(table, data)}.")
    st.caption(f"Means over seeds, from `{path.name}`{written(path, 'personalisation')}; the backbone table's "
               "settings and held-out items (metrics.json `personalisation` of each run).")


def regimes_section() -> None:
    path = bench_csv("regimes")
    table = drawn_table(
        "When does MOTOR pay off? The regimes benchmark", path, regimes.HOW_TO,
        "It trains every backbone with ID and with MOTOR as the training data thins out",
        lambda p: regimes.gaps(regimes.load_regimes(p)),
        "Shared tokens should matter most where interactions are few: each MOTOR token is learned from every item "
        "that carries it, while an ID row learns only from its own item. Above zero, MOTOR ranks better than ID; the "
        "training fraction F keeps that share of each user's training interactions.")
    if table is None:
        return
    for j, data in enumerate(regimes.sweeps(table)):
        rows = table[table["dataset"] == data]
        # bound to the session: the highlight a presenter chose is still there after showing another page
        focus = ui.bound(st.columns([2, 3])[0].multiselect, st.session_state.setdefault("how", {}),
                         f"regimes_focus:{data}", "Highlight backbones", key=f"how_regimes_focus:{j}", default=[],
                         options=sorted(rows["backbone"].unique()), placeholder="all in colour",
                         help="the others turn grey; the dashed line is the median backbone at each F")
        st.plotly_chart(charts.gap_lines(rows, f"{data}: MOTOR minus ID against the training fraction, per backbone",
                                         highlight=focus, median=regimes.median_gap(table, data)),
                        key=f"how_regimes:{j}", config={"displayModeBar": False})
        note = regimes.tuned_note(table, data)
        st.caption(f"{data}: {regimes.win_summary(table, data)}" + (f"; {note}." if note else "."))
    single = table[~table["dataset"].isin(regimes.sweeps(table))]
    if len(single):
        st.dataframe(single[["dataset", "train_fraction", "backbone", "id", "motor", "gap", "p", "seeds", "settings"]],
                     hide_index=True, width="stretch",
                     column_config={**{c: st.column_config.NumberColumn(c, format="%.4f")
                                       for c in ("id", "motor", "gap")},
                                    "p": st.column_config.NumberColumn(
                                        "p (Welch)", format="%.3f",
                                        help="Welch's t-test over the seeds: below 0.05, the gap is more than the "
                                             "spread between training seeds allows by chance")})
        for data in single["dataset"].drop_duplicates():
            st.markdown(regimes.settings_sentence(table, data) + ".")
        borrowed_section()
        if "demo-longtail" in set(single["dataset"]):
            st.caption("demo-longtail is bundled: **Open the long-tail demo** on the Data page to train on it here.")
    st.caption(f"Test Recall@20, mean over seeds (bars: their spread), from `{path.name}`{written(path, 'regimes')}; "
               f"filled points are clear, hollow ones within the spread; {CLEAR_NOTE}.")


def borrowed_section() -> None:
    """The single-F cells trained again with settings chosen on another dataset's validation
    (``benchmarks/regimes_longtail_tuned.csv``, ``benchmarks/longtail_tuned.py``), in words; nothing without it."""
    path = bench_csv("regimes_longtail_tuned")
    if not path.exists():
        return
    borrowed = regimes.gaps(regimes.load_regimes(path))
    for data in borrowed["dataset"].drop_duplicates():
        st.markdown(f"Trained again, {regimes.settings_sentence(borrowed, data)} (each backbone's settings from "
                    f"another dataset's search, none chosen on {data} itself; from `{path.name}`).")


def drawn_table(title: str, path: Path, how_to: str, what_it_does: str, read, intro: str) -> pd.DataFrame | None:
    """A benchmark section's heading, then ``read(path)`` (MOTOR paired with ID) after the ``intro``; or None after
    saying how to make the table, when it is missing or has no pair yet."""
    st.subheader(title)
    if not path.exists():
        st.info(f"The benchmark that answers this has not been run in this checkout. {what_it_does}; run it with "
                f"`{how_to}` (hours on 2 cores; `--quick` for a smoke run), and its table `benchmarks/{path.name}` "
                "is drawn here.", icon=":material/science:")
        return None
    table = read(path)
    if table.empty:
        st.info(f"{path.name} has no backbone with both ID and MOTOR yet; finish the benchmark with "
                f"`{how_to} --resume`.", icon=":material/science:")
        return None
    st.markdown(intro)
    return table


def written(table: Path, suite: str) -> str:
    """' (written YYYY-MM-DD)' from the RESULTS.md beside ``table``, where its suite's section dates it."""
    day = bench_tables.section_date(table.parent / "RESULTS.md", suite)
    return f" (written {day})" if day else ""


ui.page("How MOTOR works", CAPTION, body)
