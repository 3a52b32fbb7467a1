"""motor.run_notes: how a run ended and why MOTOR can be larger than ID on a small catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from motor.run_notes import item_side_breakeven, size_note, stop_note, training_end


def test_training_end_tells_the_epoch_cap_from_early_stopping():
    assert training_end({"best_epoch": 5, "epochs_run": 5, "stopped": "max_epochs"}).startswith(
        "still improving at the epoch cap (5 epochs)")
    assert training_end({"best_epoch": 3, "epochs_run": 8, "stopped": "early_stop"}) == \
        "stopped early after epoch 8 (best epoch 3)"
    assert training_end({"best_epoch": 3, "epochs_run": 5, "stopped": "max_epochs"}) == \
        "ran all 5 epochs (best epoch 3)"
    assert training_end({}) == "unknown"


def test_stop_note_names_the_model_of_each_clause_or_says_both():
    early = "no improvement of valid recall@20 for 8 epochs"
    assert stop_note({"ID": early, "MOTOR": early}) == f"both: {early}"
    assert stop_note({"ID": early, "MOTOR": "cancelled after epoch 3"}) == \
        f"ID: {early}; MOTOR: cancelled after epoch 3"
    assert stop_note({"ID": "", "MOTOR": early}) == f"MOTOR: {early}"  # ID ran all its epochs: nothing to say
    assert stop_note({"MOTOR": early}) == f"MOTOR: {early}"  # a one-model run still names its model
    assert stop_note({"ID": "", "MOTOR": None}) == "" and stop_note({}) == ""


def test_size_note_only_when_motor_is_larger_and_names_the_breakeven():
    # 30 items x 64-d ID table = 1,920; MOTOR 10,000 fixed: smaller from 157 items on (10,000 / 64 = 156.25)
    assert item_side_breakeven(1920, 10_000, 30) == 157
    note = size_note(1920, 10_000, 30)
    assert "30 items" in note and "157 items" in note and "64 parameters with every item" in note
    assert size_note(1_849 * 64, 20_000, 1_849) is None and item_side_breakeven(100, 100, 0) is None


def test_item_side_growth_keeps_motor_flat_and_id_linear():
    from motor.item_story import item_side_growth

    g = item_side_growth(64 * 100, 20_000, 100, factors=(1, 10))
    assert g["items"].tolist() == [100, 1000] and g["ID"].tolist() == [6400, 64_000]
    assert g["MOTOR"].tolist() == [20_000, 20_000]


def test_runs_that_differ_only_by_seed_are_summarised_with_their_spread():
    from motor.run_compare import run_rows, setting_label, with_spread

    def entry(run, variant, seed, r20, cold=0.0):
        return {"run": run, "backbone": "lightgcn", "variant": variant, "dataset": "demo",
                "settings": {"train.seed": seed, "split.cold_items": cold},
                "metrics": {"test": {"recall@20": r20, "ndcg@20": r20 / 2}, "params": {"item_side": 100},
                            "best_epoch": 2, "epochs_run": 2}}

    rows = run_rows([entry("a", "motor", 0, 0.10), entry("b", "motor", 1, 0.14), entry("a", "id", 0, 0.2),
                     entry("c", "motor", 0, 0.3, cold=0.2)])
    assert len(rows) == 4 and rows["seed"].tolist() == [0, 1, 0, 0]
    assert rows["cold recall@20"].dtype == float and rows["cold recall@20"].isna().all()  # blank, not "None"
    s = with_spread(rows)
    assert len(s) == 3  # MOTOR x2 seeds, ID, MOTOR with cold items
    motor = s[(s["model"] == "motor") & (s["cold items"] == 0)].iloc[0]
    assert motor["runs"] == 2 and motor["seeds"] == "0, 1"
    assert abs(motor["recall@20 mean"] - 0.12) < 1e-9 and abs(motor["recall@20 std"] - 0.0282843) < 1e-6
    assert (motor["recall@20 min"], motor["recall@20 max"]) == (0.10, 0.14)
    single = s[s["model"] == "id"].iloc[0]
    assert single["runs"] == 1 and single["recall@20 std"] != single["recall@20 std"]  # NaN: no spread from one run
    assert setting_label(s.iloc[2]) == "lightgcn · MOTOR · demo · cold 20%"
    # other settings are another setting, even on the same seed, and the label says what differs; an ID model
    # does not read MOTOR's settings, so they do not split its runs
    other = entry("d", "motor", 0, 0.5)
    other["settings"] = {**other["settings"], "train.epochs": 4, "motor.tcn": "mean", "train.threads": 2}
    id_other = {**entry("d", "id", 1, 0.3), "settings": {"train.seed": 1, "split.cold_items": 0.0, "motor.tcn": "mean"}}
    s = with_spread(run_rows([entry("a", "motor", 0, 0.10), entry("b", "motor", 1, 0.14), other,
                              entry("a", "id", 0, 0.2), id_other]))
    assert sorted(s["runs"]) == [1, 2, 2]
    motor_rows = s[s["model"] == "motor"].set_index("runs")
    assert motor_rows.loc[2, "differs"] == "motor.tcn -, train.epochs -"
    assert setting_label(motor_rows.loc[1]) == "lightgcn · MOTOR · demo · motor.tcn mean, train.epochs 4"
    assert motor_rows.loc[1, "recall@20 mean"] == 0.5  # not averaged with the other setting's runs
    ids = s[s["model"] == "id"].iloc[0]
    assert ids["runs"] == 2 and ids["differs"] == "" and ids["seeds"] == "0, 1"


def test_regimes_offered_only_when_the_form_has_their_settings():
    from app.regimes import available, matching

    without = available(("split.cold_items",))
    assert set(without) == {"full", "cold"}  # no training fraction on the form: no 'sparse'
    assert without["full"].values == {"split.cold_items": 0.0}  # the neutral fraction is dropped, not required
    both = available(("split.cold_items", "split.train_fraction"))
    assert set(both) == {"full", "sparse", "cold"}
    assert matching({"split.cold_items": 0.2, "split.train_fraction": 1.0}, both) == "cold"
    assert matching({"split.cold_items": 0.0, "split.train_fraction": 0.1}, both) == "sparse"
    assert matching({"split.cold_items": 0.35}, both) is None


def test_motor_minus_id_pairs_each_motor_setting_with_its_id_baseline_and_says_whether_seeds_tell():
    from scipy.stats import ttest_ind

    from motor.run_compare import gap_sentence, motor_minus_id, run_rows, with_spread

    def entry(run, variant, seed, r20, **settings):
        return {"run": run, "backbone": "lightgcn", "variant": variant, "dataset": "demo",
                "settings": {"train.seed": seed, "split.cold_items": 0.0, **settings},
                "metrics": {"test": {"recall@20": r20}, "params": {"item_side": 100}, "best_epoch": 2,
                            "epochs_run": 2}}

    close = [entry("a", "motor", 0, 0.30), entry("b", "motor", 1, 0.34), entry("c", "motor", 2, 0.31),
             entry("a", "id", 0, 0.31), entry("b", "id", 1, 0.29), entry("c", "id", 2, 0.32)]
    far = [entry(r, "motor", s, 0.40 + s / 1000, **{"motor.tcn": "mean"}) for r, s in (("d", 0), ("e", 1), ("f", 2))]
    pairs = motor_minus_id(with_spread(run_rows(close + far))).set_index("motor", drop=False)
    assert len(pairs) == 2 and (pairs["id runs"] == 3).all()  # both MOTOR variants against the one ID setting
    near = pairs.loc[[m for m in pairs.index if "mean" not in m][0]]
    assert near["gap"] == pytest.approx(np.mean([0.30, 0.34, 0.31]) - np.mean([0.31, 0.29, 0.32]))
    assert near["p"] == pytest.approx(ttest_ind([0.30, 0.34, 0.31], [0.31, 0.29, 0.32], equal_var=False).pvalue)
    assert "within the spread between seeds" in gap_sentence(near)
    clear = pairs.loc[[m for m in pairs.index if "mean" in m][0]]
    assert clear["p"] < 0.05 and "more than the spread between seeds" in gap_sentence(clear)
    one = motor_minus_id(with_spread(run_rows([entry("a", "motor", 0, 0.3), entry("a", "id", 0, 0.2)]))).iloc[0]
    assert np.isnan(one["p"]) and "train at least two seeds" in gap_sentence(one)
    # two ID settings for one backbone: no single baseline, so no pair is claimed
    two_ids = close + [entry("g", "id", 0, 0.1, **{"train.epochs": 4})]
    assert motor_minus_id(with_spread(run_rows(two_ids))).empty
    assert motor_minus_id(with_spread(run_rows([]))).empty
