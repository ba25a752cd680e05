"""CER and WER over a whole set, against a plain edit-distance reference."""

import functools

import numpy as np
import pytest

from mmkeras import metrics


def _reference_distance(a, b):
    # Recursive textbook definition, memoised.

    @functools.cache
    def d(i, j):
        if i == 0:
            return j
        if j == 0:
            return i
        return min(
            d(i - 1, j) + 1,
            d(i, j - 1) + 1,
            d(i - 1, j - 1) + (a[i - 1] != b[j - 1]),
        )

    return d(len(a), len(b))


def test_edit_distance_matches_the_reference_on_random_strings():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = "".join(rng.choice(list("ab c"), rng.integers(0, 8)))
        b = "".join(rng.choice(list("ab c"), rng.integers(0, 8)))
        assert metrics.edit_distance(a, b) == _reference_distance(a, b)


def test_rates_are_totals_over_the_set_not_means_of_ratios():
    references = ["one two three four", "go"]
    hypotheses = ["one two three four", "no"]
    rates = metrics.error_rates(references, hypotheses)
    assert rates["chars"] == 18 + 2
    assert rates["char_errors"] == 1
    assert rates["cer"] == pytest.approx(1 / 20)
    assert rates["wer"] == pytest.approx(1 / 5)
    # A mean of per-utterance ratios would say 0.25 and 0.5.
    assert rates["cer"] != pytest.approx(0.25)


def test_rates_normalise_case_and_spaces_and_count_empty_output():
    rates = metrics.error_rates(["Two  Five"], [""])
    assert rates["cer"] == 1.0 and rates["wer"] == 1.0
    assert metrics.error_rates(["Two  Five "], ["two five"])["cer"] == 0.0


def test_rates_need_one_hypothesis_per_reference():
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        metrics.error_rates(["a", "b"], ["a"])
