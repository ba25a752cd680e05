"""A clip's encoded frames to sampled, model-ready frames, in TF ops."""

import keras
import tensorflow as tf

from mmkeras.preprocessing.frame_sampler import FrameSampler
from mmkeras.preprocessing.image_preprocessor import ImagePreprocessor
from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer


@keras.saving.register_keras_serializable(package="mmkeras")
class VideoPreprocessor(PreprocessingLayer):
    """Samples `num_frames` of a clip's encoded frames and decodes them.

    A clip is a string vector of encoded frames (PNG, JPEG, GIF or BMP), in
    order. Empty strings are padding: a batch of clips of different lengths
    is padded with them, and a clip of empty strings only (or of no frames)
    is a missing video. The real frames are sampled as `FrameSampler` does
    (the middle frame of `num_frames` equal segments; a shorter clip keeps
    all of its frames and is padded), and only the sampled frames are
    decoded, each by `ImagePreprocessor` (so frames of different sizes are
    all resized to `image_size`).

    Args:
        num_frames: int. Frames per clip given to the model.
        image_size: tuple of int `(height, width)` of each frame.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: string tensor of encoded frames, `(frames,)` for one clip
            or `(batch, frames)` for a batch.

    Returns:
        dict with `video_frames` float32 `(num_frames, height, width, 3)`
        scaled to [-1, 1] (with a leading batch axis for a batch) and
        `frame_mask` bool `(num_frames,)` (or `(batch, num_frames)`): the
        `VideoEncoder`'s inputs.

    Example:
    >>> png = tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8))
    >>> clip = tf.stack([png, png, png])
    >>> outputs = VideoPreprocessor(num_frames=4, image_size=(4, 4))(clip)
    >>> outputs["frame_mask"].numpy()
    array([ True,  True,  True, False])
    """

    def __init__(self, num_frames, image_size, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_frames = int(num_frames)
        self.image_size = tuple(int(x) for x in image_size)
        self.sampler = FrameSampler(self.num_frames, dtype="float32")
        self.image_preprocessor = ImagePreprocessor(
            self.image_size, dtype="float32"
        )

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise TypeError(
                "VideoPreprocessor expects a string tensor of encoded frames, "
                f"received dtype {inputs.dtype.name}."
            )
        if inputs.shape.rank == 1:
            return self._sample_clip(inputs)
        if inputs.shape.rank == 2:
            frames_shape = self.image_size + (3,)
            return tf.map_fn(
                self._sample_clip,
                inputs,
                fn_output_signature={
                    "video_frames": tf.TensorSpec(
                        (self.num_frames,) + frames_shape, tf.float32
                    ),
                    "frame_mask": tf.TensorSpec((self.num_frames,), tf.bool),
                },
            )
        raise ValueError(
            "VideoPreprocessor expects encoded frames (frames,) or (batch, "
            f"frames), received shape {inputs.shape}."
        )

    def _sample_clip(self, frames):
        real = tf.boolean_mask(frames, tf.strings.length(frames) > 0)
        count = tf.shape(real)[0]
        indices = self.sampler.frame_indices(count)
        frame_mask = indices < count
        # Padding indices point past the end: give them an empty frame.
        padded = tf.concat([real, [""]], axis=0)
        chosen = tf.gather(padded, tf.minimum(indices, count))
        pixels = self.image_preprocessor(chosen)
        return {"video_frames": pixels, "frame_mask": frame_mask}

    def compute_output_spec(self, inputs):
        batch = tuple(inputs.shape[:-1])
        return {
            "video_frames": keras.KerasTensor(
                batch + (self.num_frames,) + self.image_size + (3,), "float32"
            ),
            "frame_mask": keras.KerasTensor(batch + (self.num_frames,), "bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(num_frames=self.num_frames, image_size=self.image_size)
        return config
