"""LGMRec (Guo et al., AAAI 2024): local and global graph learning for multimodal recommendation.

Local, collaborative (CGE): LightGCN (symmetric normalisation, mean of layers 0..n_ui_layers)
over the user-item graph with layer-0 items ``R = self.items()`` (ID table or MOTOR).

Local, modality (MGE), per modality m: items ``f_m W_m`` (``W_m: D_m -> d``, no bias), users the
mean of their training items' vectors, then ``n_mm_layers`` propagations over the same
user-item graph (the last layer is the output).

Global (GHE), per modality m: hyperedge dependencies ``H_i = f_m V_m`` (``V_m: D_m ->
hyper_num``) for items and ``H_u = A H_i`` (A = binary user-item matrix) for users, relaxed by a
Gumbel-softmax (temperature ``tau``) over the hyperedges, dropout ``1 - keep_rate``; then
``n_hyper_layers`` rounds of ``E = H_i^T X; X_i = H_i E; X_u = H_u E`` starting from CGE's item
vectors.

Final: ``CGE + sum_m normalize(MGE_m) + alpha * normalize(sum_m GHE_m)``. Loss: BPR +
``cl_weight`` * hypergraph contrast + ``reg_weight`` * EmbLoss(u, i+, i-). The contrast is an
InfoNCE (temperature ``ssl_temp``) between two modalities' hypergraph vectors of the batch's
users (resp. positive items), against all users (resp. items), summed over the batch (the
scale the 1e-4 default assumes); with M modalities it runs over every pair, and with one
modality it is zero (MMRec's LGMRec crashes there).

Deviation from MMRec: in eval mode the hyperedge assignment is the deterministic
``softmax(logits / tau)`` (no Gumbel noise, no dropout); MMRec samples Gumbel noise at
evaluation too, so its rankings are not repeatable. Features are frozen by default, as in LGMRec.
Defaults are the Baby ones (MMRec comments: Sports n_hyper_layers 1, hyper_num 4, keep_rate 0.4,
alpha 0.6; Clothing 2, 64, 0.2, 0.2). No learning-rate decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from motor.config import doc
from motor.losses import bpr_vectors, emb_norm_reg, info_nce
from motor.models.base import Batch, MakeItems, ModelContext, PropagationConfig
from motor.models.multimodal import ModalityModules, MultimodalConfig, MultimodalRecommender, xavier_linear
from motor.models.registry import register


@dataclass
class LGMRecConfig(MultimodalConfig, PropagationConfig):
    embedding_dim: int = doc(64, "size of user and item vectors (also of the modality projections)", low=1)
    n_ui_layers: int = doc(2, "LightGCN layers of the collaborative graph embedding", low=0)
    n_mm_layers: int = doc(2, "propagations of the modality graph embeddings", low=0)
    n_hyper_layers: int = doc(1, "hypergraph rounds (MMRec n_hyper_layer; Baby 1, Sports 1, Clothing 2)", low=0)
    hyper_num: int = doc(4, "hyperedges per modality (Baby 4, Sports 4, Clothing 64)", low=1)
    keep_rate: float = doc(0.5, "1 - dropout on the hyperedge assignments (Baby 0.5, Sports 0.4, Clothing 0.2)",
                           low=0, high=1, low_open=True)
    alpha: float = doc(0.3, "weight of the global hypergraph embedding (Baby 0.3, Sports 0.6, Clothing 0.2)", low=0)
    tau: float = doc(0.2, "temperature of the Gumbel-softmax over hyperedges", low=0, low_open=True)
    ssl_temp: float = doc(0.2, "temperature of the hypergraph contrastive loss", low=0, low_open=True)
    cl_weight: float = doc(1e-4, "weight of the hypergraph contrastive loss (summed over the batch)", low=0)
    reg_weight: float = doc(1e-6, "weight of the embedding-norm regulariser on the batch's final vectors", low=0)


@register
class LGMRec(MultimodalRecommender):
    """Local and global graph learning: LightGCN, per-modality graph embeddings and a hypergraph of item groups.

    Final vectors = collaborative LightGCN + normalised modality embeddings + ``alpha`` x the
    global hypergraph embedding; loss = BPR + hypergraph contrast + reg.
    """

    name = "lgmrec"
    Config = LGMRecConfig

    def __init__(self, ctx: ModelContext, cfg: LGMRecConfig, make_items: MakeItems) -> None:
        super().__init__(ctx, cfg, make_items)
        d = cfg.embedding_dim
        dims = self.features.dims()
        self.item_trs = ModalityModules(dims, lambda dim: xavier_linear(dim, d, bias=False))
        self.hyper = ModalityModules(dims, lambda dim: xavier_linear(dim, cfg.hyper_num, bias=False))
        self.drop = nn.Dropout(1.0 - cfg.keep_rate)
        self.graph_buffer("adj", ctx.ui_adjacency("sym"), symmetric=True)
        self.graph_buffer("r_mean", ctx.ui_matrix("row"))
        self.graph_buffer("r_bin", ctx.ui_matrix("none"))

    def _assign(self, logits: torch.Tensor) -> torch.Tensor:
        if self.training:
            return F.gumbel_softmax(logits, tau=self.cfg.tau, hard=False, dim=1)
        return torch.softmax(logits / self.cfg.tau, dim=1)

    def _forward(self):
        cfg, n_u = self.cfg, self.n_users
        cold = self.cold_items()  # one draw for CGE and every MGE (Recommender.cold_path)
        cge = torch.cat(self.propagate_ui(self.items(), cfg.n_ui_layers, cold=cold))
        local = cge
        hyper_parts = []
        for m, f in self.features.items():
            item_feats = self.item_trs[m](f)
            x = torch.cat([self.mm("r_mean", item_feats), item_feats])
            for _ in range(cfg.n_mm_layers):
                x = self.mm("adj", x)
            if cfg.n_mm_layers > 0:  # an item without edges keeps its own modality vector (Recommender.cold_path)
                x = torch.cat([x[:n_u], self.cold_path(x[:n_u], x[n_u:], item_feats, cold)])
            local = local + F.normalize(x, dim=1)
            logits_i = self.hyper[m](f)
            h_i = self.drop(self._assign(logits_i))
            h_u = self.drop(self._assign(self.mm("r_bin", logits_i)))
            x_i, x_u = cge[n_u:], None
            for _ in range(cfg.n_hyper_layers):
                lat = h_i.T @ x_i
                x_i, x_u = h_i @ lat, h_u @ lat
            if x_u is None:  # no hypergraph rounds
                x_u = torch.zeros(n_u, x_i.shape[1], dtype=x_i.dtype, device=x_i.device)
            hyper_parts.append((x_u, x_i))
        ghe = torch.cat([sum(u for u, _ in hyper_parts), sum(i for _, i in hyper_parts)])
        out = local + cfg.alpha * F.normalize(ghe, dim=1)
        return out[:n_u], out[n_u:], hyper_parts

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        users, items, hyper_parts = self._forward()
        u, pos, neg = self.batch_rows(users, items, batch)
        hcl = users.new_zeros(())
        t = self.cfg.ssl_temp
        # the sum over the batch rows, computed once per distinct user / item and weighted by its count
        # (same value and gradient; the demo's 2,048-row batches hold at most 597 distinct users)
        uu, u_count = torch.unique(batch.user, return_counts=True)
        ii, i_count = torch.unique(batch.pos, return_counts=True)
        for (ua, ia), (ub, ib) in combinations(hyper_parts, 2):
            hcl = hcl + info_nce(ua[uu], ub, t, uu, "none") @ u_count.to(ua.dtype)
            hcl = hcl + info_nce(ia[ii], ib, t, ii, "none") @ i_count.to(ia.dtype)
        return {"bpr": bpr_vectors(u, pos, neg),
                "hcl": self.cfg.cl_weight * hcl,
                "reg": self.cfg.reg_weight * emb_norm_reg(u, pos, neg)}

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self._forward()
        return users, items
