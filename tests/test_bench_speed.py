"""Suite ``bench speed``: registered, its op categories, and its epoch timer trains the model."""

import numpy as np
import torch

from motor.bench.cli import SUITES
from motor.bench.speed import epoch_seconds, op_kind, projection_flops
from motor.data.split import Pairs
from motor.sampling import NegativeSampler
from motor.train import make_adam
from tests.backbone_helpers import make_ctx, make_model


def test_registered_with_its_options():
    assert "speed" in SUITES and {"backbones", "repeats", "compile"} <= set(SUITES["speed"].options.__dataclass_fields__)


def test_op_kinds():
    graphs = {30, 50}
    assert op_kind("aten::addmm", [[64], [50, 50], [50, 64]], graphs) == "sparse graph products"
    assert op_kind("aten::mm", [[1682, 1280], [1280, 64]], graphs) == "dense matmuls"
    assert op_kind("aten::index_select", [[512, 96]], graphs) == "gathers/scatters"
    assert op_kind("aten::embedding_dense_backward", [], graphs) == "gathers/scatters"
    assert op_kind("aten::gelu", [[8, 64]], graphs) == "other element-wise and reductions"
    assert projection_flops(10, 100, 8) == 2 * 2 * 10 * 100 * 8


def test_epoch_timer_runs_every_batch_and_updates_the_model():
    ctx = make_ctx(n_users=12, n_items=20)
    model = make_model("vbpr", ctx)
    sampler = NegativeSampler(Pairs(ctx.train_user.numpy(), ctx.train_item.numpy()), ctx.n_items)
    before = model.user_embedding.detach().clone()
    regions: dict = {}
    seconds = epoch_seconds(model, make_adam(list(model.parameters()), 0.01), sampler, np.random.default_rng(0),
                            torch.Generator().manual_seed(0), 16, regions)
    assert seconds > 0 and not torch.equal(before, model.user_embedding.detach())
    assert {"sampling", "loss forward", "backward", "optimizer"} <= set(regions)
    assert sum(regions.values()) <= seconds * 1.01
