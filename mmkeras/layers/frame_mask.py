"""Which frames of a framed or strided sequence hold only real steps."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmkeras")
class FrameMask(keras.layers.Layer):
    """Maps a per-step padding mask to a per-frame mask.

    Frame `i` covers steps `[i * frame_step, i * frame_step + frame_length)`
    and is real only if every step it covers is real, so no padding leaks
    into a real frame. The frames are those of `tf.signal.frame` with
    `pad_end=False`, which is also how `tf.signal.stft` and a `"valid"`
    convolution with kernel `frame_length` and stride `frame_step` frame
    their input: the mask stays aligned with their outputs.

    Args:
        frame_length: int. Steps per frame.
        frame_step: int. Steps between the starts of adjacent frames.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: bool `(batch, steps)`; False marks padding.

    Returns:
        bool `(batch, frames)` with `frames = (steps - frame_length) //
        frame_step + 1` (0 if `steps < frame_length`).

    Example:
    >>> FrameMask(frame_length=3, frame_step=2)(
    ...     np.array([[True, True, True, True, False, False]])
    ... ).numpy()
    array([[ True, False]])
    """

    def __init__(self, frame_length, frame_step, **kwargs):
        super().__init__(**kwargs)
        if frame_length < 1 or frame_step < 1:
            raise ValueError(
                "frame_length and frame_step must be positive, received "
                f"frame_length={frame_length}, frame_step={frame_step}."
            )
        self.frame_length = frame_length
        self.frame_step = frame_step

    def call(self, inputs):
        steps = ops.cast(ops.cast(inputs, "bool"), "int32")
        frames = frame_signal(steps, self.frame_length, self.frame_step)
        return ops.all(frames > 0, axis=-1)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is None:
            return (input_shape[0], None)
        frames = max((steps - self.frame_length) // self.frame_step + 1, 0)
        return (input_shape[0], frames)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), "bool"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            frame_length=self.frame_length, frame_step=self.frame_step
        )
        return config


# Beyond this many slices per frame (frame_length / gcd(frame_length,
# frame_step)), frames are gathered: one op instead of a long concat.
_MAX_FRAME_SLICES = 16


def frame_signal(inputs, frame_length, frame_step):
    """The frames of the last axis, `(..., frames, frame_length)`.

    The frames of `tf.signal.frame(..., pad_end=False)`. When the axis has
    a static length, the frame count stays static through the TFLite
    converter. `tf.signal.frame`'s does not: the converter loses it, and
    then each later `x[..., None]` on a tensor with two unknown dimensions
    becomes a `StridedSlice` that TFLite lacks.

    With a static length, the signal is cut into chunks of
    `g = gcd(frame_length, frame_step)` samples, and each frame is the
    concatenation of `frame_length / g` strided slices of the chunks. A
    gather would do it in one op, but its index table is a constant of
    `frames * frame_length` int32s in a converted model: 118 KB for 1.5 s
    of 8 kHz audio, more than the weights of a small speech model, and
    growing with the clip. The gather remains for unknown lengths (its
    indices are computed when the graph runs) and for frame sizes that
    would need more than `_MAX_FRAME_SLICES` slices.

    Example:
    >>> frames = frame_signal(np.arange(7), frame_length=3, frame_step=2)
    >>> np.asarray(frames).tolist()
    [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    """
    steps = inputs.shape[-1]
    if steps is None:  # known when the graph runs
        steps = ops.shape(inputs)[-1]
        count = ops.maximum((steps - frame_length) // frame_step + 1, 0)
        return _gather_frames(inputs, count, frame_length, frame_step)
    count = max((steps - frame_length) // frame_step + 1, 0)
    chunk = math.gcd(frame_length, frame_step)
    leading = [-1 if size is None else size for size in inputs.shape[:-1]]
    if (
        count == 0
        or frame_length // chunk > _MAX_FRAME_SLICES
        or leading.count(-1) > 1
    ):
        return _gather_frames(inputs, count, frame_length, frame_step)
    covered = (count - 1) * frame_step + frame_length
    chunks = ops.reshape(
        inputs[..., :covered], leading + [covered // chunk, chunk]
    )
    stride = frame_step // chunk
    span = (count - 1) * stride + 1
    slices = [
        chunks[..., first : first + span : stride, :]
        for first in range(frame_length // chunk)
    ]
    return ops.concatenate(slices, axis=-1) if len(slices) > 1 else slices[0]


def _gather_frames(inputs, count, frame_length, frame_step):
    starts = ops.arange(count) * frame_step
    indices = ops.expand_dims(starts, 1) + ops.arange(frame_length)
    return ops.take(inputs, indices, axis=-1)
