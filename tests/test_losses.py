import re

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.losses import contrastive_loss
from mmkeras.losses import positive_pairs
from mmkeras.losses import sigmoid_loss

# Unit vectors chosen so every similarity is a short decimal:
# images [1, 0], [0, 1], [.6, .8]; texts [1, 0], [0, 1], [.8, .6].
IMAGES = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], "float32")
TEXTS = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], "float32")
SCALE = 2.0
# SCALE * IMAGES @ TEXTS.T, by hand:
# [[2 * 1, 2 * 0, 2 * .8], [2 * 0, 2 * 1, 2 * .6], [2 * .6, 2 * .8,
# 2 * (.48 + .48)]].
LOGITS = np.array([[2.0, 0.0, 1.6], [0.0, 2.0, 1.2], [1.2, 1.6, 1.92]])

# A batch whose last two rows have the same caption (text [0, 1]).
DUPLICATE_TEXTS = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], "float32")
# SCALE * IMAGES @ DUPLICATE_TEXTS.T: columns 1 and 2 are equal.
DUPLICATE_LOGITS = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 2.0], [1.2, 1.6, 1.6]])
DUPLICATE_POSITIVES = positive_pairs([0, 1, 2], [10, 11, 11])


def _cross_entropy(target, others):
    """-log(e^target / sum(e^entries)) over the listed entries."""
    entries = np.array([target, *others])
    return np.log(np.sum(np.exp(entries))) - target


def _log_sigmoid_loss(signed_logits):
    """-sum log(1 / (1 + e^-z)) / batch over a (batch, batch) array."""
    signed_logits = np.asarray(signed_logits)
    total = -np.sum(np.log(1.0 / (1.0 + np.exp(-signed_logits))))
    return total / signed_logits.shape[0]


def test_positive_pairs_share_an_image_or_a_text():
    positives = positive_pairs(
        np.array([5, 5, 6, 7], "int64"), np.array([1, 2, 3, 3], "int64")
    )
    np.testing.assert_array_equal(
        positives,
        [
            [True, True, False, False],
            [True, True, False, False],
            [False, False, True, True],
            [False, False, True, True],
        ],
    )


def test_contrastive_loss_by_hand():
    z = LOGITS
    image_to_text = [
        _cross_entropy(z[0, 0], [z[0, 1], z[0, 2]]),
        _cross_entropy(z[1, 1], [z[1, 0], z[1, 2]]),
        _cross_entropy(z[2, 2], [z[2, 0], z[2, 1]]),
    ]
    text_to_image = [
        _cross_entropy(z[0, 0], [z[1, 0], z[2, 0]]),
        _cross_entropy(z[1, 1], [z[0, 1], z[2, 1]]),
        _cross_entropy(z[2, 2], [z[0, 2], z[1, 2]]),
    ]
    expected = (np.mean(image_to_text) + np.mean(text_to_image)) / 2
    loss = contrastive_loss(IMAGES, TEXTS, SCALE)
    assert loss.dtype == tf.float32 and loss.shape == ()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)


def test_sigmoid_loss_by_hand():
    bias = -1.0
    z = LOGITS + bias
    # label * logit: +z on the diagonal, -z elsewhere.
    signed = [
        [z[0, 0], -z[0, 1], -z[0, 2]],
        [-z[1, 0], z[1, 1], -z[1, 2]],
        [-z[2, 0], -z[2, 1], z[2, 2]],
    ]
    loss = sigmoid_loss(IMAGES, TEXTS, SCALE, bias)
    assert loss.dtype == tf.float32 and loss.shape == ()
    np.testing.assert_allclose(
        float(loss), _log_sigmoid_loss(signed), rtol=1e-6
    )


def test_duplicate_captions_are_not_negatives_in_contrastive_loss():
    z = DUPLICATE_LOGITS
    # Rows and columns 1 and 2 leave each other out of their softmax.
    image_to_text = [
        _cross_entropy(z[0, 0], [z[0, 1], z[0, 2]]),
        _cross_entropy(z[1, 1], [z[1, 0]]),
        _cross_entropy(z[2, 2], [z[2, 0]]),
    ]
    text_to_image = [
        _cross_entropy(z[0, 0], [z[1, 0], z[2, 0]]),
        _cross_entropy(z[1, 1], [z[0, 1]]),
        _cross_entropy(z[2, 2], [z[0, 2]]),
    ]
    expected = (np.mean(image_to_text) + np.mean(text_to_image)) / 2
    masked = contrastive_loss(
        IMAGES, DUPLICATE_TEXTS, SCALE, DUPLICATE_POSITIVES
    )
    unmasked = contrastive_loss(IMAGES, DUPLICATE_TEXTS, SCALE)
    np.testing.assert_allclose(float(masked), expected, rtol=1e-6)
    assert float(unmasked) > float(masked) + 0.1


def test_duplicate_captions_are_positives_in_sigmoid_loss():
    z = DUPLICATE_LOGITS
    # Label +1 on the diagonal and at [1, 2] and [2, 1].
    signed = [
        [z[0, 0], -z[0, 1], -z[0, 2]],
        [-z[1, 0], z[1, 1], z[1, 2]],
        [-z[2, 0], z[2, 1], z[2, 2]],
    ]
    masked = sigmoid_loss(
        IMAGES, DUPLICATE_TEXTS, SCALE, 0.0, DUPLICATE_POSITIVES
    )
    unmasked = sigmoid_loss(IMAGES, DUPLICATE_TEXTS, SCALE, 0.0)
    np.testing.assert_allclose(
        float(masked), _log_sigmoid_loss(signed), rtol=1e-6
    )
    assert float(unmasked) > float(masked) + 0.1


def test_gradients_are_finite_with_left_out_pairs():
    images = tf.Variable(IMAGES)
    with tf.GradientTape() as tape:
        loss = contrastive_loss(
            images, DUPLICATE_TEXTS, SCALE, DUPLICATE_POSITIVES
        )
    assert np.all(np.isfinite(tape.gradient(loss, images)))


def _random_unit_rows(seed, shape=(4, 8)):
    rows = np.random.default_rng(seed).normal(size=shape)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("loss_fn", ["contrastive", "sigmoid"])
def test_float16_inputs_give_a_finite_float32_loss(loss_fn):
    images, texts = _random_unit_rows(0), _random_unit_rows(1)
    # exp(100 * 1) overflows float16 (and float32): log-sum-exp must not.
    scale = tf.constant(100.0, "float16")

    def loss(dtype):
        args = (images.astype(dtype), texts.astype(dtype), scale)
        if loss_fn == "contrastive":
            return contrastive_loss(*args)
        return sigmoid_loss(*args, tf.constant(-10.0, "float16"))

    half = loss("float16")
    assert half.dtype == tf.float32 and np.isfinite(float(half))
    np.testing.assert_allclose(float(half), float(loss("float32")), rtol=2e-2)


def test_losses_inside_tf_function_match_eager():
    images, texts = _random_unit_rows(2), _random_unit_rows(3)
    positives = positive_pairs([0, 0, 1, 2], [0, 1, 2, 3])
    spec = tf.TensorSpec((None, 8), tf.float32)

    @tf.function(input_signature=[spec, spec])
    def both(images, texts):
        keys = tf.range(tf.shape(images)[0])
        # Rows 0 and 1 share an image, as in `positives`.
        image_keys = tf.maximum(keys - 1, 0)
        pairs = positive_pairs(image_keys, keys)
        return (
            contrastive_loss(images, texts, 5.0, pairs),
            sigmoid_loss(images, texts, 5.0, -2.0, pairs),
        )

    graph = both(images.astype("float32"), texts.astype("float32"))
    eager = (
        contrastive_loss(images, texts, 5.0, positives),
        sigmoid_loss(images, texts, 5.0, -2.0, positives),
    )
    np.testing.assert_allclose(graph, eager, rtol=1e-6)


@pytest.mark.parametrize(
    "images, texts, message",
    [
        (np.ones((3, 4)), np.ones((3, 5)), "equal widths"),
        (np.ones((3, 4)), np.ones((2, 4)), "equal batch sizes"),
        (np.ones((3,)), np.ones((3,)), "must be (batch, dim)"),
    ],
)
def test_mismatched_embeddings_are_refused(images, texts, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        contrastive_loss(images, texts, 1.0)
    with pytest.raises(ValueError, match=re.escape(message)):
        sigmoid_loss(images, texts, 1.0, 0.0)


def test_positives_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="positives must be"):
        contrastive_loss(IMAGES, TEXTS, 1.0, np.eye(2, dtype=bool))
