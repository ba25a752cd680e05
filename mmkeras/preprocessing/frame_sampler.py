"""Uniform sampling of a fixed number of frames from a clip, in TF ops."""

import keras
import tensorflow as tf

from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer


@keras.saving.register_keras_serializable(package="mmkeras")
class FrameSampler(PreprocessingLayer):
    """Samples `num_frames` frames uniformly from a clip, padding short ones.

    A clip of `n >= num_frames` frames is cut into `num_frames` equal
    segments and the frame at the middle of each is kept: frame
    `floor((i + 1/2) * n / num_frames)` for `i = 0 .. num_frames - 1`
    (exact integer arithmetic). A shorter clip keeps all its frames, in
    order, followed by zero frames that the mask marks as padding. Made of
    TF ops only, so one instance serves `tf.data.Dataset.map` and an
    exported serving signature. Pixels are passed through unchanged (same
    dtype); scale them with e.g. `ImagePreprocessor`.

    Args:
        num_frames: int. Number of frames to output.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: one clip `(frames, height, width, channels)` or a batch of
            equally long clips `(batch, frames, height, width, channels)`;
            the frame count may be unknown until run time.

    Returns:
        dict with `video_frames` `(num_frames, height, width, channels)`
        (or with a leading batch axis) and `frame_mask` bool
        `(num_frames,)` (or `(batch, num_frames)`): the `VideoEncoder`'s
        inputs.

    Example:
    >>> sampled = FrameSampler(num_frames=4)(tf.zeros((10, 2, 2, 3)))
    >>> sampled["video_frames"].shape
    TensorShape([4, 2, 2, 3])
    >>> FrameSampler(num_frames=4).frame_indices(10).numpy()
    array([1, 3, 6, 8], dtype=int32)
    """

    def __init__(self, num_frames, **kwargs):
        super().__init__(**kwargs)
        if num_frames < 1:
            raise ValueError(
                f"num_frames must be positive, received {num_frames}."
            )
        self.num_frames = int(num_frames)

    def frame_indices(self, count):
        """int32 `(num_frames,)`: the frames kept from a `count`-frame clip.

        Indices `>= count` (only when `count < num_frames`) are padding.
        """
        count = tf.convert_to_tensor(count, tf.int32)
        steps = tf.range(self.num_frames, dtype=tf.int32)
        uniform = (2 * steps + 1) * count // (2 * self.num_frames)
        return tf.where(count >= self.num_frames, uniform, steps)

    def call(self, inputs):
        frames = tf.convert_to_tensor(inputs)
        rank = frames.shape.rank
        if rank not in (4, 5):
            raise ValueError(
                "FrameSampler expects a clip (frames, height, width, "
                "channels) or a batch of clips (batch, frames, height, width, "
                f"channels), received shape {frames.shape}."
            )
        axis = rank - 4
        count = tf.shape(frames)[axis]
        indices = self.frame_indices(count)
        # Zero frames past the end make every index valid for gather.
        paddings = [[0, 0]] * rank
        paddings[axis] = [0, tf.maximum(self.num_frames - count, 0)]
        sampled = tf.gather(tf.pad(frames, paddings), indices, axis=axis)
        frame_mask = indices < count
        if axis == 1:
            frame_mask = tf.broadcast_to(
                frame_mask, (tf.shape(frames)[0], self.num_frames)
            )
        return {"video_frames": sampled, "frame_mask": frame_mask}

    def compute_output_spec(self, inputs):
        shape = list(inputs.shape)
        axis = len(shape) - 4
        shape[axis] = self.num_frames
        return {
            "video_frames": keras.KerasTensor(tuple(shape), inputs.dtype),
            "frame_mask": keras.KerasTensor(tuple(shape[: axis + 1]), "bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(num_frames=self.num_frames)
        return config
