"""`losses.ctc_loss` counts each example's true lengths only."""

import numpy as np
import tensorflow as tf

from mmkeras import losses


def test_ctc_loss_matches_tf_on_true_lengths_with_padding():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 6, 4)).astype("float32")
    labels = np.array([[1, 2, 0], [3, 3, 1]], "int32")  # row 0 padded
    label_lengths = np.array([2, 3], "int32")
    logit_lengths = np.array([4, 6], "int32")  # row 0's last 2 are padding
    # Padded frames hold garbage that must not matter.
    logits[0, 4:] = 50.0
    loss = losses.ctc_loss(labels, logits, label_lengths, logit_lengths)
    # The reference sees each example alone, cut to its own lengths.
    for row in range(2):
        expected = tf.nn.ctc_loss(
            labels=labels[row : row + 1, : label_lengths[row]],
            logits=logits[row : row + 1, : logit_lengths[row]],
            label_length=label_lengths[row : row + 1],
            logit_length=logit_lengths[row : row + 1],
            logits_time_major=False,
            blank_index=0,
        )
        np.testing.assert_allclose(loss[row], expected[0], rtol=1e-5)


def test_ctc_loss_by_hand_one_frame():
    # One frame, label [1]: p = softmax(logits)[1].
    logits = np.log(np.array([[[0.2, 0.7, 0.1]]], "float32"))
    loss = losses.ctc_loss([[1]], logits, [1], [1])
    np.testing.assert_allclose(loss, [-np.log(0.7)], rtol=1e-5)


def test_ctc_loss_is_float32_for_float16_logits():
    logits = tf.zeros((1, 3, 3), tf.float16)
    loss = losses.ctc_loss([[1]], logits, [1], [3])
    assert loss.dtype == tf.float32
    assert np.isfinite(loss.numpy()).all()


def test_padding_changes_keras_full_length_ctc_but_not_ours():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 5, 3)).astype("float32")
    padded = np.concatenate([logits, np.zeros((1, 4, 3), "float32")], 1)
    ours = losses.ctc_loss([[1, 2]], padded, [2], [5])
    np.testing.assert_allclose(
        ours, losses.ctc_loss([[1, 2]], logits, [2], [5]), rtol=1e-5
    )
    full = tf.keras.losses.CTC()(np.array([[1, 2]]), padded)
    assert abs(float(full) - float(ours[0])) > 1e-3


def test_alignable_counts_the_blanks_repeats_need():
    labels = np.array([[1, 1, 2], [1, 2, 3], [2, 2, 0]], "int32")
    alignable = losses.ctc_alignable(labels, [3, 3, 2], [3, 3, 3])
    # [1, 1, 2] needs 4 frames; [1, 2, 3] 3; [2, 2] 3.
    assert alignable.numpy().tolist() == [False, True, True]
    huge = losses.ctc_loss(labels[:1], np.zeros((1, 3, 4), "float32"), [3], [3])
    assert float(huge[0]) > 100
