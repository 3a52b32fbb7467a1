"""From raw item content (texts, pictures) to feature matrices, in one offline step.

``build_features(items_csv, out_dir, TextFeatures(columns), ImageFeatures(pictures))`` reads an
items CSV and a folder or zip of pictures and writes ``text.npz`` / ``image.npz`` (arrays
``item_id``, ``feat``, ``missing``) plus ``feature_report.json``: the format the dataset reader
loads as ``<modality>.npz``.

Nothing heavy is imported here: torch, sentence-transformers and the image model load only
when a modality is actually encoded, so ``import motor.features`` stays cheap.
"""

from motor.features.pipeline import (
                                     CacheSettings,
                                     FeatureReport,
                                     ImageFeatures,
                                     Limits,
                                     ModalityReport,
                                     TextFeatures,
                                     build_features,
)

__all__ = ["CacheSettings", "FeatureReport", "ImageFeatures", "Limits", "ModalityReport", "TextFeatures",
           "build_features"]
