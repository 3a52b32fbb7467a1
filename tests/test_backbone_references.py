"""Every propagating multimodal backbone against its description (docs/BACKBONES.md), computed by hand.

Each reference below is written from the model's description with dense matrices (no shared graph
code: its own ``D^-1/2 A D^-1/2``, ``D^-1 A`` and kNN graphs) and compared with the model's vectors at
ranking time, on a context where every item has training edges (the cold path is not taken) and
with ``cold_dropout=0``. BPR and LightGCN have theirs in test_general_backbones.py; VBPR's in
test_feature_backbones.py.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motor.models.base import ModelContext
from tests.backbone_helpers import make_model

U, I = 10, 16


@pytest.fixture(scope="module")
def ctx():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(U), 7)
    items = np.concatenate([rng.choice(I, 7, replace=False) for _ in range(U)])
    assert len(set(items.tolist())) == I  # every item warm
    feats = {"image": rng.normal(size=(I, 12)).astype(np.float32), "text": rng.normal(size=(I, 8)).astype(np.float32)}
    return ModelContext.build(U, I, users, items, feats)


def interactions(ctx) -> torch.Tensor:
    r = torch.zeros(U, I)
    r[ctx.train_user, ctx.train_item] = 1.0
    return r


def bipartite(ctx) -> torch.Tensor:
    a = torch.zeros(U + I, U + I)
    a[:U, U:] = interactions(ctx)
    return a + a.T


def sym(a: torch.Tensor) -> torch.Tensor:
    deg = a.sum(1)
    inv = torch.where(deg > 0, deg.clamp_min(1e-12).pow(-0.5), torch.zeros_like(deg))
    return inv[:, None] * a * inv[None, :]


def row(a: torch.Tensor) -> torch.Tensor:
    deg = a.sum(1)
    inv = torch.where(deg > 0, 1.0 / deg.clamp_min(1e-12), torch.zeros_like(deg))
    return inv[:, None] * a


def knn(x: torch.Tensor, k: int = 10, weighted: bool = False) -> torch.Tensor:
    """Top-k cosine neighbours of every row (the row itself included), binary or with the similarities."""
    xn = F.normalize(torch.as_tensor(x).float(), dim=1)
    s = xn @ xn.T
    v, c = s.topk(k, dim=1)
    return torch.zeros_like(s).scatter(1, c, v if weighted else torch.ones_like(v))


def layers(x: torch.Tensor, adj: torch.Tensor, n: int) -> list[torch.Tensor]:
    out = [x]
    for _ in range(n):
        out.append(adj @ out[-1])
    return out


def mean_gcn(x, adj, n):
    return torch.stack(layers(x, adj, n)).mean(0)


def model(name, ctx, **cfg):
    m = make_model(name, ctx, **({} if name == "mmgcn" else {"cold_dropout": 0.0}), **cfg)
    m.eval()
    return m


def close(got, expected):
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_freedom_is_lightgcn_plus_the_frozen_fused_knn_graph_of_its_items(ctx):
    m = model("freedom", ctx)
    R = m.items()
    S = 0.1 * sym(knn(ctx.features["image"])) + 0.9 * sym(knn(ctx.features["text"]))
    out = mean_gcn(torch.cat([m.user_embedding, R]), sym(bipartite(ctx)), 2)
    close(m.embeddings(), [out[:U], out[U:] + S @ R])


@torch.no_grad()
def test_lattice_adds_its_normalised_item_graph_propagation_to_lightgcn(ctx):
    m = model("lattice", ctx)
    R = m.items()
    alpha = torch.softmax(m.modal_weight, 0)
    A = sum(alpha[j] * (0.1 * sym(knn(m.proj[k](f), weighted=True)) + 0.9 * sym(knn(f, weighted=True)))
            for j, (k, f) in enumerate(ctx.features.items()))
    out = mean_gcn(torch.cat([m.user_embedding, R]), sym(bipartite(ctx)), 2)
    close(m.embeddings(), [out[:U], out[U:] + F.normalize(A @ R, dim=1)])


@torch.no_grad()
def test_bm3_ranks_with_the_predicted_lightgcn_vectors_and_the_item_residual(ctx):
    m = model("bm3", ctx)
    R = m.items()
    out = mean_gcn(torch.cat([m.user_embedding, R]), sym(bipartite(ctx)), 1)
    close(m.ranking_state(), [m.predictor(out[:U]), m.predictor(out[U:] + R)])


@torch.no_grad()
def test_slmrec_fuses_one_lightgcn_per_view(ctx):
    m = model("slmrec", ctx)
    views = [m.items()] + [m.dense[k](F.normalize(f, dim=1)) for k, f in ctx.features.items()]
    outs = [mean_gcn(torch.cat([m.user_embedding, v]), sym(bipartite(ctx)), 3) for v in views]
    close(m.embeddings(), [m.fuse_users(torch.cat([o[:U] for o in outs], 1)),
                           m.fuse_items(torch.cat([o[U:] for o in outs], 1))])


@torch.no_grad()
def test_mgcn_adds_the_fused_purified_knn_views_to_lightgcn(ctx):
    m = model("mgcn", ctx)
    R = m.items()
    content = mean_gcn(torch.cat([m.user_embedding, R]), sym(bipartite(ctx)), 2)
    r_sym = sym(bipartite(ctx))[:U, U:]
    views = []
    for k, f in ctx.features.items():
        x = sym(knn(f)) @ (R * torch.sigmoid(m.purifier[k][0](m.proj[k](f))))
        views.append(torch.cat([r_sym @ x, x]))
    att = torch.softmax(torch.cat([m.query_common(e) for e in views], 1), 1)
    common = sum(att[:, j:j + 1] * e for j, e in enumerate(views))
    side = (common + sum(torch.sigmoid(m.prefer[k][0](content)) * (e - common)
                         for k, e in zip(ctx.features, views))) / 3
    out = content + side
    close(m.embeddings(), [out[:U], out[U:]])


@pytest.mark.parametrize("name", ["dualgnn", "dragon"])
@torch.no_grad()
def test_dualgnn_and_dragon_sum_their_feature_gcn_layers_and_smooth_users_over_co_interactions(ctx, name):
    m = model(name, ctx)
    R = m.items()
    reps = []
    for j, (k, f) in enumerate(ctx.features.items()):
        g = m.gcn[f"m{j}"]
        x = F.normalize(torch.cat([m.user_preference[j], g.mlp_out(F.leaky_relu(g.mlp(f))) + R]), dim=1)
        reps.append(torch.stack(layers(x, sym(bipartite(ctx)), 2)).sum(0))
    r = interactions(ctx)
    co = (r @ r.T).fill_diagonal_(0)  # co-interaction counts; every user has fewer than 40 neighbours here
    w_uu = torch.zeros(U, U)
    for u in range(U):
        nbrs = (co[u] > 0).nonzero().flatten()
        w_uu[u, nbrs] = torch.softmax(co[u, nbrs], 0)
    w = m.user_modality_weight
    if name == "dualgnn":
        users, items = sum(w[:, j:j + 1] * x[:U] for j, x in enumerate(reps)), sum(x[U:] for x in reps)
    else:
        users = torch.cat([w[:, j:j + 1] * x[:U] for j, x in enumerate(reps)], 1)
        items = torch.cat([x[U:] for x in reps], 1)
        S = 0.1 * sym(knn(ctx.features["image"])) + 0.9 * sym(knn(ctx.features["text"]))
        items = items + S @ items
    close(m.embeddings(), [users + w_uu @ users, items])


@torch.no_grad()
def test_lgmrec_adds_normalised_modality_and_hypergraph_embeddings_to_lightgcn(ctx):
    m = model("lgmrec", ctx)
    cge = mean_gcn(torch.cat([m.user_embedding, m.items()]), sym(bipartite(ctx)), 2)
    local, hyper = cge, []
    for k, f in ctx.features.items():
        items = m.item_trs[k](f)
        x = layers(torch.cat([row(interactions(ctx)) @ items, items]), sym(bipartite(ctx)), 2)[-1]
        local = local + F.normalize(x, dim=1)
        logits = m.hyper[k](f)
        h_i, h_u = torch.softmax(logits / 0.2, 1), torch.softmax(interactions(ctx) @ logits / 0.2, 1)
        edges = h_i.T @ cge[U:]
        hyper.append(torch.cat([h_u @ edges, h_i @ edges]))
    out = local + 0.3 * F.normalize(sum(hyper), dim=1)
    close(m.embeddings(), [out[:U], out[U:]])


@torch.no_grad()
def test_mmgcn_injects_the_id_vectors_at_every_layer_of_every_modality(ctx):
    m = model("mmgcn", ctx)
    ids = torch.cat([m.user_embedding, m.items()])
    reps = []
    for g, pref, k in zip(m.gcn, m.user_preference, ctx.features):
        f = ctx.features[k]
        x = F.normalize(torch.cat([pref, g.proj(f) if g.proj is not None else f]), dim=1)
        for conv, lin, comb in zip(g.conv, g.lin, g.comb):
            h = F.leaky_relu(row(bipartite(ctx)) @ conv(x))
            x = F.leaky_relu(comb(torch.cat([h, F.leaky_relu(lin(x)) + ids], 1)))
        reps.append(x)
    out = torch.stack(reps).mean(0)
    close(m.embeddings(), [out[:U], out[U:]])


@torch.no_grad()
def test_grcn_propagates_normalised_ids_over_the_content_refined_graph(ctx):
    m = model("grcn", ctx)
    edge = interactions(ctx) > 0

    def softmax_on_edges(s, dim):
        return torch.softmax(s.masked_fill(~edge, -1e30), dim) * edge

    users_c, items_c, to_user, to_item = [], [], [], []
    for j, (k, f) in enumerate(ctx.features.items()):
        fi = F.normalize(F.leaky_relu(m.content_mlp[j](f)), dim=1)
        p = F.normalize(m.user_preference[j], dim=1)
        for _ in range(3):  # routing
            p = F.normalize(p + softmax_on_edges(p @ fi.T, 1) @ fi, dim=1)
        a_u, a_i = softmax_on_edges(p @ fi.T, 1), softmax_on_edges(p @ fi.T, 0)
        users_c.append(p + a_u @ fi)
        items_c.append(fi + a_i.T @ p)
        to_user.append(a_u)
        to_item.append(a_i)
    conf_i, conf_u = m.item_confidence(m.items()), m.user_confidence  # the sender's confidence
    w_u = torch.stack([a * conf_i[:, j][None, :] for j, a in enumerate(to_user)]).max(0).values.relu() * edge
    w_i = torch.stack([a * conf_u[:, j][:, None] for j, a in enumerate(to_item)]).max(0).values.relu() * edge
    h_u, h_i = F.normalize(m.user_embedding, dim=1), F.normalize(m.items(), dim=1)
    id_u, id_i = h_u, h_i
    for _ in range(2):
        h_u, h_i = w_u @ h_i, w_i.T @ h_u
        id_u, id_i = id_u + h_u, id_i + h_i
    close(m.embeddings(), [torch.cat([id_u, *users_c], 1), torch.cat([id_i, *items_c], 1)])


# --- loss terms, from the vectors checked above -----------------------------------------------------


def bpr(u, pos, neg):
    return -torch.log(torch.sigmoid((u * pos).sum(1) - (u * neg).sum(1))).mean()


def nce(a, b, t, target=None):
    """InfoNCE of cosine similarities / t: row r of ``a`` against every row of ``b``, ``b[target[r]]`` correct."""
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / t
    target = torch.arange(len(a)) if target is None else target
    return -(logits.log_softmax(1)[torch.arange(len(a)), target])


def batch(ctx):
    from motor.models.base import Batch

    g = torch.Generator().manual_seed(3)
    rows = torch.randint(0, ctx.train_user.numel(), (24,), generator=g)
    return Batch(ctx.train_user[rows], ctx.train_item[rows], torch.randint(0, I, (24,), generator=g))


def terms(m, b):
    """The named loss terms, in eval mode (no dropout, no Gumbel noise: deterministic) and without gradients."""
    with torch.no_grad():
        return {k: float(v) for k, v in m.loss(b).items()}


def test_loss_terms_are_the_described_ones(ctx):
    b = batch(ctx)
    mse = lambda x: x.pow(2).mean()  # noqa: E731
    with torch.no_grad():
        m = model("mgcn", ctx)
        users, items, side, content = m._forward()
        u, p, n = users[b.user], items[b.pos], items[b.neg]
        expected = {"bpr": bpr(u, p, n), "reg": 1e-4 * 0.5 * (u.pow(2).sum() + p.pow(2).sum() + n.pow(2).sum()) / 24,
                    "cl": 0.01 * (nce(side[U:][b.pos], content[U:][b.pos], 0.2).mean()
                                  + nce(side[:U][b.user], content[:U][b.user], 0.2).mean())}
        checks = [("mgcn", terms(m, b), expected)]

        m = model("freedom", ctx)
        users, items = m.embeddings()
        u = users[b.user]
        modal = sum(bpr(u, m.proj[k](f)[b.pos], m.proj[k](f)[b.neg]) for k, f in ctx.features.items())
        checks.append(("freedom", terms(m, b), {"bpr": bpr(u, items[b.pos], items[b.neg]),
                                                "modality_bpr": 1e-4 * modal}))

        m = model("bm3", ctx)
        users, items = m.embeddings()  # online vectors; the targets are these, detached (no dropout in eval)
        u, i = users[b.user], items[b.pos]
        c = lambda a, t: (1 - F.cosine_similarity(a, t, dim=-1)).mean()  # noqa: E731
        modal = sum(c(m.predictor(m.proj[k](f)[b.pos]), i) + c(m.predictor(m.proj[k](f)[b.pos]), m.proj[k](f)[b.pos])
                    for k, f in ctx.features.items())
        checks.append(("bm3", terms(m, b), {
            "align_ui": c(m.predictor(u), i) + c(m.predictor(i), u), "align_modal": 2.0 * modal,
            "reg": 0.1 * (users.norm() + items.norm()) / U}))

        m = model("lgmrec", ctx)
        users, items, hyper = m._forward()
        u, p, n = users[b.user], items[b.pos], items[b.neg]
        (ua, ia), (ub, ib) = hyper
        checks.append(("lgmrec", terms(m, b), {
            "bpr": bpr(u, p, n), "reg": 1e-6 * (u.norm() + p.norm() + n.norm()) / 24,
            "hcl": 1e-4 * (nce(ua[b.user], ub, 0.2, b.user).sum() + nce(ia[b.pos], ib, 0.2, b.pos).sum())}))

        m = model("slmrec", ctx)
        views = m._views()
        users, items = m.embeddings()
        pos = torch.unique(b.pos)
        z_id = m.fac_id[0](views[0][1][pos])  # the ID view into the fine space, then (text) into the coarse one
        fac = (nce(z_id, m.fac_modal["image"](views[1][1][pos]), 0.2).mean()
               + nce(m.fac_id[1](z_id), m.fac_modal["text"](views[2][1][pos]), 0.2).mean())
        checks.append(("slmrec", terms(m, b), {"infonce": nce(users[b.user], items[b.pos], 0.2).mean(),
                                               "fac": 0.1 * fac}))

        m = model("grcn", ctx)
        users, items = m.embeddings()
        reg = (mse(m.user_embedding[b.user]) + mse(torch.cat([m.items(b.pos), m.items(b.neg)]))
               + sum(mse(pref[b.user]) for pref in m.user_preference))
        checks.append(("grcn", terms(m, b), {"bpr": bpr(users[b.user], items[b.pos], items[b.neg]), "reg": 1e-3 * reg}))

        m = model("mmgcn", ctx)
        users, items = m.embeddings()
        reg = mse(m.user_embedding[b.user]) + mse(torch.cat([m.items(b.pos), m.items(b.neg)]))
        checks.append(("mmgcn", terms(m, b), {"bpr": bpr(users[b.user], items[b.pos], items[b.neg]),
                                              "reg": 1e-4 * reg}))

        for name in ("dualgnn", "dragon"):
            m = model(name, ctx)
            users, items = m.embeddings()
            reg = sum(mse(pref[b.user]) for pref in m.user_preference) + mse(m.user_modality_weight)
            base2 = bpr(users[b.user], items[b.pos], items[b.neg]) / np.log(2.0)
            checks.append((name, terms(m, b), {"bpr": base2, "reg": 1e-3 * reg}))

        m = model("lattice", ctx)
        users, items = m.embeddings()
        u, p, n = users[b.user], items[b.pos], items[b.neg]
        checks.append(("lattice", terms(m, b), {
            "bpr": bpr(u, p, n), "reg": 1e-4 * 0.5 * (u.pow(2).sum() + p.pow(2).sum() + n.pow(2).sum()) / 24}))
    for name, got, exp in checks:
        assert set(got) == set(exp), (name, got)
        for k, v in exp.items():
            assert got[k] == pytest.approx(float(v), rel=1e-4, abs=1e-7), (name, k, got[k], float(v))
