"""A softmax over a masked axis that is exact, float16-safe and NaN-free."""

from keras import ops


def masked_softmax(scores, mask):
    """Softmax of `scores` over the last axis, restricted to `mask`.

    Computed in float32 whatever the input dtype: a float16 exponent
    overflows at 11.1, and large negative fill values (the usual -1e9 trick)
    do not exist in float16. Masked entries get exactly zero; a row with no
    unmasked entry gets all zeros instead of the 0/0 = NaN of a plain
    softmax.

    Args:
        scores: float tensor `(..., n)`.
        mask: bool tensor broadcastable to `scores`; True keeps an entry.

    Returns:
        float32 tensor shaped like `scores`, each row summing to 1 (or to 0
        for a fully masked row).
    """
    scores = ops.cast(scores, "float32")
    mask = ops.broadcast_to(ops.cast(mask, "bool"), ops.shape(scores))
    # The row max over kept entries only; masked entries never reach exp()
    # with a large positive argument, so no inf * 0 can appear.
    lowest = ops.full_like(scores, -3.0e38)
    row_max = ops.max(ops.where(mask, scores, lowest), axis=-1, keepdims=True)
    shifted = ops.where(mask, scores - row_max, ops.zeros_like(scores))
    exponents = ops.where(mask, ops.exp(shifted), ops.zeros_like(scores))
    total = ops.sum(exponents, axis=-1, keepdims=True)
    return exponents / ops.maximum(total, 1e-30)
