"""DualGNN (Wang et al., IEEE TMM 2021): per-modality feature GCNs plus a user-user graph.

Published model (MMRec defaults): per modality, items enter as ``MLP(feature)`` (feature ->
256 -> 64, LeakyReLU) and users as a learned preference vector; both are L2-normalised and
propagated twice by a weight-free, symmetric-normalised convolution over the user-item graph,
output ``x + h1 + h2``. Item representation = sum over modalities; user representation = a
per-user weighted sum over modalities (weights initialised as a softmax), then aggregated
over the user's top-k (k = 40) co-interaction neighbours: ``u <- u + sum_v w_uv u_v`` with
``w`` the softmax of co-interaction counts. Loss: base-2 BPR ``-mean log2 sigmoid(s+ - s-)``
(= ``bpr_loss / ln 2``) + ``reg_weight`` x mean squares of the batch users' preferences and of
the user modality weights. Score = inner product.

Where MOTOR enters: DualGNN has **no item-ID table**. The item encoder's vector is added to
the items' layer-0 input of every modality's feature GCN (``MLP_m(f_i) + R_i``), the one place
an item-identity vector fits without changing the published feature pathway; ID mode is
DualGNN plus an item-ID embedding, MOTOR mode DualGNN plus MOTOR's token vector
(details in ``feature_gcn.py`` and docs/BACKBONES.md).

Deviations from MMRec, on purpose: the user-user graph is computed from the training split
(``motor.user_graph``, hash-keyed cache) instead of a preprocessing file; users with fewer than
k neighbours keep only their real neighbours by default (``user_padding='mask'``; MMRec pads by
re-drawing, available as ``'resample'``), and a user with no co-interacting user aggregates
nothing (MMRec points such rows at user 0 with zero weights); the unused "modality-dropped"
edge lists and MMRec's unused item modality weights are left out; representations are
recomputed from the current weights at evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from motor.models.feature_gcn import DualGraphConfig, DualGraphModel
from motor.models.registry import register


@dataclass
class DualGNNConfig(DualGraphConfig):
    pass


@register
class DualGNN(DualGraphModel):
    """Per-modality feature GCNs summed, with user vectors smoothed over a user-user co-interaction graph.

    Items enter each modality's GCN as ``MLP(feature)`` plus the item encoder's vector; users as
    learned preferences, weighted per user across modalities; loss = base-2 BPR + reg.
    """

    name = "dualgnn"
    Config = DualGNNConfig
    combine = "sum"
