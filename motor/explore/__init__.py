"""Analyses behind motor-lab's explore pages, usable without Streamlit (plain data in, tables out).

Each module reads a trained run (``motor.runs.LoadedRun``), its tokenizer or its item encoder
and returns pandas DataFrames, numpy arrays or dicts, so the app stays a thin layer and the
same figures can be reproduced in a notebook. One topic per module:

- ``catalogue``: item metadata for display (titles, genres, interaction counts, modalities);
- ``layouts``: 2-D layouts of item vectors (PCA, UMAP), cached per run folder with a lock;
- ``clusters``: k-means clusters of item vectors (faiss);
- ``tokens``: an item's tokens, the items carrying a token or sharing most tokens, nearest
  items by vector, codebook usage, PQ collisions;
- ``attention``: one item's token-cross attention and pooling with readable labels (the
  averages over items are methods of the encoder);
- ``recommendations``: several runs' top-k for one user side by side, all-user exports;
- ``tables``: metric tables, relative changes and training curves;
- ``collapse``: the Token Cross Network's collapse check from a run's metrics (``item_encoder``);
- ``popularity``: test figures per popularity bucket (``by_popularity``), averaged over repeats;
- ``regimes``: the regimes benchmark's table (``benchmarks/regimes.csv``) as MOTOR minus ID per cell;
- ``backbone_table``: the backbone benchmark's runs (``benchmarks/backbones.csv``) as MOTOR against ID per
  backbone, on items with interactions and on held-out (cold) items;
- ``personalisation``: do users get different lists? one sentence from runs' ``personalisation`` figures;
- ``personalisation_table``: that benchmark's runs (``benchmarks/personalisation.csv``): the item vectors'
  effective rank and the lists' overlap, MOTOR against ID per backbone;
- ``tail``: why rare items rank where they do (their token neighbours, their rank in users' lists);
- ``bench_tables``: a benchmark CSV checked for its columns, and the date its RESULTS.md section was written.

Import the module you need (``from motor.explore import tokens``): nothing heavy loads until then.
"""
