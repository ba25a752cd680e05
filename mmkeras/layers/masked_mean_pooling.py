"""Mean over the tokens that are not padding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmkeras")
class MaskedMeanPooling(keras.layers.Layer):
    """Averages a token sequence over its non-padding positions.

    A sequence that is all padding pools to zeros rather than NaN.

    Call arguments:
        inputs: `(batch, tokens, features)` tensor.
        padding_mask: optional `(batch, tokens)` bool tensor; False marks
            padding. Without it every token counts.

    Example:
    >>> pooled = MaskedMeanPooling()(
    ...     np.array([[[1.0], [3.0], [100.0]]]),
    ...     padding_mask=np.array([[True, True, False]]),
    ... )
    >>> float(pooled[0, 0])
    2.0
    """

    def call(self, inputs, padding_mask=None):
        if padding_mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.cast(padding_mask, inputs.dtype)[..., None]
        total = ops.sum(inputs * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
