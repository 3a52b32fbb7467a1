"""Command line: ``python -m motor {data,tokenize,train,recommend,features,bench} ...``.

Any user-fixable problem ends with exit status 2 and a one-line ``error: ...`` on stderr.
Every command is registered explicitly in ``make_parser``: a broken import fails loudly.
Training settings reach ``RunConfig`` through ``motor.config.apply_overrides`` only: a named
option is a shorthand for one dotted path (``--lr`` is ``--set train.lr=...``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from motor import bench, tune
from motor.errors import MotorError
from motor.features import cli as features_cli


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments on one line (status 2) instead of usage + message, and takes no
    abbreviated options: with them a typo such as ``tokenize --k 1`` silently meant ``--kcore 1``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise MotorError(f"{message} (see: {self.prog} --help)")


def _data_args(p):
    # No argparse defaults: an option not given leaves the --config file's value (or DataConfig's default:
    # demo, no k-core, duplicates and missing features refused) in place
    p.add_argument("--data", help="'demo' (the default), 'demo-longtail', 'ml100k' or a dataset folder (MMRec or "
                                  "simple format)")
    p.add_argument("--kcore", type=int, help="iterative k-core filter (default 0 = off)")
    p.add_argument("--duplicates", choices=["error", "keep_last"], help="default: error")
    p.add_argument("--missing-features", choices=["error", "fill_mean", "fill_zero"], help="default: error")


def _data_cfg(a) -> dict:
    """The data options given on the command line (those not given are absent, not their defaults)."""
    given = {"data": a.data, "kcore": a.kcore, "duplicates": a.duplicates, "missing_features": a.missing_features}
    return {k: v for k, v in given.items() if v is not None}


def _pq_args(p):
    p.add_argument("--pq-m", type=int, help="PQ sub-vectors per modality (default 4)")
    p.add_argument("--pq-k", type=int, help="codewords per sub-space, a power of two (default 64)")
    p.add_argument("--pq-normalize", choices=["l2", "none"],
                   help="tokenizer.normalize: scale each feature vector to unit length first (default l2)")
    p.add_argument("--opq", action="store_true", help="learn an OPQ rotation before PQ")
    p.add_argument("--dim-fix", choices=["pad", "pca"], help="when the dimension is not divisible by M")
    p.add_argument("--pq-seed", type=int, help="tokenizer.seed: seed of the k-means runs (default 0)")
    p.add_argument("--pq", action="append", default=[], metavar="MODALITY:M:K",
                   help="per-modality override, e.g. --pq image:16:32 (repeatable)")


def _pq_cfg(a) -> dict:
    cfg = {k: v for k, v in {"m": a.pq_m, "k": a.pq_k, "normalize": a.pq_normalize, "dim_fix": a.dim_fix,
                             "seed": a.pq_seed}.items() if v is not None}
    if a.opq:
        cfg["opq"] = True
    per = {}
    for spec in a.pq:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise MotorError(f"--pq {spec!r}: expected MODALITY:M:K, for example image:16:32")
        per[parts[0]] = {"m": int(parts[1]), "k": int(parts[2])}
    if per:
        cfg["per_modality"] = per
    return cfg


def cmd_data(a) -> int:
    """``data``: read and check a dataset, print its statistics."""
    from motor.config import from_dict
    from motor.data.checks import check_dataset
    from motor.data.load import DataConfig, load_dataset

    ds = load_dataset(from_dict(DataConfig, _data_cfg(a)))
    split, checks = check_dataset(ds)  # the same split as train: refuses what train refuses
    s = ds.stats()
    if a.json:
        print(json.dumps({**s, "split": split.summary(), "warnings": list(ds.warnings) + checks}, indent=2))
        return 0
    print(f"dataset      {s['name']}  ({ds.source})")
    print(f"users        {s['users']:,}")
    print(f"items        {s['items']:,}")
    print(f"interactions {s['interactions']:,}")
    print(f"density      {s['density']:.4%}")
    print(f"per user     min {s['interactions_per_user']['min']}, median {s['interactions_per_user']['median']:g}, "
          f"max {s['interactions_per_user']['max']}")
    print(f"per item     min {s['interactions_per_item']['min']}, median {s['interactions_per_item']['median']:g}, "
          f"max {s['interactions_per_item']['max']}")
    print(f"timestamps   {'yes' if s['has_timestamps'] else 'no'};  given split (x_label): "
          f"{'yes' if s['has_given_split'] else 'no'}")
    print("modalities   " + ", ".join(f"{n} ({m['dim']}-d" + (f", {m['missing_rows']} missing, {m.get('fill', 'mean')}-filled" if m["missing_rows"] else "")
                                      + ")" for n, m in s["modalities"].items()))
    for w in ds.warnings:
        print(f"note: {w}")
    print(f"split        {split.method}: {len(split.train):,} train, {len(split.valid):,} valid, {len(split.test):,} test")
    for w in checks:
        print(f"warning: {w}")
    return 0


def cmd_tokenize(a) -> int:
    """``tokenize``: fit the PQ tokenizer on a dataset, print (and save) its report."""
    from motor.config import from_dict
    from motor.data.load import DataConfig, load_dataset
    from motor.experiment import tokenize
    from motor.tokenizer import TokenizerConfig

    if a.out:
        _check_tokenizer_out(Path(a.out))
    ds = load_dataset(from_dict(DataConfig, _data_cfg(a)))
    tok = tokenize(ds, from_dict(TokenizerConfig, _pq_cfg(a)))
    print(json.dumps(tok.report(), indent=2) if a.json else tok.format_report())
    if a.out:
        tok.save(Path(a.out))
        print(f"saved tokenizer to {a.out}", file=sys.stderr if a.json else sys.stdout)  # --json: stdout is JSON only
    return 0


def _check_tokenizer_out(out: Path) -> None:
    """Refuse ``tokenize --out`` into a run folder (``RUN/tokenizer`` once replaced the tokenizer the run's model
    was trained with, so the run no longer loaded), and say when an earlier tokenizer there is replaced."""
    from motor.run_folder import check_writable_parent, is_run_folder

    if is_run_folder(out.parent):
        raise MotorError(f"{out} is in the run folder {out.parent}, whose model was trained with the tokenizer there; "
                         f"replacing it would break the run, so nothing was fitted. Give the tokenizer a folder of "
                         f"its own, e.g. --out tokenizers/my-tokenizer")
    if is_run_folder(out):
        raise MotorError(f"{out} is a run folder (its own tokenizer is in {out / 'tokenizer'}); give the tokenizer a "
                         f"folder of its own, e.g. --out tokenizers/my-tokenizer")
    check_writable_parent(out, "the tokenizer folder", "--out tokenizers/my-tokenizer")
    if (out / "tokenizer.json").exists():
        print(f"note: {out} holds a tokenizer; this one replaces it", file=sys.stderr)


TRAIN_EPILOG = """\
data-parallel training (DistributedDataParallel; gloo on CPU, nccl on CUDA):
  torchrun --nproc_per_node=2 -m motor train --preset quick --out runs/ddp
  across nodes, the same command on every node:
  torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=HOST:29400 --rdzv_id=job1 -m motor train ...
  each rank trains on its shard of the training pairs (train.batch_size is the total over the ranks),
  rank 0 evaluates and writes the run (across nodes, whichever node the rendezvous gave rank 0: the one
  that prints 'run saved to'); metrics.json records world_size."""

# train options that are shorthands for one RunConfig setting: argparse dest -> dotted path
TRAIN_OPTIONS = {
    "backbone": "backbone", "items": "items",
    "epochs": "train.epochs", "seed": "train.seed", "lr": "train.lr", "batch_size": "train.batch_size",
    "patience": "train.patience", "protocol": "train.protocol", "threads": "train.threads",
    "split": "split.method", "split_seed": "split.seed", "cold_items": "split.cold_items",
    "cold_valid": "split.cold_valid",
    "train_fraction": "split.train_fraction",
    "tcn": "motor.tcn", "tcn_layers": "motor.layers", "tcn_heads": "motor.heads", "token_dim": "motor.token_dim",
    "token_init": "motor.init", "device": "train.device", "amp": "train.amp",
}


def train_overrides(a) -> dict:
    """The dotted overrides named on a ``train`` command line: the data and PQ options, the named options,
    then every --set (a later --set of the same path wins)."""
    from motor.config import parse_assignment

    out: dict = {f"data.{k}": v for k, v in _data_cfg(a).items()}
    pq = _pq_cfg(a)
    if pq:
        out["tokenizer"] = pq
    out.update({path: getattr(a, dest) for dest, path in TRAIN_OPTIONS.items() if getattr(a, dest) is not None})
    for item in a.set:
        try:
            key, value = parse_assignment(item)
        except MotorError as e:
            raise MotorError(f"--set {e}") from None
        out.pop(key, None)  # re-inserted last: it applies after the options above
        out[key] = value
    return out


def build_run_config(a):
    """The run's RunConfig: the preset, then the --config JSON, then ``train_overrides(a)``; every step
    merged and validated by ``motor.config.apply_overrides``."""
    from motor.config import read_config_file
    from motor.presets import preset

    file = read_config_file(a.config)
    given = (a.backbone or "").lower()
    named = str(file.get("backbone", "")).lower()
    if given and file.get("model") and not named:  # the file's model settings are for the backbone named here
        file = {**file, "backbone": given}
    elif given and file.get("model") and named != given:
        print(f"note: --config {a.config} holds model settings for {named}; --backbone {given} starts from "
              f"{given}'s defaults instead (set any with --set model.NAME=VALUE)", file=sys.stderr)
    return preset(a.preset, overrides=file, source=f"--config {a.config}").with_overrides(train_overrides(a))


# train options that set MOTOR's tokenizer or Token Cross Network: an ID run trains without them
MOTOR_ONLY = ("pq_m", "pq_k", "pq_normalize", "opq", "dim_fix", "pq_seed", "pq", "tcn", "tcn_layers", "tcn_heads",
              "token_dim", "token_init")


def unused_motor_options(a, items: str) -> list[str]:
    """The MOTOR options named on an ID run's command line: ``train --pq-m 4 --tcn attention`` without
    ``--items motor`` trained the default ID model without a word, so the user read its figures as MOTOR's."""
    if items != "id":
        return []
    named = [f"--{d.replace('_', '-')}" for d in MOTOR_ONLY if getattr(a, d) not in (None, False, [])]
    return named + [f"--set {s}" for s in a.set if s.startswith(("tokenizer.", "motor."))]


def cmd_train(a) -> int:
    """``train``: train and evaluate one run, print the test metrics, write the run folder.

    Under torchrun every rank runs this; rank 0 alone draws progress, prints and writes the run.
    """
    from tqdm import tqdm

    from motor import distributed
    from motor.experiment import run_experiment
    from motor.explore.collapse import collapse_warning

    cfg = build_run_config(a)
    bar = None

    def progress(p):
        nonlocal bar
        if p.stage == "start":
            bar = tqdm(total=p.epochs, desc=f"{cfg.backbone}/{cfg.items}", unit="epoch", file=sys.stderr,
                       disable=a.quiet or not distributed.world().is_main)
        elif p.stage == "epoch":
            bar.update(1)
            bar.set_postfix(loss=f"{p.loss:.4f}", valid=f"{p.valid.get(cfg.train.valid_metric, 0):.4f}",
                            best=p.best_epoch)
        elif p.stage == "done" and bar is not None:
            bar.close()

    with distributed.session(cfg.train.device) as w:
        if a.out and w.is_main and (Path(a.out) / "model.safetensors").exists():  # once, not once per rank
            print(f"note: {a.out} holds a run; this one replaces it when it ends", file=sys.stderr)
        unused = unused_motor_options(a, cfg.items)
        if unused and w.is_main:
            print(f"note: {', '.join(unused)} set MOTOR's tokenizer or Token Cross Network, which an ID run (--items "
                  f"id, the default) does not use; add --items motor to train MOTOR", file=sys.stderr)
        out = run_experiment(cfg, a.out, progress=progress)
    if not w.is_main:
        return 0
    m = out.metrics
    if out.result.message:
        print(f"note: {out.result.message}", file=sys.stderr)
    ks = [k for k in (10, 20) if k in cfg.train.topk] or list(cfg.train.topk)[:2]  # the cut-offs this run has
    keys = [f"{n}@{k}" for n in ("recall", "ndcg") for k in ks]
    where = f" on {m['device']}" + (f" x {m['world_size']} processes" if m["world_size"] > 1 else "")
    print(f"best epoch {m['best_epoch']} of {m['epochs_run']} ({m['stopped']}), "
          f"{m['seconds_per_epoch']:.2f} s/epoch{where}, item-side parameters {m['params']['item_side']:,}")
    print("test  " + _figures(m.get("test") or {}, keys, "no test interactions in this split"))
    k = ks[-1]
    for part, label in (("cold_valid", "cold valid"), ("cold", "cold")):
        if part in m:
            print(f"{label}  " + _figures(m[part] or {}, [f"recall@{k}", f"ndcg@{k}", f"recall@{k}_among_cold",
                                                         f"ndcg@{k}_among_cold"], "no interactions of these items"))
    collapse = collapse_warning(m)  # MOTOR's Token Cross Network: do its tokens cross? (None for ID)
    if collapse:
        print(f"warning: {collapse[0]}: {collapse[1]}", file=sys.stderr)
    pers = m.get("personalisation")
    if pers:
        reference = pers.get(f"popularity_recall@{pers['k']}")  # absent from runs trained before it existed
        print(f"lists top-{pers['k']} overlap between users {pers['top_overlap']:.3f} "
              f"(popularity ranking {pers['popularity_top_overlap']:.3f})"
              + (f"; popularity ranking test recall@{pers['k']} {reference:.4f}" if reference is not None else ""))
        if pers.get("warning"):
            print(f"warning: {pers['warning']}", file=sys.stderr)
    if a.out:
        print(f"run saved to {a.out}")
    return 0


def _figures(part: dict, keys: list[str], none: str) -> str:
    """``recall@20 0.1234  ndcg@20 ...`` for the keys ``part`` has; ``none`` when it has none of them."""
    shown = [f"{k} {part[k]:.4f}" for k in keys if isinstance(part.get(k), (int, float))]
    return "  ".join(shown) if shown else f"none ({none})"


def cmd_recommend(a) -> int:
    """``recommend``: top-K items for a user from a saved run."""
    from motor.runs import LoadedRun

    run = LoadedRun.load(a.run)
    recs = run.recommend(a.user, a.k)
    if a.json:
        print(json.dumps(recs, indent=2))
        return 0
    print(f"top {len(recs)} for user {a.user} ({run.config.backbone}/{run.config.items}, {len(run.excluded_items(run.dataset.user_index(a.user)))} items of the user's training (and validation) excluded, as in the test ranking)")
    if run.index().kind != "exact":
        print(f"approximate search ({run.index().kind}): recall@20 vs exact {run.index().recall:.3f}")
    for r in recs:
        flag = "  [cold]" if r["cold"] else ""
        print(f"{r['rank']:>3}  {r['item_id']:>8}  {r['score']:8.4f}  {r['title']}{flag}")
    return 0


def cmd_similar(a) -> int:
    """``similar``: an item's tokens (MOTOR runs), the items sharing most of them, and its nearest items by the
    run's item vectors: which items MOTOR treats alike, and why, without the app."""
    from motor.errors import check_k
    from motor.explore.catalogue import item_label
    from motor.explore.tokens import item_tokens, missing_token_note, nearest_items, sharing_items
    from motor.runs import LoadedRun

    check_k(a.k)
    run = LoadedRun.load(a.run)
    ds, tok = run.dataset, run.tokenizer
    item = ds.item_index(a.item)
    nearest = nearest_items(run.vectors()[1], ds, item, a.k, tok, index=run.index())
    tokens = item_tokens(tok, item) if tok is not None else None
    sharing = sharing_items(tok, ds, item, a.k) if tok is not None else None
    note = missing_token_note(tok, tok.token_ids[item]) if tok is not None else None  # no poster: not shared content
    for table in (nearest, sharing):  # the item ids a person knows, not internal indexes
        if table is not None:
            table.insert(0, "item_id", [str(ds.item_ids[i]) for i in table.pop("item")])
    if a.json:
        print(json.dumps({"item_id": a.item, "title": item_label(ds, item), "nearest": nearest.to_dict("records"),
                          "tokens": None if tokens is None else tokens.to_dict("records"),
                          "sharing": None if sharing is None else sharing.to_dict("records"),
                          "missing_note": note}, indent=2))
        return 0
    print(f"item {a.item}: {item_label(ds, item)} ({run.config.backbone}/{run.config.items})")
    if tokens is not None:
        print("\nits tokens:\n" + tokens.to_string(index=False) + (f"\n({note})" if note else ""))
        if len(sharing):
            print(f"\nthe {len(sharing)} items sharing most of them:\n" + sharing.to_string(index=False))
        else:
            print("\nno other item shares any of its tokens")
    else:
        print("\n(an ID run: items have no tokens; train with --items motor to see which items share them)")
    print(f"\nnearest {len(nearest)} by the run's item vectors (cosine after removing the mean item vector):\n"
          + nearest.to_string(index=False))
    return 0


def _unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> MotorError:
    """The error for arguments no option takes, naming the sub-command's help and its options nearest a typo."""
    import difflib

    while True:  # down to the sub-command that was run (python -m motor bench regimes ...)
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = getattr(args, subs[0].dest, None) if subs else None
        if chosen not in (subs[0].choices if subs else {}):
            break
        parser = subs[0].choices[chosen]
    known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    near = [m for tok in extra if tok.startswith("-")
            for m in difflib.get_close_matches(tok.split("=")[0], known, n=2, cutoff=0.6)]
    hint = f"; did you mean {' or '.join(dict.fromkeys(near))}?" if near else ""
    return MotorError(f"unrecognized arguments: {' '.join(extra)}{hint} (see: {parser.prog} --help)")


def make_parser() -> argparse.ArgumentParser:
    """The parser of every command (each sub-command's ``func`` runs it)."""
    p = _Parser(prog="python -m motor", description="MOTOR: ID-free multimodal token representations for "
                                                     "recommendation. Data, tokenizer, training, recommendation.")
    from motor import __version__

    p.add_argument("--version", action="version", version=f"motor-lab {__version__}")  # was 'command required'
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("data", help="validate a dataset and print its statistics")
    _data_args(d)
    d.add_argument("--json", action="store_true", help="print statistics as JSON")
    d.set_defaults(func=cmd_data)
    from motor.data.synth import add_parser as add_synth_parser

    add_synth_parser(d)  # python -m motor data synth ...

    t = sub.add_parser("tokenize", help="fit the PQ tokenizer and print its report")
    _data_args(t)
    _pq_args(t)
    t.add_argument("--json", action="store_true", help="print the report as JSON")
    t.add_argument("--out", help="save the fitted tokenizer to this folder")
    t.set_defaults(func=cmd_tokenize)

    r = sub.add_parser("train", help="train and evaluate a recommender; write a run folder",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=TRAIN_EPILOG)
    _data_args(r)
    r.add_argument("--preset", default="default", help="starting settings: default, or quick (the app's fast demo "
                                                       "settings); --config and options override it")
    r.add_argument("--config", help="a RunConfig JSON file (command-line options override it)")
    r.add_argument("--backbone", help="bpr, lightgcn, vbpr, ... (default lightgcn)")
    r.add_argument("--items", choices=["id", "motor"], help="item representation (default id)")
    r.add_argument("--epochs", type=int, help="train.epochs: maximum number of epochs (default 100)")
    r.add_argument("--seed", type=int, help="training seed (init, shuffling, negatives)")
    r.add_argument("--lr", type=float, help="train.lr: Adam learning rate (default 0.005)")
    r.add_argument("--batch-size", type=int, help="train.batch_size: training rows per step (default 2048)")
    r.add_argument("--patience", type=int, help="train.patience: stop after this many validations without "
                                                "improvement (default 20)")
    r.add_argument("--protocol", choices=["strict", "mmrec"], help="train.protocol: strict (default) also masks "
                                                                   "validation items at test; mmrec masks train only")
    r.add_argument("--threads", type=int, help="train.threads: CPU threads for torch and faiss (default 0: one per "
                                               "available core)")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], help="train.device: auto (default) takes a GPU "
                   "when torch sees one; data-parallel with torchrun --nproc_per_node=N -m motor train ...")
    r.add_argument("--amp", action="store_true", default=None, help="train.amp: bfloat16 autocast on CUDA")
    r.add_argument("--split", choices=["auto", "random", "time", "given"],
                   help="split.method: per-user random, per-user time, the file's x_label, or auto: x_label when "
                        "the data has it, else random (default auto)")
    r.add_argument("--split-seed", type=int, help="split.seed: seed of the random split and of the cold-item draw "
                                                  "(default 2024)")
    r.add_argument("--cold-items", type=float, help="fraction of items held out as cold (e.g. 0.1)")
    r.add_argument("--cold-valid", type=float, help="share of the cold items that validates cold-item settings "
                                                    "instead of testing them (e.g. 0.5; needs --cold-items)")
    r.add_argument("--train-fraction", type=float, help="keep this seeded fraction of each user's training "
                                                        "interactions (sparser data; valid/test unchanged)")
    _pq_args(r)
    r.add_argument("--tcn", choices=["attention", "factored", "cross", "mean"], help="Token Cross Network variant "
                                                                                     "(default attention)")
    r.add_argument("--tcn-layers", type=int, help="motor.layers: attention blocks or cross layers (default 1)")
    r.add_argument("--tcn-heads", type=int, help="motor.heads: attention heads, dividing --token-dim (default 2)")
    r.add_argument("--token-dim", type=int, help="motor.token_dim: width of the token embeddings (default 32)")
    r.add_argument("--token-init", choices=["normal", "codebook"], help="motor.init: token table init (default "
                                                                        "normal)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any setting by its path, e.g. model.reg_weight=0.001 or motor.dropout=0.1 (repeatable)")
    r.add_argument("--out", help="run folder to write (config, metrics.json, weights)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_train)

    c = sub.add_parser("recommend", help="top-K items for a user from a saved run")
    c.add_argument("--run", required=True, help="run folder written by train --out")
    c.add_argument("--user", required=True, help="user id as in the interactions file")
    c.add_argument("-k", type=int, default=10, help="items to list (default 10)")
    c.add_argument("--json", action="store_true", help="print the list as JSON")
    c.set_defaults(func=cmd_recommend)

    m = sub.add_parser("similar", help="an item's tokens, the items sharing most of them, and its nearest items "
                                       "from a saved run")
    m.add_argument("--run", required=True, help="run folder written by train --out")
    m.add_argument("--item", required=True, help="item id as in the items file")
    m.add_argument("-k", type=int, default=10, help="items listed in each part (default 10)")
    m.add_argument("--json", action="store_true", help="print the three parts as JSON")
    m.set_defaults(func=cmd_similar)

    features_cli.add_parser(sub)
    bench.add_parser(sub)
    tune.add_parser(sub)
    return p


# options that name a file or folder ('--data' is expanded where it is read, as a config file's value is too)
PATH_OPTIONS = ("out", "run", "config", "items", "images", "cache_dir", "tuned_dir", "motor_tuned_dir",
                "motor_tune_start", "work")


def _expand_home(args: argparse.Namespace) -> None:
    """``~`` in a path option means the home folder: the shell expands ``--out ~/runs/a`` but not ``--out=~/runs/a``,
    and train then wrote the run into a folder named '~' inside the current one."""
    for name in PATH_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, os.path.expanduser(value))


def say_error(line: str) -> None:
    """One line to stderr in one write: under torchrun (``python -u``) print() writes the text and its newline
    apart, so two ranks stopping at once ran their messages together on one line."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _rank_prefix(message: str) -> str:
    """'rank R of N: ' under torchrun, for an error found before the ranks joined (every rank prints its own; on
    several machines one may lack a file the others have), unless the message names its rank already."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ or message.startswith("rank "):
        return ""
    return f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: "


def main(argv=None) -> int:
    """Run one command; user-fixable problems print ``error: ...`` and return 2, Ctrl-C returns 130."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if not argv:
            raise MotorError("no command given; try: python -m motor --help")
        parser = make_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:
            raise _unrecognized(parser, args, extra)
        _expand_home(args)
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so a reader that went away is the BrokenPipeError below, not one at exit
        return status
    except MotorError as e:
        say_error(f"error: {_rank_prefix(str(e))}{e}")
        return 2
    except BrokenPipeError:  # the output's reader stopped early (recommend ... | head): done, as cat would be
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141
    except OSError as e:  # a path the user gave (missing, a file where a folder goes, no permission, disk full)
        if e.filename is None:
            raise
        also = f" -> {e.filename2}" if e.filename2 else ""
        say_error(f"error: {_rank_prefix('')}{e.strerror or e}: {e.filename}{also}; check the path, or choose another")
        return 2
    except KeyboardInterrupt:
        rank = f" (rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']})" if "RANK" in os.environ else ""
        kept = _kept_on_interrupt(locals().get("args"))
        say_error(f"error: interrupted{rank}" + (f"; {kept}" if kept else ""))
        return 130


def _kept_on_interrupt(args) -> str:
    """What a Ctrl-C left of the command's work, and how to go on: 'interrupted' alone left the user to guess
    whether an hour of tuning or benchmarking was lost."""
    command = getattr(args, "command", None)
    if command == "train":
        return "no run was written (a run folder is written only when training ends)"
    if command == "tune":
        return "the finished trials are kept in the search's --out folder; the same command resumes the search"
    if command == "bench" and hasattr(args, "resume"):
        return "the finished runs are in the suite's run log; the same command with --resume goes on from them"
    return ""


if __name__ == "__main__":
    sys.exit(main())
