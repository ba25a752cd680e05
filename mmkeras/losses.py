"""Contrastive losses for image-text retrieval (CLIP's and SigLIP's).

Both take L2-normalised embeddings `(batch, dim)` of matching images and
texts (row i of one goes with row i of the other) and a logit scale the
caller has already exponentiated and clamped. They are TF ops, so they
run inside a Keras train step in graph mode, and all their math is in
float32 whatever the inputs' dtype: under `mixed_float16` a logit scale of
100 times a similarity of 1 is already near float16's exp() overflow.

A batch can hold the same image twice (two of its captions) or the same
caption twice. Such pairs are not negatives: `positive_pairs` marks them
from each row's keys, and both losses take the mark as `positives`.
"""

import keras
import tensorflow as tf


def positive_pairs(image_keys, text_keys):
    """Which image-text pairs of a batch match: the same image or text.

    Args:
        image_keys: int tensor `(batch,)`. An id per row's image; equal ids
            mean the same image.
        text_keys: int tensor `(batch,)`. An id per row's caption.

    Returns:
        bool tensor `(batch, batch)`, True at `[i, j]` when row i and row j
        share an image key or a text key (so always on the diagonal).

    Example:
    >>> from mmkeras.losses import positive_pairs
    >>> positive_pairs([7, 7, 8], [1, 2, 3]).numpy()
    array([[ True,  True, False],
           [ True,  True, False],
           [False, False,  True]])
    """
    image_keys = tf.cast(image_keys, tf.int64)
    text_keys = tf.cast(text_keys, tf.int64)
    same_image = tf.equal(image_keys[:, None], image_keys[None, :])
    same_text = tf.equal(text_keys[:, None], text_keys[None, :])
    return tf.logical_or(same_image, same_text)


def contrastive_loss(
    image_embeddings, text_embeddings, logit_scale, positives=None
):
    """Symmetric InfoNCE (CLIP): each image picks its text, and back.

    `logits = logit_scale * image_embeddings @ text_embeddings^T`. Row i's
    target is column i (image to text) and column i's target is row i
    (text to image). Other positives (`positives[i, j]`, `j != i`) are
    left out of both softmax denominators: a second caption of the same
    image is not a wrong answer, and counting it as one would push apart
    embeddings that should agree.

    Args:
        image_embeddings: float tensor `(batch, dim)`, L2-normalised.
        text_embeddings: float tensor `(batch, dim)`, L2-normalised.
        logit_scale: float scalar, already exponentiated and clamped.
        positives: optional bool tensor `(batch, batch)`, e.g. from
            `positive_pairs`; None means only the diagonal. The diagonal
            counts as positive whatever it holds.

    Returns:
        float32 scalar: the mean of the two directions' mean
        cross-entropies.

    Example:
    >>> from mmkeras.losses import contrastive_loss
    >>> embeddings = np.eye(2, dtype="float32")
    >>> # Each row: -log(e^2 / (e^2 + e^0)) = log(1 + e^-2).
    >>> round(float(contrastive_loss(embeddings, embeddings, 2.0)), 4)
    0.1269
    """
    image, text = _embedding_pair(image_embeddings, text_embeddings)
    logits = tf.cast(logit_scale, tf.float32) * tf.matmul(
        image, text, transpose_b=True
    )
    positives = _positives(positives, logits)
    # The target itself stays in its denominator; other positives leave.
    in_softmax = tf.logical_or(
        tf.logical_not(positives), _diagonal(logits, tf.bool)
    )
    image_to_text = _target_cross_entropy(logits, in_softmax)
    text_to_image = _target_cross_entropy(
        tf.transpose(logits), tf.transpose(in_softmax)
    )
    return (image_to_text + text_to_image) / 2.0


def sigmoid_loss(
    image_embeddings,
    text_embeddings,
    logit_scale,
    logit_bias,
    positives=None,
):
    """SigLIP's pairwise sigmoid loss.

    `logits = logit_scale * image_embeddings @ text_embeddings^T +
    logit_bias`; each pair is its own binary problem with label +1 when
    it is positive and -1 otherwise, and the loss is
    `-sum_ij log_sigmoid(label_ij * logit_ij) / batch` (the paper's
    normalisation by batch size, not by the number of pairs).

    Args:
        image_embeddings: float tensor `(batch, dim)`, L2-normalised.
        text_embeddings: float tensor `(batch, dim)`, L2-normalised.
        logit_scale: float scalar, already exponentiated and clamped.
        logit_bias: float scalar.
        positives: optional bool tensor `(batch, batch)`, e.g. from
            `positive_pairs`; None means only the diagonal. The diagonal
            counts as positive whatever it holds.

    Returns:
        float32 scalar.

    Example:
    >>> from mmkeras.losses import sigmoid_loss
    >>> embeddings = np.eye(2, dtype="float32")
    >>> # All four pairs are right with margin 5: 4 log(1 + e^-5) / 2.
    >>> round(float(sigmoid_loss(embeddings, embeddings, 10.0, -5.0)), 4)
    0.0134
    """
    image, text = _embedding_pair(image_embeddings, text_embeddings)
    logits = tf.cast(logit_scale, tf.float32) * tf.matmul(
        image, text, transpose_b=True
    ) + tf.cast(logit_bias, tf.float32)
    labels = tf.where(_positives(positives, logits), 1.0, -1.0)
    batch = tf.cast(tf.shape(logits)[0], tf.float32)
    return -tf.reduce_sum(tf.math.log_sigmoid(labels * logits)) / batch


def _embedding_pair(image_embeddings, text_embeddings):
    """Both embeddings in float32, once their static shapes agree."""
    image = tf.cast(image_embeddings, tf.float32)
    text = tf.cast(text_embeddings, tf.float32)
    for name, tensor in (("image", image), ("text", text)):
        if tensor.shape.rank is not None and tensor.shape.rank != 2:
            raise ValueError(
                f"{name}_embeddings must be (batch, dim), received shape "
                f"{tensor.shape}."
            )
    _require_equal(image.shape[-1], text.shape[-1], "widths", image, text)
    _require_equal(image.shape[0], text.shape[0], "batch sizes", image, text)
    return image, text


def _require_equal(image_size, text_size, what, image, text):
    # None (unknown until run time) matches anything.
    if None not in (image_size, text_size) and image_size != text_size:
        raise ValueError(
            f"image and text embeddings must have equal {what}; received "
            f"image_embeddings {image.shape} and text_embeddings "
            f"{text.shape}. Project both to one dim, and give the row i of "
            "each for the same pair."
        )


def _diagonal(logits, dtype):
    return tf.eye(tf.shape(logits)[0], dtype=dtype)


def _positives(positives, logits):
    """bool `(batch, batch)` positives, always True on the diagonal."""
    diagonal = _diagonal(logits, tf.bool)
    if positives is None:
        return diagonal
    positives = tf.cast(positives, tf.bool)
    if not positives.shape.is_compatible_with(logits.shape):
        raise ValueError(
            f"positives must be (batch, batch) = {logits.shape}, received "
            f"shape {positives.shape}."
        )
    return tf.logical_or(positives, diagonal)


def _target_cross_entropy(logits, in_softmax):
    """Mean over rows of -log softmax(row)[i], the softmax over `in_softmax`.

    The diagonal is always in the softmax, so each row's log-sum-exp has a
    finite maximum and the -inf of left-out entries only adds exp(-inf)=0.
    """
    masked = tf.where(in_softmax, logits, float("-inf"))
    log_normaliser = tf.reduce_logsumexp(masked, axis=1)
    return tf.reduce_mean(log_normaliser - tf.linalg.diag_part(logits))


def ctc_loss(labels, logits, label_lengths, logit_lengths, blank_index=0):
    """Per-example CTC loss over each example's TRUE lengths, in float32.

    `keras.losses.CTC` counts every padded frame and label as real; with
    padded audio that trains the model to emit blanks over silence that is
    not there, and with padded labels it asks for labels that are not
    there. Here each example counts only its own `logit_lengths` frames
    and `label_lengths` labels (`keras.ops.ctc_loss`, i.e.
    `tf.nn.ctc_loss` with dense labels).

    Args:
        labels: int `(batch, max_labels)`; entries past an example's
            length are ignored.
        logits: float `(batch, frames, classes)` unnormalised scores; any
            float dtype (computed in float32).
        label_lengths: int `(batch,)`.
        logit_lengths: int `(batch,)`, each at most `frames`.
        blank_index: int. The CTC blank class.

    Returns:
        float32 `(batch,)`: `-log p(labels | logits)` per example.
    """
    return keras.ops.ctc_loss(
        tf.cast(labels, tf.int32),
        tf.cast(logits, tf.float32),
        tf.cast(label_lengths, tf.int32),
        tf.cast(logit_lengths, tf.int32),
        mask_index=blank_index,
    )


def ctc_alignable(labels, label_lengths, logit_lengths):
    """bool `(batch,)`: whether CTC can align each label to its frames.

    A label of `n` classes with `r` adjacent repeats needs `n + r` frames
    (a blank must separate each repeat). `tf.nn.ctc_loss` gives an
    unalignable example a huge finite loss (about 700), not infinity.
    """
    labels = tf.cast(labels, tf.int32)
    label_lengths = tf.cast(label_lengths, tf.int32)
    within = (
        tf.range(1, tf.shape(labels)[1])[tf.newaxis, :]
        < (label_lengths[:, tf.newaxis])
    )
    repeats = tf.reduce_sum(
        tf.cast(
            tf.logical_and(tf.equal(labels[:, 1:], labels[:, :-1]), within),
            tf.int32,
        ),
        axis=1,
    )
    return tf.cast(logit_lengths, tf.int32) >= label_lengths + repeats


def frame_rank_loss(scores, targets, mask, min_gap=0.1):
    """A pairwise ranking loss over each clip's frames.

    For every pair of real frames of one clip whose targets differ by at
    least `min_gap`, the predicted gap is asked to be at least the
    target gap: the loss is `max(0, target gap - predicted gap)`,
    averaged over those pairs. A summary keeps a clip's highest-scoring
    shots, so the order within a clip is what counts; a squared error
    spends as much on each frame's absolute level. Perfect scores cost
    0, so it agrees with a squared error's optimum. Pairs closer than
    `min_gap` are annotators' noise (frames of one shot), not an order.

    Args:
        scores: float `(batch, frames)`, the predicted importance.
        targets: float `(batch, frames)`.
        mask: bool `(batch, frames)`, True on real frames.
        min_gap: float. The smallest target gap that is an order.

    Returns:
        float32 scalar (0 without any ordered pair).

    Example:
    >>> targets = tf.constant([[0.9, 0.1, 0.5]])
    >>> mask = tf.constant([[True, True, False]])
    >>> loss = frame_rank_loss(tf.constant([[0.4, 0.2, 0.0]]), targets, mask)
    >>> round(float(loss), 4)  # target gap 0.8, predicted 0.2
    0.6
    """
    scores = tf.cast(scores, tf.float32)
    targets = tf.cast(targets, tf.float32)
    target_gap = targets[:, :, None] - targets[:, None, :]
    score_gap = scores[:, :, None] - scores[:, None, :]
    real = tf.logical_and(mask[:, :, None], mask[:, None, :])
    ordered = tf.cast(tf.logical_and(real, target_gap >= min_gap), tf.float32)
    shortfall = tf.nn.relu(target_gap - score_gap) * ordered
    return tf.reduce_sum(shortfall) / tf.maximum(tf.reduce_sum(ordered), 1.0)
