"""General (ID-only, feature-free) backbones: BPR matrix factorisation and LightGCN, checked against
their definitions computed by hand with dense matrices."""

import torch

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
    adj = dense_sym_adjacency(ctx)
    with torch.no_grad():
        x = torch.cat([model.user_embedding, model.items()])
        layers = [x]
        for _ in range(3):
            layers.append(adj @ layers[-1])
        expected = torch.stack(layers).mean(0)
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
