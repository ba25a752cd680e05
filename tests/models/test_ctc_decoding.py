"""Greedy decoding by hand, the builtin-op decoder, beam search + LM."""

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models import ctc_decoding
from mmkeras.models.char_language_model import CharLanguageModel


def _one_hot_logits(paths, classes):
    return np.stack([np.eye(classes, dtype="float32")[p] * 5 for p in paths])


@pytest.mark.parametrize(
    "path, length, expected",
    [
        ([1, 1, 0, 1, 2, 2], 6, [1, 1, 2]),  # a blank splits a repeat
        ([0, 0, 0, 0, 0, 0], 6, []),  # all blank
        ([3, 3, 3, 2, 2, 1], 6, [3, 2, 1]),  # repeats collapse
        ([1, 2, 3, 3, 3, 3], 3, [1, 2, 3]),  # padding is ignored
        ([2, 0, 0, 2, 0, 1], 0, []),  # no real frame
    ],
)
def test_greedy_decode_by_hand(path, length, expected):
    logits = _one_hot_logits([path], 4)
    assert ctc_decoding.greedy_decode(logits, [length]) == [expected]
    decoded = ctc_decoding.greedy_decode_tf(logits, np.array([length]))
    count = int(decoded["token_counts"][0])
    assert decoded["token_ids"][0, :count].numpy().tolist() == expected
    assert (decoded["token_ids"][0, count:].numpy() == 0).all()


def test_tf_decoder_equals_python_decoder_on_random_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 20, 5)).astype("float32")
    lengths = rng.integers(0, 21, 8)
    decoded = ctc_decoding.greedy_decode_tf(logits, lengths)
    expected = ctc_decoding.greedy_decode(logits, lengths)
    for row, ids in enumerate(expected):
        count = int(decoded["token_counts"][row])
        assert decoded["token_ids"][row, :count].numpy().tolist() == ids


def test_alignment_frames_and_word_timestamps_by_hand():
    vocabulary = [" ", "a", "b"]  # classes 1, 2, 3
    # frames: a a _ b ␣ ␣ b b _ (then padding)
    path = [2, 2, 0, 3, 1, 1, 3, 3, 0, 2]
    decoded = ctc_decoding.greedy_decode_tf(
        _one_hot_logits([path], 4), np.array([9])
    )
    count = int(decoded["token_counts"][0])
    assert decoded["token_start_frames"][0, :count].numpy().tolist() == [
        0,
        3,
        4,
        6,
    ]
    assert decoded["token_end_frames"][0, :count].numpy().tolist() == [
        1,
        3,
        5,
        7,
    ]
    words = ctc_decoding.word_timestamps(decoded, vocabulary, 0.04)
    assert words["words"][0].numpy().tolist() == [b"ab", b"b"]
    np.testing.assert_allclose(words["word_start_times"][0], [0.0, 0.24])
    np.testing.assert_allclose(words["word_end_times"][0], [0.16, 0.32])


def test_word_timestamps_pad_rows_with_fewer_words():
    vocabulary = [" ", "a"]
    logits = _one_hot_logits([[2, 1, 2, 0], [0, 0, 0, 0]], 3)
    decoded = ctc_decoding.greedy_decode_tf(logits, np.array([4, 4]))
    words = ctc_decoding.word_timestamps(decoded, vocabulary, 1.0)
    assert words["word_counts"].numpy().tolist() == [2, 0]
    assert words["words"].numpy().tolist() == [[b"a", b"a"], [b"", b""]]
    assert words["word_start_times"][1].numpy().tolist() == [-1.0, -1.0]


def test_beam_search_without_lm_finds_the_greedy_path_when_peaked():
    vocabulary = ["a", "b"]
    logits = _one_hot_logits([[1, 0, 1, 2, 2]], 3)[0]
    best = ctc_decoding.beam_search(
        ctc_decoding.log_softmax(logits), vocabulary
    )
    assert best == "aab"


def test_beam_search_sums_alignments_where_greedy_does_not():
    # Greedy picks blank at every frame; "a" over both frames is likelier.
    probs = np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]])
    vocabulary = ["a", "b"]
    greedy = ctc_decoding.greedy_decode(np.log(probs)[None], [2])
    assert greedy == [[]]
    # p("")=0.16; p("a")=0.3*0.4*2+0.09=0.33; p("b") the same.
    best = ctc_decoding.beam_search(np.log(probs), vocabulary)
    assert best in ("a", "b")


def test_the_lm_changes_the_ranking_as_its_weight_says():
    # Acoustics slightly prefer "b"; an LM that only saw "a" prefers "a".
    probs = np.array([[0.05, 0.45, 0.5]])
    vocabulary = ["a", "b"]
    lm = CharLanguageModel(order=2).fit(["a"] * 20 + ["b"])
    lp = np.log(probs)
    assert (
        ctc_decoding.beam_search(
            lp, vocabulary, lm_weight=0.0, language_model=lm
        )
        == "b"
    )
    assert (
        ctc_decoding.beam_search(
            lp, vocabulary, lm_weight=0.01, language_model=lm
        )
        == "b"
    )
    assert (
        ctc_decoding.beam_search(
            lp, vocabulary, lm_weight=1.0, language_model=lm
        )
        == "a"
    )


def test_char_language_model_is_normalised_and_round_trips():
    lm = CharLanguageModel(order=3).fit(["one two", "two one", "one"])
    alphabet = sorted(lm.alphabet)
    for context in ["", "o", "on", "xyz"]:
        total = sum(np.exp(lm.log_prob(context, c)) for c in alphabet)
        assert total == pytest.approx(1.0)
    again = CharLanguageModel.from_config(lm.to_config())
    assert again.log_prob("tw", "o") == lm.log_prob("tw", "o")
    assert lm.log_prob("tw", "o") > lm.log_prob("tw", "n")


def test_tf_decoder_runs_inside_a_tf_function_with_unknown_shapes():
    fn = tf.function(
        ctc_decoding.greedy_decode_tf,
        input_signature=[
            tf.TensorSpec([None, None, 3]),
            tf.TensorSpec([None], tf.int32),
        ],
    )
    decoded = fn(_one_hot_logits([[1, 2, 2]], 3), tf.constant([3]))
    assert decoded["token_ids"].numpy().tolist() == [[1, 2, 0]]
