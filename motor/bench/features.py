"""Suite ``features``: texts/s and images/s of the packaged encoders on this machine (model load timed apart).

Texts: the demo's item texts (title, year, genres, tags). Images: poster-sized (300 x 450)
JPEGs generated here (the posters themselves are not redistributed). Encoding uses
``motor.features`` as the CLI and the app do; the feature cache is not involved.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass

import numpy as np

from motor.bench.harness import ROOT, BenchOptions
from motor.bench.report import Section, write_csv

DEMO_ITEMS = 1849


@dataclass
class FeaturesOptions(BenchOptions):
    pass


def synthetic_jpegs(n: int, seed: int = 0) -> list[bytes]:
    """``n`` poster-sized JPEGs of noise (the real posters are not redistributed)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray((rng.random((450, 300, 3)) * 255).astype(np.uint8)).save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(opts: FeaturesOptions) -> Section:
    from motor.features.image import ImageEncoder, load_image_model
    from motor.features.text import TextEncoder, load_text_model
    from motor.threads import set_threads

    threads = set_threads(opts.threads)
    with (ROOT / "assets" / "demo" / "items.csv").open(encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    n_images = 16 if opts.quick else 128
    jpegs = synthetic_jpegs(n_images)
    if opts.quick:
        texts = texts[:64]

    text_load = timed(load_text_model)
    text_s = timed(lambda: TextEncoder().encode(texts))
    image_load = timed(load_image_model)
    image_s = timed(lambda: ImageEncoder().encode(jpegs))
    rows = [{"what": "text (all-MiniLM-L6-v2, 384-d)", "items": len(texts), "load_s": round(text_load, 2),
             "encode_s": round(text_s, 2), "per_s": round(len(texts) / text_s, 1)},
            {"what": "image (EfficientNet-Lite0, 1280-d)", "items": n_images, "load_s": round(image_load, 2),
             "encode_s": round(image_s, 2), "per_s": round(n_images / image_s, 1)}]
    if opts.write:
        write_csv("features_quick" if opts.quick else "features", rows)
    est = DEMO_ITEMS / rows[0]["per_s"] + DEMO_ITEMS / rows[1]["per_s"]
    lines = ["## Content encoders: texts and images per second", "",
             f"{threads} torch thread(s), batch 64 texts / 32 images, model load timed apart (once per process).", "",
             "| encoder | items | model load s | encode s | items per second |", "|---|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['items']:,} | {r['load_s']} | {r['encode_s']} | {r['per_s']} |" for r in rows]
    lines += ["", f"At these rates the demo's {DEMO_ITEMS:,} items need about {est:.0f} s for both modalities "
              "(`scripts/build_demo.py --posters DIR` rebuilds them from the raw posters and texts and reports "
              "its own time and the cosine agreement with the shipped features)."]
    return Section("\n".join(lines))
