"""``python -m motor data`` refuses what ``train`` refuses, and warns about content without information."""

import json

import numpy as np
import pandas as pd
import pytest

from motor.data.checks import check_dataset, uninformative_modalities
from motor.data.load import DataConfig, load_dataset
from motor.errors import MotorError
from tests.test_cli import motor


def all_test_rows(mmrec_dir):
    path = mmrec_dir / "tiny.inter"
    df = pd.read_csv(path, sep="\t")
    df["x_label"] = 2
    df.to_csv(path, sep="\t", index=False)
    return mmrec_dir


def test_all_x_label_2_is_refused_by_data_as_by_train(mmrec_dir):
    folder = all_test_rows(mmrec_dir)
    with pytest.raises(MotorError, match="none with x_label 0"):
        check_dataset(load_dataset(DataConfig(data=str(folder))))
    for cmd in (["data"], ["train", "--backbone", "bpr", "--epochs", "1"]):
        r = motor(*cmd, "--data", folder)
        assert r.returncode == 2 and "none with x_label 0" in r.stderr, (cmd, r.stderr)


@pytest.mark.parametrize("kind", ["zeros", "constant"])
def test_modality_without_information_is_warned(simple_dir, kind):
    with np.load(simple_dir / "image.npz") as z:
        ids, feat = z["item_id"], z["feat"]
    feat = np.zeros_like(feat) if kind == "zeros" else np.tile(feat[:1], (len(feat), 1))
    np.savez(simple_dir / "image.npz", item_id=ids, feat=feat)
    ds = load_dataset(DataConfig(data=str(simple_dir)))
    (warning,) = uninformative_modalities(ds)
    assert "'image'" in warning and ("all zeros" in warning if kind == "zeros" else "same row" in warning)
    r = motor("data", "--data", simple_dir)
    assert r.returncode == 0 and "warning: modality 'image'" in r.stdout
    j = json.loads(motor("data", "--data", simple_dir, "--json").stdout)
    assert any("'image'" in w for w in j["warnings"]) and j["split"]["train"] > 0


def test_informative_data_has_no_modality_warning(simple_dir):
    assert uninformative_modalities(load_dataset(DataConfig(data=str(simple_dir)))) == []
    r = motor("data", "--data", simple_dir)
    assert r.returncode == 0 and "no information" not in r.stdout and "split        random" in r.stdout
    assert "fewer than the tokenizer's default k=64" in r.stdout  # 30 items: MOTOR needs a smaller k


def test_a_user_with_every_training_item_is_warned_by_data(mmrec_dir):
    """Such a user leaves the negative sampler nothing to draw: train stopped with an error once it had begun,
    while data called the dataset fine."""
    df = pd.read_csv(mmrec_dir / "tiny.inter", sep="\t")
    trained = sorted(df.loc[df["x_label"] == 0, "itemID"].unique())
    greedy = pd.DataFrame({"userID": 99, "itemID": trained, "rating": 5, "timestamp": 500, "x_label": 0})
    pd.concat([df, greedy]).to_csv(mmrec_dir / "tiny.inter", sep="\t", index=False)
    _, warnings = check_dataset(load_dataset(DataConfig(data=str(mmrec_dir))))
    (warning,) = [w for w in warnings if "negative items" in w]
    assert warning.startswith(f"1 user(s) ('99') have interacted with at least 95% of the {len(trained)} training")
    r = motor("data", "--data", mmrec_dir)
    assert r.returncode == 0 and "warning: 1 user(s) ('99')" in r.stdout, r.stdout
    r = motor("train", "--data", mmrec_dir, "--backbone", "bpr", "--items", "id", "--epochs", "1")
    assert r.returncode == 2 and "user '99' has interacted with (almost) every training item" in r.stderr, r.stderr


def test_ordinary_users_give_no_negative_sampling_warning(simple_dir, mmrec_dir):
    for folder in (simple_dir, mmrec_dir):
        _, warnings = check_dataset(load_dataset(DataConfig(data=str(folder))))
        assert not [w for w in warnings if "negative items" in w]
