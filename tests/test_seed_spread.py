"""Welch's t-test over the seeds, as the benchmark tables and the app count "clear" gaps."""

import numpy as np
import pandas as pd
from scipy.stats import ttest_ind

from motor.explore.seed_spread import clear_counts, is_clear, spread, welch_p


def test_welch_p_from_the_seeds_summary_is_the_test_on_the_raw_figures():
    """Mean, sample std (n - 1) and count reproduce scipy's test on the per-seed figures themselves: a std with
    n instead of n - 1, or the counts swapped, would move p."""
    motor, id_ = [0.1324, 0.1369, 0.1251, 0.1402], [0.0963, 0.1010, 0.0912]
    want = ttest_ind(motor, id_, equal_var=False).pvalue
    assert np.isclose(welch_p(*spread(motor), *spread(id_)), want, rtol=1e-9)
    assert welch_p(*spread(motor), *spread(id_)) < 0.05  # 0.035 apart, spreads of 0.005: clear


def test_welch_p_overlapping_seeds_single_seed_and_zero_spreads():
    # the F = 0.1 BPR cell's shape: a gap of 0.002 with spreads of 0.009 a side is nowhere near clear
    assert welch_p(0.0826, 0.0089, 3, 0.0808, 0.0089, 3) > 0.5
    assert welch_p(0.3, 0.01, 1, 0.2, 0.01, 3) is None  # one seed: no spread to test against
    assert welch_p(0.3, None, 3, 0.2, 0.01, 3) is None and welch_p(0.3, 0.01, 3, float("nan"), 0.01, 3) is None
    assert welch_p(0.3, 0.0, 3, 0.3, 0.0, 3) == 1.0 and welch_p(0.3, 0.0, 3, 0.2, 0.0, 3) == 0.0
    assert spread([0.2]) == (0.2, None, 1) and spread([None, float("nan")]) == (None, None, 0)


def test_clear_counts_only_gaps_with_small_p_each_way():
    pairs = [(0.03, 0.001), (0.002, 0.8), (-0.01, 0.04), (-0.02, None), (0.01, float("nan")), (0.0, 0.01)]
    assert clear_counts(pairs) == (1, 1)  # a gap of exactly 0 is neither way
    assert not is_clear(0.05) and is_clear(0.049)


def test_regimes_gaps_and_summary_say_which_gaps_are_clear(tmp_path):
    from motor.explore.regimes import gaps, load_regimes, win_summary

    rows = []
    for b, (i, m) in {"clear": ((0.10, 0.002), (0.14, 0.002)), "noise": ((0.10, 0.02), (0.11, 0.02)),
                      "worse": ((0.20, 0.002), (0.15, 0.003))}.items():
        for items, (mean, std) in (("id", i), ("motor", m)):
            rows.append({"dataset": "d", "train_fraction": 0.1, "backbone": b, "items": items, "seeds": 3,
                         "test_recall@20_mean": mean, "test_recall@20_std": std})
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    g = gaps(load_regimes(tmp_path / "r.csv")).set_index("backbone")
    assert g.loc["clear", "p"] < 0.01 and g.loc["noise", "p"] > 0.5 and g.loc["worse", "p"] < 0.01
    assert win_summary(g.reset_index(), "d") == "MOTOR ahead of ID on 2 of 3 at F = 0.1 (clearly on 1, ID clearly ahead on 1)"
    one = pd.DataFrame(rows).assign(seeds=1, **{"test_recall@20_std": np.nan})
    one.to_csv(tmp_path / "one.csv", index=False)  # one seed: no p, and no claim of clear gaps
    assert win_summary(gaps(load_regimes(tmp_path / "one.csv")), "d") == "MOTOR ahead of ID on 2 of 3 at F = 0.1"
