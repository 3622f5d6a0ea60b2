"""Study statistics against hand-computed values."""

import numpy as np
import pytest

from app.study import auc, bootstrap_ci, fleiss_kappa, suspicion_score


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories;
    # P-bar = 0.378, P_e = 0.213, kappa = 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)


def test_fleiss_kappa_perfect_agreement_and_two_raters_by_hand():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    # Two raters, 4 cases: agree, agree, disagree, disagree -> P-bar = 0.5; shares 0.5/0.5 -> P_e = 0.5.
    assert fleiss_kappa([[2, 0], [0, 2], [1, 1], [1, 1]]) == pytest.approx(0.0)


def test_suspicion_score_orders_ten_levels():
    scores = [suspicion_score("real", c) for c in (5, 4, 3, 2, 1)] + \
             [suspicion_score("synthetic", c) for c in (1, 2, 3, 4, 5)]
    assert scores == list(range(1, 11))


def test_auc_perfect_chance_and_inverted():
    assert auc([8, 9, 10], [1, 2, 3]) == 1.0
    assert auc([1, 2, 3], [8, 9, 10]) == 0.0
    assert auc([5, 5], [5, 5]) == 0.5
    # Hand count: pairs (6>1, 6>6 tie, 1<... ) positives [6, 1], negatives [1, 6]:
    # 6v1 win, 6v6 tie, 1v1 tie, 1v6 loss -> (1 + 0.5 + 0.5) / 4.
    assert auc([6, 1], [1, 6]) == 0.5
    assert auc([6, 7], [1, 6]) == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert np.isnan(auc([], [1]))


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    correct = [True] * 7 + [False] * 3
    low, high = bootstrap_ci(correct, seed=3)
    assert (low, high) == bootstrap_ci(correct, seed=3)
    assert low < 0.7 < high and 0 <= low and high <= 1
    assert bootstrap_ci([True] * 5) == (1.0, 1.0)
