import numpy as np

from mmkeras.layers import masked_softmax


def test_matches_softmax_over_kept_entries():
    scores = np.array([[1.0, 2.0, 3.0]])
    mask = np.array([[True, False, True]])
    expected = np.exp([1.0, 3.0]) / np.exp([1.0, 3.0]).sum()
    np.testing.assert_allclose(
        masked_softmax(scores, mask),
        [[expected[0], 0.0, expected[1]]],
        rtol=1e-6,
    )


def test_large_masked_score_does_not_leak_or_overflow():
    scores = np.array([[0.0, 1e30]], "float32")
    out = np.asarray(masked_softmax(scores, np.array([[True, False]])))
    np.testing.assert_array_equal(out, [[1.0, 0.0]])


def test_fully_masked_row_is_zero():
    out = np.asarray(
        masked_softmax(np.zeros((1, 3), "float16"), np.zeros((1, 3), bool))
    )
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.0]])
