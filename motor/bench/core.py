"""Suite ``core``: sampler, full-ranking evaluation and LightGCN epoch targets; BPR and LightGCN (ID) per dataset."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

import numpy as np

from motor.bench.harness import BENCH_TRAIN, BenchOptions, dataset_sources, median_time, run_row, train_subprocess
from motor.bench.report import Section, write_csv
from motor.config import doc


@dataclass
class CoreOptions(BenchOptions):
    datasets: list[str] = doc(["demo", "ml100k"], "comma-separated: demo, ml100k or dataset folders")

    def __post_init__(self):
        super().__post_init__()
        if self.quick:
            self.datasets = ["demo"]
        self.datasets = dataset_sources(self.datasets)


def targets() -> list[str]:
    """The speed targets on MovieLens-100K, measured in this process."""
    from motor.data.load import load_dataset
    from motor.data.split import Pairs, make_split
    from motor.evaluate import Evaluator
    from motor.experiment import RunConfig, build_model, model_context
    from motor.sampling import NegativeSampler
    from motor.threads import set_threads
    from motor.train import TrainConfig, Trainer

    set_threads()
    ml = load_dataset("ml100k")
    split = make_split(ml)
    inter = ml.interactions
    all_pairs = Pairs(inter.user, inter.item)
    sampler = NegativeSampler(all_pairs, ml.n_items)
    rng = np.random.default_rng(0)
    t_sample = median_time(lambda: sampler.sample(all_pairs.user, rng))

    model = build_model(RunConfig.from_dict({"backbone": "lightgcn"}), model_context(ml, split))
    ev = Evaluator(split)
    n_eval_users = len(split.test.users())
    t_eval = median_time(lambda: ev.evaluate(model, "test"), 3)
    trainer = Trainer(TrainConfig(epochs=1, batch_size=2048, patience=1))
    t_epoch = statistics.median(trainer.fit(model, split).history[0]["train_seconds"] for _ in range(3))
    return ["## Core targets (MovieLens-100K)", "",
            "| measurement | target | measured |", "|---|---|---|",
            f"| negative sampling, one epoch of {len(all_pairs):,} interactions | < 0.1 s | {t_sample:.3f} s |",
            f"| full-ranking evaluation of all {n_eval_users} test users x {ml.n_items:,} items | < 1 s | "
            f"{t_eval:.3f} s |",
            f"| LightGCN epoch (64-d, 2 layers, batch 2048, {len(split.train):,} rows) | < 2 s | {t_epoch:.2f} s |",
            ""]


def run(opts: CoreOptions) -> Section:
    lines = targets()
    rows = []
    for data in opts.datasets:
        for backbone in ("bpr", "lightgcn"):
            cfg = {"data": {"data": data}, "backbone": backbone, "items": "id", "train": dict(BENCH_TRAIN)}
            if opts.quick:
                cfg["train"]["epochs"] = 3
            row = {"dataset": data, "backbone": backbone, **run_row(train_subprocess(cfg, threads=opts.threads))}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if opts.write:
        write_csv("core_quick" if opts.quick else "core", rows)
    lines += ["## BPR and LightGCN with ID embeddings", "",
              f"Training settings: {json.dumps(BENCH_TRAIN)}, early stopping on validation Recall@20, "
              "strict protocol, seed 999, split seed 2024.", "",
              "| dataset | backbone | test R@10 | test R@20 | test N@10 | test N@20 | best epoch | s/epoch | "
              "s/eval | peak MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['backbone']} | {r.get('recall@10', '-')} | {r.get('recall@20', '-')} | "
                     f"{r.get('ndcg@10', '-')} | {r.get('ndcg@20', '-')} | {r.get('best_epoch', '-')} | "
                     f"{r.get('s_per_epoch', '-')} | {r.get('s_per_eval', '-')} | {r.get('peak_mb', '-')} |")
    return Section("\n".join(lines), failed=sum("error" in r for r in rows))
