"""Is MOTOR minus ID more than the spread between training seeds? Welch's t-test on the seeds' figures.

The benchmarks count "MOTOR beats ID" by the sign of a difference of two means over 3 seeds or so, and many
gaps are a few thousandths while one seed's figure moves by as much. Every run of a cell shares one split (the
split has its own seed), so what varies between seeds is training alone, and the ID and MOTOR runs of one seed
share nothing else: the seeds are independent samples, not pairs. Welch's test (unequal variances) asks whether
the two samples' means differ by more than their spread allows by chance. With 3 seeds a side it has about 2 to 4
degrees of freedom, so only gaps several standard errors wide pass: "not clear" means "more seeds needed", not
"no difference". Computed from means, sample standard deviations and counts, so the CSVs' columns are enough.
"""

from __future__ import annotations

import math

ALPHA = 0.05  # a gap is "clear" when Welch's two-sided p-value is below this
CLEAR_NOTE = (f"'clearly': the gap is more than the spread between training seeds allows by chance (Welch's t-test "
              f"over the seeds, p < {ALPHA:g}); with 3 seeds only wide gaps pass, so the rest are undecided, not ties")


def welch_p(mean_a: float, std_a: float | None, n_a: int, mean_b: float, std_b: float | None, n_b: int) -> float | None:
    """Two-sided p-value of Welch's t-test for mean_a != mean_b from sample stds (n - 1); None when a side has
    fewer than 2 seeds or a figure is missing. Two spreads of exactly 0 give 1 for equal means and 0 otherwise
    (the test's statistic is undefined there, the answer is not)."""
    figures = (mean_a, std_a, mean_b, std_b)
    if n_a < 2 or n_b < 2 or any(v is None or not math.isfinite(float(v)) for v in figures):
        return None
    if std_a == 0 and std_b == 0:
        return 1.0 if mean_a == mean_b else 0.0
    from scipy.stats import ttest_ind_from_stats  # here: the app's first page draws without scipy's import time

    return float(ttest_ind_from_stats(mean_a, std_a, n_a, mean_b, std_b, n_b, equal_var=False).pvalue)


def p_column(mean_a, std_a, n_a, mean_b, std_b, n_b) -> list[float]:
    """``welch_p`` over aligned columns (a table's MOTOR and ID sides), NaN where it has no answer (a missing
    spread is NaN in a table, which ``welch_p`` already treats as missing)."""
    ps = (welch_p(*row[:2], int(row[2]), *row[3:5], int(row[5]))
          for row in zip(mean_a, std_a, n_a, mean_b, std_b, n_b))
    return [math.nan if p is None else p for p in ps]


def spread(values) -> tuple[float | None, float | None, int]:
    """Mean, sample std (n - 1; None from one seed) and count of one side's per-seed figures, for ``welch_p``."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return None, None, 0
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return mean, std, len(v)


def is_clear(p: float | None) -> bool:
    """The gap stands out from the spread between seeds (p < ``ALPHA``); False without a p-value."""
    return p is not None and math.isfinite(p) and p < ALPHA


def clear_counts(gaps_and_ps) -> tuple[int, int]:
    """From ``(gap, p)`` pairs: how many clear wins (gap > 0) and clear losses (gap < 0)."""
    pairs = [(g, p) for g, p in gaps_and_ps if is_clear(p)]
    return sum(g > 0 for g, _ in pairs), sum(g < 0 for g, _ in pairs)


def clear_phrase(wins: int, losses: int) -> str:
    """'1 of them by more than the spread between seeds (Welch's t-test, p < 0.05), while ID is clearly ahead on
    1', to follow a count of wins."""
    return (f"{wins} of them by more than the spread between seeds (Welch's t-test, p < {ALPHA:g}), while ID is "
            f"clearly ahead on {losses}")
