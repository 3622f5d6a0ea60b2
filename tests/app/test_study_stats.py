"""Study statistics against hand-computed values and published worked examples."""

import numpy as np
import pytest

from app.study import auc, cohen_kappa, fleiss_kappa, summarize, suspicion_score
from app.study import stats


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


def test_cohen_kappa_matches_the_textbook_example():
    # The worked example of Cohen's kappa on Wikipedia: 50 grant proposals, two readers;
    # yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    assert np.isnan(cohen_kappa(["a", "a"], ["a", "a"]))  # one category only: undefined
    assert np.isnan(cohen_kappa([], []))


def test_pairwise_cohen_uses_only_shared_cases():
    pairs = stats.pairwise_cohen({"ann": {"c1": "real", "c2": "synthetic", "c3": "real"},
                                  "bob": {"c1": "real", "c2": "real", "c9": "real"}})
    # shared c1, c2: ann real/synthetic, bob real/real -> p_o 0.5, p_e 0.5*1 + 0.5*0 = 0.5 -> kappa 0.
    assert pairs == {"ann | bob": {"kappa": pytest.approx(0.0), "shared_cases": 2}}


def test_suspicion_score_orders_ten_levels():
    scores = [suspicion_score("real", c) for c in (5, 4, 3, 2, 1)] + \
             [suspicion_score("synthetic", c) for c in (1, 2, 3, 4, 5)]
    assert scores == list(range(1, 11))


def test_auc_perfect_chance_and_inverted():
    assert auc([8, 9, 10], [1, 2, 3]) == 1.0
    assert auc([1, 2, 3], [8, 9, 10]) == 0.0
    assert auc([5, 5], [5, 5]) == 0.5
    # Hand count: positives [6, 1], negatives [1, 6]: 6v1 win, 6v6 tie, 1v1 tie, 1v6 loss -> (1 + 0.5 + 0.5) / 4.
    assert auc([6, 1], [1, 6]) == 0.5
    assert auc([6, 7], [1, 6]) == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert np.isnan(auc([], [1]))


def test_weighted_auc_is_the_auc_of_the_answers_repeated_by_their_weights():
    scores = np.array([6, 7, 1, 6])
    positive = np.array([True, True, False, False])
    assert stats.weighted_auc(scores, positive, np.ones(4)) == pytest.approx(auc([6, 7], [1, 6]))
    # Weight 2 on the positive 6 = the answers [6, 6, 7] against [1, 6]: (0.5+1)*2 + (1+1) = 5 of 6 pairs.
    assert stats.weighted_auc(scores, positive, np.array([2.0, 1, 1, 1])) == pytest.approx(5 / 6)
    assert np.isnan(stats.weighted_auc(scores, positive, np.array([1.0, 1, 0, 0])))  # no negative left


def test_binomial_test_by_hand():
    assert stats.binomial_p(6, 6) == pytest.approx(2 * 0.5 ** 6)     # two-sided: all or none
    assert stats.binomial_p(3, 6) == pytest.approx(1.0)
    assert stats.binomial_p(0, 4) == pytest.approx(2 * 0.5 ** 4)
    assert np.isnan(stats.binomial_p(0, 0))


def test_two_way_bootstrap_follows_the_readers_not_the_answers():
    # Two readers, 20 anatomies: one calls everything synthetic, the other nothing. Resampling two
    # readers gives both-first (share 1), both-second (0) or one of each (0.5) with probabilities
    # 1/4, 1/4, 1/2, so the 95 % interval is [0, 1]. Answers resampled as if independent would give
    # about 0.5 +- 0.16: the clustering by reader is what the interval must show.
    readers = np.repeat([0, 1], 20)
    cases = np.tile(np.arange(20), 2)
    synthetic = readers == 0
    low, high = stats.two_way_bootstrap(readers, cases, lambda w: stats.weighted_share(synthetic, w), 2000, 1)
    assert (low, high) == (0.0, 1.0)
    naive = np.random.default_rng(1).choice(synthetic, (2000, 40)).mean(axis=1)
    assert high - low > 2 * (np.percentile(naive, 97.5) - np.percentile(naive, 2.5))


def test_two_way_bootstrap_follows_the_cases_too_and_is_seeded():
    # Every reader agrees on each anatomy; half the anatomies fool everyone. With 2 anatomies the
    # resample holds both-easy, both-hard or one of each: interval [0, 1] again.
    readers = np.repeat(np.arange(5), 2)
    cases = np.tile([0, 1], 5)
    synthetic = cases == 0

    def share(weights):
        return stats.weighted_share(synthetic, weights)
    assert stats.two_way_bootstrap(readers, cases, share, 500, 3) == (0.0, 1.0)
    many = np.tile(np.arange(40), 5), np.repeat(np.arange(5), 40)
    first = stats.two_way_bootstrap(many[1], many[0], lambda w: stats.weighted_share(many[0] % 2 == 0, w), 300, 4)
    assert first == stats.two_way_bootstrap(many[1], many[0], lambda w: stats.weighted_share(many[0] % 2 == 0, w),
                                            300, 4)
    assert first[0] < 0.5 < first[1]


def _row(reader, anatomy, method, answer, confidence=3):
    return {"reader": reader, "anatomy": anatomy, "case_key": f"{anatomy}-{method}", "method": method,
            "is_real": method == "real", "is_practice": False, "answer": answer, "confidence": confidence,
            "seconds": 2.0}


def test_summarize_a_hand_made_study():
    # Two readers in rows 0 and 1 of a 2-source square over 4 anatomies.
    rows = [_row("ann", "a1", "real", "real", 5), _row("ann", "a2", "gan", "synthetic", 4),
            _row("ann", "a3", "real", "synthetic", 2), _row("ann", "a4", "gan", "synthetic", 5),
            _row("bob", "a1", "gan", "real", 3), _row("bob", "a2", "real", "real", 4),
            _row("bob", "a3", "gan", "synthetic", 1), _row("bob", "a4", "real", "real", 2)]
    summary = summarize(rows, n_resamples=200)
    gan = summary["methods"]["gan"]
    assert gan["n_answers"] == 4 and gan["called_synthetic"] == 0.75
    assert gan["binomial_p"] == pytest.approx(0.625)  # P(X >= 3) + P(X <= 1), X ~ Bin(4, 0.5): 5/16 * 2
    # gan scores (suspicion 1-10): 9, 10, 3 (real, conf 3), 6 (synthetic, conf 1); real: 1, 7, 2, 4.
    # Wins of gan over real: 9 beats all 4; 10 all 4; 3 beats 1, 2; 6 beats 1, 2, 4 -> 13 of 16.
    assert gan["auc"] == pytest.approx(13 / 16)
    assert summary["specificity"] == 0.75
    assert summary["readers"]["ann"] == {"n_answers": 4, "sensitivity": 1.0, "specificity": 0.5, "accuracy": 0.75}
    assert summary["readers"]["bob"] == {"n_answers": 4, "sensitivity": 0.5, "specificity": 1.0, "accuracy": 0.75}
    assert summary["cohen_kappa"]["ann | bob"]["shared_cases"] == 0
    assert summary["overall_accuracy"] == 0.75 and summary["median_seconds"] == 2.0
    low, high = gan["called_synthetic_ci95"]
    assert 0 <= low <= 0.75 <= high <= 1
