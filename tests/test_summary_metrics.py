import math

import numpy as np
import pytest

from mmkeras.metrics import average_ranks
from mmkeras.metrics import kendall_tau
from mmkeras.metrics import spearman_rho
from mmkeras.metrics import summary_f_score
from mmkeras.metrics import summary_f_scores


def test_f_score_of_hand_computed_summaries():
    predicted = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    reference = [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
    # overlap 2: precision 2/4, recall 2/6, F = 2 * 1/2 * 1/3 / (5/6) = 0.4
    assert summary_f_score(predicted, reference) == pytest.approx(0.4)
    assert summary_f_score(reference, reference) == 1.0


def test_a_summary_that_matches_no_frame_scores_zero():
    assert summary_f_score([1, 1, 0, 0], [0, 0, 1, 1]) == 0.0
    assert summary_f_score([0, 0, 0, 0], [0, 0, 1, 1]) == 0.0


def test_mean_and_max_over_annotators():
    predicted = [1, 1, 0, 0]
    references = [[1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 0]]
    mean, best = summary_f_scores(predicted, references)
    assert mean == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert best == 1.0
    with pytest.raises(ValueError, match="cannot be compared"):
        summary_f_score([1, 0], [1, 0, 0])


def test_kendall_tau_and_spearman_rho_by_hand():
    # One swapped pair of 6 pairs: tau = (5 - 1) / 6.
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # d = (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_rank_correlation_with_ties_is_tau_b():
    a = [1, 1, 2, 3]
    b = [1, 2, 2, 3]
    # Pairs: (0,1) tie in a; (0,2) +; (0,3) +; (1,2) tie in b; (1,3) +;
    # (2,3) +. tau-b = 4 / sqrt(5 * 5).
    assert kendall_tau(a, b) == pytest.approx(4 / 5)
    assert average_ranks(a).tolist() == [1.5, 1.5, 3.0, 4.0]
    ranks_b = np.array([1.0, 2.5, 2.5, 4.0])
    expected = np.corrcoef([1.5, 1.5, 3.0, 4.0], ranks_b)[0, 1]
    assert spearman_rho(a, b) == pytest.approx(expected)


def test_a_constant_ranking_has_no_correlation():
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman_rho([1, 2, 3], [5, 5, 5]))
    with pytest.raises(ValueError, match="equally long"):
        kendall_tau([1, 2], [1, 2, 3])
