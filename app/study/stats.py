"""Statistics of a visual Turing test, on plain arrays (no database): what a reviewer expects.

- The share of a method's images called synthetic, with a 95 % interval from a two-way bootstrap:
  readers and cases (anatomies) are resampled independently, each with replacement, and an answer
  weighs (times its reader was drawn) x (times its anatomy was drawn). Answers cluster by reader (a
  strict reader calls everything synthetic) and by case (a hard anatomy fools everyone), so
  resampling answers as if independent gives intervals too narrow.
- An exact binomial test of that share against chance (p = 0.5, scipy.stats.binomtest).
- Per reader: sensitivity (synthetic called synthetic) and specificity (real called real).
- AUC from the confidence ratings (Mann-Whitney), with the same two-way bootstrap interval.
- Cohen's kappa per pair of readers on the cases both read, and Fleiss' kappa.

sklearn and statsmodels are not dependencies of this project (checked in the shared environment,
2026-12-01): the AUC uses scipy's Mann-Whitney U, and both kappas are written out here from their
definitions, tested against the published worked examples (tests/app/test_study_stats.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
from scipy.stats import binomtest, mannwhitneyu

N_BOOTSTRAP = 2000
LEVELS = 10  # suspicion scores 1..10


def suspicion_score(answer: str, confidence: int) -> int:
    """10-level score: 1 = sure real ... 5 = unsure real, 6 = unsure synthetic ... 10 = sure synthetic."""
    return 5 + confidence if answer == "synthetic" else 6 - confidence


def auc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """Area under the ROC curve = P(positive scores higher) + P(tie)/2, via Mann-Whitney U."""
    if len(positive_scores) == 0 or len(negative_scores) == 0:
        return float("nan")
    u = mannwhitneyu(positive_scores, negative_scores, alternative="two-sided").statistic
    return float(u) / (len(positive_scores) * len(negative_scores))


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> float:
    """AUC of integer scores 1..LEVELS with a weight per answer: the Mann-Whitney count over
    weighted pairs (equal to `auc` when every weight is 1). Hand-written because no library
    here weighs pairs; with ten levels it is two histograms."""
    positives = np.bincount(scores[positive], weights[positive], minlength=LEVELS + 1)
    negatives = np.bincount(scores[~positive], weights[~positive], minlength=LEVELS + 1)
    total = positives.sum() * negatives.sum()
    if total == 0:
        return float("nan")
    below = np.concatenate([[0.0], np.cumsum(negatives)[:-1]])
    return float((positives * (below + 0.5 * negatives)).sum() / total)


def weighted_share(values: np.ndarray, weights: np.ndarray) -> float:
    total = weights.sum()
    return float((weights * values).sum() / total) if total > 0 else float("nan")


def two_way_bootstrap(reader_index: np.ndarray, case_index: np.ndarray,
                      statistic: Callable[[np.ndarray], float], n_resamples: int = N_BOOTSTRAP,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of `statistic(weights)` over resamples of readers and cases drawn
    independently with replacement; an answer's weight is its reader's count times its case's
    count in the resample. Resamples where the statistic is undefined (NaN) are left out."""
    reader_index, case_index = np.asarray(reader_index, int), np.asarray(case_index, int)
    if reader_index.size == 0:
        return (float("nan"), float("nan"))
    n_readers, n_cases = reader_index.max() + 1, case_index.max() + 1
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for b in range(n_resamples):
        reader_counts = np.bincount(rng.integers(0, n_readers, n_readers), minlength=n_readers)
        case_counts = np.bincount(rng.integers(0, n_cases, n_cases), minlength=n_cases)
        values[b] = statistic((reader_counts[reader_index] * case_counts[case_index]).astype(float))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))


def binomial_p(successes: int, trials: int, chance: float = 0.5) -> float:
    """Two-sided exact binomial test of successes/trials against `chance`."""
    return float(binomtest(successes, trials, chance).pvalue) if trials else float("nan")


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """Cohen's kappa of two raters' labels on the same items: (p_o - p_e) / (1 - p_e), p_e from
    each rater's own marginal shares (Cohen 1960)."""
    a, b = np.asarray(first), np.asarray(second)
    if a.size == 0 or a.shape != b.shape:
        return float("nan")
    categories = np.union1d(a, b)
    observed = float(np.mean(a == b))
    expected = float(sum(np.mean(a == c) * np.mean(b == c) for c in categories))
    if expected == 1.0:  # both raters used one category only: kappa is undefined
        return float("nan")
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa of a subjects x categories table of rating counts (same number of raters per
    subject, not necessarily the same raters: Fleiss 1971)."""
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.shape[0] == 0:
        return float("nan")
    n_raters = table.sum(axis=1)
    if n_raters[0] < 2 or not np.all(n_raters == n_raters[0]):
        return float("nan")
    n = n_raters[0]
    agreement = ((table ** 2).sum(axis=1) - n) / (n * (n - 1))
    category_share = table.sum(axis=0) / table.sum()
    expected = float((category_share ** 2).sum())
    if expected == 1.0:  # every rating in one category: kappa is undefined
        return float("nan")
    return (float(agreement.mean()) - expected) / (1 - expected)


def pairwise_cohen(labels_by_reader: dict[str, dict[str, str]]) -> dict[str, dict]:
    """Cohen's kappa per pair of readers ("a | b") on the cases both answered, with their number."""
    pairs = {}
    for first, second in combinations(sorted(labels_by_reader), 2):
        shared = sorted(set(labels_by_reader[first]) & set(labels_by_reader[second]))
        kappa = cohen_kappa([labels_by_reader[first][c] for c in shared],
                            [labels_by_reader[second][c] for c in shared])
        pairs[f"{first} | {second}"] = {"kappa": kappa, "shared_cases": len(shared)}
    return pairs


def fleiss_table(labels_by_case: dict[str, list[str]], categories: Sequence[str]) -> tuple[list[list[int]], int]:
    """The Fleiss table of the cases read by the most common number (>= 2) of readers, and that
    number. DECISION: Fleiss' kappa needs as many ratings per case; in a Latin-square design
    readers r and r + M share their cases, so the cases with the modal count are the design's."""
    counts = [len(v) for v in labels_by_case.values() if len(v) >= 2]
    if not counts:
        return [], 0
    raters = max(set(counts), key=lambda n: (counts.count(n), n))
    table = [[labels.count(c) for c in categories] for labels in labels_by_case.values() if len(labels) == raters]
    return table, raters
