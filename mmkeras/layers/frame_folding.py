"""Folding the frame axis into the batch axis and back."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmkeras")
class FoldFrames(keras.layers.Layer):
    """Merges the batch and frame axes so a per-image model sees frames.

    Unlike `keras.layers.TimeDistributed`, which loops or vectorizes over
    frames, this is one reshape: the wrapped model runs once on a batch of
    `batch * frames` images, and the frame count may be unknown.

    Call arguments:
        inputs: `(batch, frames, ...)` tensor.

    Returns:
        `(batch * frames, ...)` tensor; undo with `UnfoldFrames`.

    Example:
    >>> FoldFrames()(np.zeros((2, 3, 4, 4, 3))).shape
    TensorShape([6, 4, 4, 3])
    """

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (-1,) + tuple(shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[:2]
        merged = None if batch is None or frames is None else batch * frames
        return (merged,) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="mmkeras")
class UnfoldFrames(keras.layers.Layer):
    """Splits a `batch * frames` axis back into batch and frame axes.

    Call arguments:
        inputs: `(batch * frames, ...)` tensor.
        reference: a `(batch, frames, ...)` tensor (e.g. the frame mask)
            giving the batch and frame sizes.

    Returns:
        `(batch, frames, ...)` tensor.

    Example:
    >>> UnfoldFrames()(np.zeros((6, 8)), np.zeros((2, 3), bool)).shape
    TensorShape([2, 3, 8])
    """

    def call(self, inputs, reference):
        leading = tuple(ops.shape(reference)[:2])
        return ops.reshape(inputs, leading + tuple(ops.shape(inputs)[1:]))

    def compute_output_shape(self, inputs_shape, reference_shape):
        return tuple(reference_shape[:2]) + tuple(inputs_shape[1:])
