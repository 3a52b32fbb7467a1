"""Train: the same backbone with ID item embeddings and with MOTOR tokens, in a background thread.

The form's widgets are bound to dotted RunConfig paths (``train.lr``, ``motor.heads``; see
``app.settings.FORM_PATHS``): widget key ``w:<path>``, value in the session's settings dict.
"""

from __future__ import annotations

import time

import streamlit as st

from app import charts, state, ui
from app.jobs import TrainJob
from app.regimes import available, matching
from app.settings import (
    BY_SHAPE,
    VARIANT_NAMES,
    backbone_fields,
    build_configs,
    default_settings,
    k_options,
    m_limit,
    preset_model,
)
from app.workspace import VARIANT_LABELS
from motor.encoders.tcn import TCN_VARIANTS
from motor.explore.personalisation import popularity_recall
from motor.explore.tables import cold_sentence
from motor.models import BACKBONES

STATUS_EVERY = 1.5  # seconds between progress updates while a job runs
CURVES_EVERY = 4.0  # seconds between redraws of the live curves
CAPTION = ("Train one recommender twice on the same split: once with a classic ID embedding per item, once with "
           "MOTOR, where an item is its shared image and text tokens crossed by a small Token Cross Network. The "
           "curves show both learning; the run is saved and opens on every explore page.")


def settings_form(ds, s: dict) -> None:
    backbones = sorted(BACKBONES)
    c1, c2 = st.columns([1, 1])
    with c1:
        prev = s.get("backbone")
        ui.bound(st.selectbox, s, "backbone", "Backbone (the recommender MOTOR plugs into)", options=backbones,
                 help="Every registered backbone; MOTOR replaces its item-ID embeddings and nothing else.")
        if s["backbone"] != prev:
            s["model"] = preset_model(s["backbone"])
        doc = (BACKBONES[s["backbone"]].__doc__ or "").strip().splitlines()
        if doc:
            st.caption(doc[0])
        ui.bound(st.radio, s, "variants", "Item representation", options=list(VARIANT_NAMES),
                 format_func=VARIANT_NAMES.get, horizontal=True,
                 help="ID: one learned vector per item (the baseline). MOTOR: items are built from shared tokens "
                      "of their content, so the item table no longer grows with the number of items.")
    with c2:
        a, b = st.columns(2)
        ui.bound(a.number_input, s, "train.epochs", "Epochs (at most)", min_value=1, max_value=1000, step=1,
                 help="Early stopping ends a run sooner when validation Recall@20 stops improving.")
        ui.bound(b.number_input, s, "train.lr", "Learning rate", min_value=1e-5, max_value=1.0, step=0.0005, format="%.5f",
                 help="Adam step size; 0.005 by default, the quick preset 0.02 (down to 0.00001)")
        ui.bound(a.number_input, s, "train.seed", "Seed", min_value=0, max_value=2**31 - 1, step=1,
                 help="Same seed and settings give the same run.")
        ui.bound(b.slider, s, "split.cold_items", "Cold-item fraction", min_value=0.0, max_value=0.5, step=0.05,
                 help="Hold this share of items out of training entirely and test on them separately. "
                      "ID embeddings cannot learn them; MOTOR still knows their content.")
        ui.bound(a.slider, s, "split.train_fraction", "Training fraction", min_value=0.05, max_value=1.0, step=0.05,
                 help="Keep this seeded share of each user's training interactions (at least one each); validation "
                      "and test stay the same. Low fractions are the sparse data where shared tokens should help; "
                      "items left with no training interaction count as cold.")
    motor_on = s["variants"] in ("both", "motor")
    with st.expander("MOTOR tokenizer: product quantization per modality", expanded=False,
                     icon=":material/token:"):
        st.caption("Each modality's feature vector is split into M sub-vectors; each sub-vector becomes the nearest "
                   "of K codewords: one token. Fewer codewords put more items on each token (more sharing).")
        for name, p in s["tokenizer.per_modality"].items():
            dim = ds.modalities[name].dim
            st.markdown(f"**{name}** ({dim}-d)")
            c = st.columns(4)
            ui.bound(c[0].number_input, p, "m", "M (tokens)", key=f"w:pq:{name}:m", min_value=1,
                     max_value=m_limit(dim), step=1, disabled=not motor_on,
                     help=f"sub-vectors; {dim} dims are padded (or reduced) to a multiple of M")
            ks = k_options(ds.n_items)
            ui.bound(c[1].selectbox, p, "k", "K (codewords)", key=f"w:pq:{name}:k", options=ks, disabled=not motor_on,
                     help="a power of two, at most the number of items")
            ui.bound(c[2].selectbox, p, "normalize", "Normalisation", key=f"w:pq:{name}:norm",
                     options=["l2", "none"], disabled=not motor_on, help="l2: cosine geometry")
            ui.bound(c[3].checkbox, p, "opq", "OPQ rotation", key=f"w:pq:{name}:opq", disabled=not motor_on,
                     help="learn a rotation before PQ: lower error, a few seconds slower")
    with st.expander("Token Cross Network", icon=":material/hub:"):
        c = st.columns(4)
        ui.bound(c[0].selectbox, s, "motor.tcn", "Variant", options=list(TCN_VARIANTS), disabled=not motor_on,
                 help="attention: self-attention among an item's tokens + attention pooling; factored: one "
                      "attention block pooled before any per-token work (depth 1; about twice as fast on CPU, "
                      "pools mostly on one token, behind attention on sparse data in the benchmarks); "
                      "cross: DCN-v2 cross layers; mean: no crossing (ablation)")
        ui.bound(c[1].number_input, s, "motor.layers", "Depth (layers)", min_value=1, max_value=6, step=1,
                 disabled=not motor_on)
        ui.bound(c[2].selectbox, s, "motor.heads", "Heads", options=[1, 2, 4, 8],
                 disabled=not motor_on or not TCN_VARIANTS[s["motor.tcn"]].has_attention)
        ui.bound(c[3].selectbox, s, "motor.token_dim", "Token width", options=[16, 32, 64, 128], disabled=not motor_on)
    with st.expander(f"Backbone and optimisation ({s['backbone']})", icon=":material/tune:"):
        fields = backbone_fields(BACKBONES[s["backbone"]])
        model = s.setdefault("model", {})
        cols = st.columns(3)
        for j, f in enumerate(fields):
            col = cols[j % 3]
            model.setdefault(f.name, f.default)
            key = f"w:model:{s['backbone']}:{f.name}"
            if f.kind == "choice":
                ui.bound(col.selectbox, model, f.name, f.name, key=key, options=list(f.options), help=f.help)
            elif f.kind == "bool":
                ui.bound(col.checkbox, model, f.name, f.name, key=key, help=f.help)
            elif f.kind == "int":
                ui.bound(col.number_input, model, f.name, f.name, key=key, step=1, help=f.help)
            else:
                ui.bound(col.number_input, model, f.name, f.name, key=key, format="%.6g", help=f.help)
        c = st.columns(3)
        ui.bound(c[0].number_input, s, "train.patience", "Early-stopping patience (epochs)", min_value=1, max_value=1000)
        ui.bound(c[1].number_input, s, "train.batch_size", "Batch size", min_value=64, max_value=65536, step=256)
        ui.bound(c[2].number_input, s, "train.threads", "CPU threads for training", min_value=0, max_value=64, step=1,
                 help="0 = one per core. The app trains on 1 thread by default: the page, the browser and the "
                      "map computations need the other core of a 2-core machine.")


def start(ds, s: dict) -> None:
    cfg = state.data_config()
    configs = build_configs(s, cfg)  # MotorError on a bad setting: shown by the page frame, settings kept
    label = f"{s['backbone']} · {VARIANT_NAMES[s['variants']].split(',')[0]} · {ds.name}"
    worker = state.layout_worker()

    def after(job, outputs):
        from motor.explore.layouts import model_key

        for variant, out in outputs.items():
            folder = job.folder / variant
            worker.request(folder, lambda model=out.model: model.vectors()[1], model_key(folder))

    recorded = {k: v for k, v in s.items() if k != BY_SHAPE}  # the run's settings, not the other datasets' choices
    job = TrainJob(state.workspace(), configs, ds, recorded, label, state.session_id(), on_done=after)
    state.jobs().add(job).start()
    st.session_state["job_id"] = job.run_id


def status_text(j) -> str:
    cur = j.current()
    if j.status == "waiting":
        return j.message
    if j.status == "running" and cur is not None:
        if cur.stage == "preparing":
            what = cur.note or ("tokenizing item content" if cur.variant == "motor" else "preparing")
            return f"{cur.label}: {what}..."
        if cur.stage == "testing":
            return f"{cur.label}: testing the best epoch..."
        if cur.batch == 0 or cur.running_loss != cur.running_loss:  # no batch reported yet
            return f"{cur.label}: epoch {max(cur.epoch, 1)}/{cur.epochs} starting..."
        return (f"{cur.label}: epoch {max(cur.epoch, 1)}/{cur.epochs}, batch {cur.batch}/{cur.batches}, "
                f"loss {cur.running_loss:.4f}")
    return {"done": "Finished", "failed": "Failed", "cancelled": "Cancelled"}.get(j.status, j.status)


def seconds(j) -> float:
    """Seconds to show: training time, or, while queued behind another training, the time waited."""
    return j.elapsed if j.started is not None else time.time() - j.created


def draw_status(j) -> None:
    st.progress(j.fraction(), text=f"{status_text(j)} · {seconds(j):.0f} s")
    cols = st.columns([2] * len(j.variants) + [1])
    for c, (v, s) in zip(cols, j.variants.items()):
        best = f", best epoch {s.best_epoch}" if s.best_epoch else ""
        last = f"valid Recall@20 {s.valid[-1]:.4f}" if s.valid else "no epoch yet"
        took = f" in {s.seconds:.0f} s" if s.seconds else ""
        c.markdown(f"**{s.label}**: {s.stage}{took} · {last}{best}")
    if not j.done:
        cols[-1].button("Cancel", icon=":material/cancel:", on_click=j.cancel, key="w:cancel",
                        help="Stops training; nothing of this run is kept.")


def draw_curves(j, live: bool = False) -> None:
    states = {VARIANT_LABELS[v]: s for v, s in j.variants.items()}
    if any(s.losses for s in states.values()):
        loss, valid = charts.progress_curves(states)
        a, b = st.columns(2)
        # while training: static plots (no hover machinery); redrawing interactive plotly charts took the
        # browser ~40 % of a core, which a 2-core machine takes from the training
        config = {"displayModeBar": False, "staticPlot": live}
        a.plotly_chart(loss, key="live_loss", config=config)
        b.plotly_chart(valid, key="live_valid", config=config)
    elif not j.done:
        st.caption("The loss and validation curves appear after the first epoch.")


def bucket_line(metrics: dict) -> str:
    """Test Recall@20 per popularity bucket, one line ('' without buckets): where each model wins."""
    from motor.explore.popularity import gap_sentence, popularity_spread, popularity_table

    table = popularity_table(metrics)
    if table.empty:
        return ""
    parts = []
    for bucket, part in table.groupby("bucket", sort=False):
        values = [f"{n} {v:.4f}" for n, v in zip(part["name"], part["recall@20"]) if v == v and v is not None]
        if values:
            parts.append(f"{bucket} ({int(part['items'].iloc[0]):,} items) " + " / ".join(values))
    gap = gap_sentence(popularity_spread(table))
    return ("**Test Recall@20 by item popularity**: " + "; ".join(parts) + ". " + (gap + " " if gap else "") +
            "More on the Compare page.") if parts else ""


def same_dataset(job) -> bool:
    first = next(iter(job.configs.values()))
    return first.data.data == state.data_config().get("data")


def progress_panel() -> None:
    """Live progress from two fragments: status every 1.5 s, curves every 4 s (chart redraws cost the
    browser CPU that the training needs on a 2-core machine). Once the job ends: one full rerun, results."""
    job = state.current_job()
    if job is None:
        return
    state.sync_finished_job()
    if job.done and not same_dataset(job):  # the results of a run on the dataset open before this one
        st.caption(f"Your last training ({job.label}) was on another dataset; its run is on the Runs page.")
        return
    if job.done:
        draw_status(job)
        draw_curves(job)
        if job.status == "done":
            heads = job.record.headline if job.record else {}
            finished = {VARIANT_LABELS[v]: st_.metrics for v, st_ in job.variants.items() if st_.metrics}
            parts = [f"{VARIANT_LABELS[v]} test Recall@20 **{h['recall@20']:.4f}**" for v, h in heads.items()
                     if h.get("recall@20") is not None]
            reference = popularity_recall(finished)  # what ranking by popularity alone gets on this split
            if parts and reference is not None and reference[0] == 20:
                parts.append(f"a popularity ranking on the same split {reference[1]:.4f}")
            if not parts:  # read 'Training finished in 1 s: . The run is saved'
                parts = ["no test figures, as this split has no test interactions (a random or time split holds "
                         "some out only for users with at least 3 interactions)"]
            st.success(f"Training finished in {job.elapsed:.0f} s: " + ", ".join(parts) +
                       ". The run is saved and open on the explore pages.", icon=":material/check_circle:")
            c = st.columns(4)
            c[0].page_link("app/pages/tokens.py", label="Tokens", icon=":material/scatter_plot:")
            c[1].page_link("app/pages/attention.py", label="Attention", icon=":material/grid_on:")
            c[2].page_link("app/pages/recommend.py", label="Recommend", icon=":material/recommend:")
            c[3].page_link("app/pages/compare.py", label="Compare ID vs MOTOR" if len(job.variants) > 1 else
                           "Metrics", icon=":material/compare_arrows:")  # one model alone: nothing to compare
            cold = cold_sentence(finished)  # a cold-start run's point: its warm test figure does not show it
            if cold:
                st.markdown(cold)
            buckets = bucket_line(finished)
            if buckets:
                st.markdown(buckets)
            ui.personalisation_notice(finished)  # do users get different lists, or a popularity ranking?
            motor_state = job.variants.get("motor")
            if motor_state is not None and motor_state.metrics:
                ui.collapse_notice(motor_state.metrics)  # is MOTOR's Token Cross Network crossing?
        elif job.status == "failed":
            st.error(f"Training failed: {job.error}. Your settings are kept; change them and train again.",
                     icon=":material/error:")
        elif job.status == "cancelled":
            st.warning("Training was cancelled; nothing was saved. Earlier runs are untouched.",
                       icon=":material/cancel:")
        return

    @st.fragment(run_every=STATUS_EVERY)
    def live_status():
        j = state.current_job()
        if j is None:
            return
        if j.done:
            st.rerun(scope="app")  # the full run marks it seen, opens the run everywhere, shows the results
        draw_status(j)

    @st.fragment(run_every=CURVES_EVERY)
    def live_curves():
        charts.presentation(bool(st.session_state.get("present")))  # a fragment rerun skips the app's top
        j = state.current_job()
        if j is not None and not j.done:
            draw_curves(j, live=True)

    live_status()
    live_curves()


def apply_regime(s: dict, regime) -> None:
    """Radio callback: set the regime's values in the settings and in their widgets (before they are drawn)."""
    for path, value in regime.values.items():
        s[path] = value
        st.session_state[f"w:{path}"] = value


def regime_picker(s: dict) -> None:
    """Named regimes (presets of the split settings); 'custom' when the settings match none."""
    from app.settings import FORM_PATHS

    regimes = available(FORM_PATHS)
    # the widgets' values of this rerun (the form below stores them in ``s`` only when it is drawn)
    now = matching({p: st.session_state.get(f"w:{p}", s.get(p)) for p in FORM_PATHS}, regimes)
    keys = [*regimes] + (["custom"] if now is None else [])
    st.session_state["w:regime"] = now or "custom"
    st.radio("Regime", keys, key="w:regime", horizontal=True,
             format_func=lambda k: regimes[k].title if k in regimes else "Custom (your settings)",
             on_change=lambda: st.session_state["w:regime"] in regimes and
             apply_regime(s, regimes[st.session_state["w:regime"]]),
             help="; ".join(f"{r.title}: {r.help}" for r in regimes.values()))
    if now is not None:
        st.caption(regimes[now].help)


def body():
    ds = state.dataset(state.data_config())
    s = state.settings(ds)
    st.markdown(f"Dataset **{ds.name}**: {ds.n_users:,} users, {ds.n_items:,} items, "
                f"{ds.n_interactions:,} interactions; modalities "
                f"{', '.join(f'{m.name} ({m.dim}-d)' for m in ds.modalities.values())}.")
    if st.session_state.pop("settings_dropped", False):
        st.info("The settings saved with this session could not be used by this version of the app; the "
                "defaults are shown.", icon=":material/info:")
    regime_picker(s)
    settings_form(ds, s)
    job = state.current_job()
    running = job is not None and not job.done
    c1, c2, _ = st.columns([1, 1, 6])
    if c1.button("Train", type="primary", icon=":material/play_arrow:", disabled=running, key="w:train",
                 help="Runs in the background: you can switch pages while it trains."):
        start(ds, s)
    if c2.button("Reset settings", disabled=running, key="w:reset"):
        for k in [k for k in st.session_state if str(k).startswith("w:") and k not in ("w:active_run",)]:
            del st.session_state[k]
        st.session_state["settings"] = default_settings()
        st.rerun()
    progress_panel()


ui.page("Train", CAPTION, body)
