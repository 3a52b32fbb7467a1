"""General (ID-only, feature-free) backbones: BPR matrix factorisation and LightGCN, checked against
their definitions computed by hand with dense matrices."""

import torch

from motor.models.base import ModelContext
from tests.backbone_helpers import batch_of, make_ctx, make_model


def dense_sym_adjacency(ctx) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of the ``(U + I)`` user-item training graph, built densely."""
    n = ctx.n_users + ctx.n_items
    a = torch.zeros(n, n)
    a[ctx.train_user, ctx.n_users + ctx.train_item] = 1.0
    a = a + a.T
    inv = a.sum(1).pow(-0.5)
    inv[torch.isinf(inv)] = 0
    return inv[:, None] * a * inv[None, :]


def test_bpr_scores_are_inner_products_and_the_loss_reads_only_the_batch():
    ctx = make_ctx()
    model = make_model("bpr", ctx)
    with torch.no_grad():
        s = model.score(model.ranking_state(), torch.arange(ctx.n_users))
        torch.testing.assert_close(s, model.user_embedding @ model.items().T)
    batch = batch_of(ctx, n=4)
    model.train()
    sum(model.loss(batch).values()).backward()
    touched = model.user_embedding.grad.abs().sum(1) > 0
    assert set(touched.nonzero().flatten().tolist()) == set(batch.user.tolist())
    assert model.param_counts()["user_side"] == ctx.n_users * 64


def test_lightgcn_output_is_the_mean_of_propagated_layers():
    ctx = make_ctx(n_users=15, n_items=25, per_user=5)
    model = make_model("lightgcn", ctx, n_layers=3)
    model.eval()
    adj = dense_sym_adjacency(ctx)
    with torch.no_grad():
        x = torch.cat([model.user_embedding, model.items()])
        layers = [x]
        for _ in range(3):
            layers.append(adj @ layers[-1])
        expected = torch.stack(layers).mean(0)
        isolated = torch.bincount(ctx.train_item, minlength=ctx.n_items) == 0
        assert isolated.any() and not isolated.all()
        # the cold path of an item without edges: its own vector, scaled so that own vectors score like the
        # propagated ones on the training interactions
        e_u, e_i = expected[ctx.train_user], expected[ctx.n_users:][ctx.train_item]
        scale = (e_u * e_i).sum() / (e_u * model.items()[ctx.train_item]).sum()
        expected[ctx.n_users:][isolated] = scale * model.items()[isolated]
        users, items = model.embeddings()
    torch.testing.assert_close(users, expected[: ctx.n_users], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(items, expected[ctx.n_users:], rtol=1e-5, atol=1e-6)


def test_lightgcn_with_no_layers_is_matrix_factorisation():
    ctx = make_ctx()
    model = make_model("lightgcn", ctx, n_layers=0)
    with torch.no_grad():
        users, items = model.embeddings()
        torch.testing.assert_close(users, model.user_embedding)
        torch.testing.assert_close(items, model.items())


def isolated_item_context():
    """4 users, 6 items; item 5 has no training edge (a cold item), the others one to three."""
    users = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 0, 1])
    items = torch.tensor([0, 1, 1, 2, 2, 3, 3, 4, 4, 0])
    return ModelContext(4, 6, users, items)


def test_an_isolated_item_scores_on_the_warm_items_scale_after_propagation():
    """With every layer-0 vector the same, LightGCN's item outputs differ only by their propagation.
    The isolated item takes the cold path, its own vector at the full weight of the layer mean,
    so its score sits among the warm items' scores instead of at 1 / (n_layers + 1) of its own."""
    ctx = isolated_item_context()
    model = make_model("lightgcn", ctx, n_layers=2, embedding_dim=4)
    with torch.no_grad():
        model.user_embedding.copy_(torch.ones(4, 4))
        model.items.weight.copy_(torch.ones(6, 4))
    model.eval()
    with torch.no_grad():
        users, items = model.embeddings()
        s = model.score(model.ranking_state(), torch.arange(4))
    # the cold path: its own vector, undivided, scaled so that own vectors score like propagated ones on
    # the training interactions
    scale = (users[ctx.train_user] * items[ctx.train_item]).sum() / users[ctx.train_user].sum()
    torch.testing.assert_close(items[5], scale * torch.ones(4))
    assert 0.5 < scale < 2
    warm = s[:, :5]
    assert (s[:, 5] >= 0.75 * warm.min(1).values).all() and (s[:, 5] <= warm.max(1).values * 1.25).all(), s
    # without the cold path it would score 1/3 of its own vector: below every warm item
    ego_third = (users @ torch.ones(4) / 3)
    assert (ego_third < warm.min(1).values).all()


def test_warm_items_take_the_cold_path_in_training_only_at_the_configured_rate():
    ctx = make_ctx(n_users=30, n_items=100, per_user=60)
    model = make_model("lightgcn", ctx, cold_dropout=0.25)
    model.eval()
    assert not model.cold_items().any()  # eval mode, every item has edges
    model.train()
    torch.manual_seed(0)
    rate = torch.stack([model.cold_items() for _ in range(50)]).float().mean()
    assert abs(rate.item() - 0.25) < 0.03
    model_off = make_model("lightgcn", ctx, cold_dropout=0.0)
    model_off.train()
    assert not model_off.cold_items().any()
