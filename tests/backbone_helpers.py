"""Helpers the backbone tests share: small contexts and datasets, model builders, one training step.

Two ways to get a model: ``make_model`` builds a backbone directly on a synthetic
``ModelContext`` (ID items, no dataset on disk), ``build`` goes through the run configuration
on a tiny dataset written by ``tests.conftest.write_simple`` (ID or MOTOR items). The tiny
datasets are returned by ``tiny_dataset`` / ``text_only_dataset``, which each test file wraps in
a module-scoped fixture.
"""

import numpy as np
import torch

from motor.config import from_dict
from motor.data.load import load_dataset
from motor.data.split import make_split
from motor.encoders.id_table import IdEmbedding
from motor.experiment import RunConfig, build_model, model_context, tokenize
from motor.models import BACKBONES, get_backbone
from motor.models.base import Batch, ModelContext
from tests.conftest import write_simple

NAMES = sorted(BACKBONES)
MULTIMODAL = sorted(n for n, cls in BACKBONES.items() if cls.needs_features)


# --- synthetic context, ID items ---------------------------------------------------------------


def make_ctx(n_users=12, n_items=20, per_user=6, dims=None, seed=0, cache_dir=None):
    dims = {"image": 10, "text": 6} if dims is None else dims
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, per_user, replace=False)
        users += [u] * per_user
        items += list(chosen)
    feats = {m: rng.normal(size=(n_items, d)).astype(np.float32) for m, d in dims.items()}
    return ModelContext.build(n_users, n_items, np.array(users), np.array(items), feats, cache_dir)


def make_model(name, ctx=None, **cfg):
    ctx = ctx or make_ctx()
    cls = get_backbone(name)
    torch.manual_seed(0)
    return cls(ctx, from_dict(cls.Config, cfg), lambda d: IdEmbedding(ctx.n_items, d))


def batch_of(ctx, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, ctx.train_user.numel(), (n,), generator=g)
    return Batch(ctx.train_user[rows], ctx.train_item[rows], torch.randint(0, ctx.n_items, (n,), generator=g))


def step(model, batch, lr=0.05):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    opt.zero_grad()
    loss = sum(model.loss(batch).values())
    loss.backward()
    opt.step()
    return loss


# --- tiny datasets on disk, through the run configuration --------------------------------------


def tiny_dataset(tmp_path_factory):
    ds = load_dataset(str(write_simple(tmp_path_factory.mktemp("tiny") / "d", n_users=24, n_items=31, per_user=9)))
    return ds, make_split(ds)


def text_only_dataset(tmp_path_factory):
    folder = write_simple(tmp_path_factory.mktemp("textonly") / "d", n_users=24, n_items=31, per_user=9)
    (folder / "image.npz").unlink()
    ds = load_dataset(str(folder))
    assert list(ds.modalities) == ["text"]
    return ds, make_split(ds)


def build(ds, split, name, items="id", model=None, cache_dir=None, seed=1):
    cfg = RunConfig.from_dict({"backbone": name, "items": items, "tokenizer": {"m": 2, "k": 4},
                               "motor": {"token_dim": 8, "layers": 1}, "train": {"seed": seed},
                               "model": model or {}})
    tok = tokenize(ds, cfg.tokenizer) if items == "motor" else None
    return build_model(cfg, model_context(ds, split, cache_dir), tok)


def first_batch(split, n=48):
    tr = split.train
    return Batch(torch.from_numpy(tr.user[:n]), torch.from_numpy(tr.item[:n]),
                 torch.from_numpy(np.roll(tr.item, 7)[:n]))


def scores(model, split):
    with torch.no_grad():
        model.eval()
        return model.score(model.ranking_state(), torch.arange(split.n_users))
