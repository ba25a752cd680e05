"""SpecAugment's time and frequency masks, applied while training only."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="mmkeras")
class SpecAugment(keras.layers.Layer):
    """Masks random bands of mel bins and runs of frames (SpecAugment).

    Each example gets `frequency_masks` bands of up to
    `max_frequency_width` mel bins and `time_masks` runs of up to
    `max_time_fraction` of its frames, each set to that example's mean
    log-mel value (so a masked band looks like average energy, not
    silence). Identity unless `training=True`, so inference, export and
    TFLite see the features untouched. Computes in float32 (log-mel is
    float32 under every policy).

    Args:
        frequency_masks: int. Bands of mel bins masked per example.
        max_frequency_width: int. Widest band, in mel bins.
        time_masks: int. Runs of frames masked per example.
        max_time_fraction: float. Longest run, as a fraction of frames.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: float `(batch, frames, mel_bins)` log-mel features.
        training: bool.

    Example:
    >>> from mmkeras.layers.spec_augment import SpecAugment
    >>> layer = SpecAugment()
    >>> features = np.ones((2, 20, 8), "float32")
    >>> bool(np.all(layer(features) == features))
    True
    """

    def __init__(
        self,
        frequency_masks=2,
        max_frequency_width=6,
        time_masks=2,
        max_time_fraction=0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.frequency_masks = frequency_masks
        self.max_frequency_width = max_frequency_width
        self.time_masks = time_masks
        self.max_time_fraction = max_time_fraction
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        features = tf.cast(inputs, tf.float32)
        shape = tf.shape(features)
        batch, frames, bins = shape[0], shape[1], shape[2]
        keep = tf.ones_like(features, tf.bool)
        max_time = tf.maximum(
            1,
            tf.cast(
                tf.cast(frames, tf.float32) * self.max_time_fraction, tf.int32
            ),
        )
        for _ in range(self.frequency_masks):
            keep &= _band(batch, bins, self.max_frequency_width)[:, None, :]
        for _ in range(self.time_masks):
            keep &= _band(batch, frames, max_time)[:, :, None]
        mean = tf.reduce_mean(features, axis=[1, 2], keepdims=True)
        return tf.where(keep, features, mean)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs, training=False):
        return keras.KerasTensor(inputs.shape, "float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            frequency_masks=self.frequency_masks,
            max_frequency_width=self.max_frequency_width,
            time_masks=self.time_masks,
            max_time_fraction=self.max_time_fraction,
        )
        return config


def _band(batch, size, max_width):
    """bool `(batch, size)`: False on one random band per row."""
    width = tf.random.uniform([batch, 1], 0, max_width + 1, tf.int32)
    start = tf.random.uniform([batch, 1], 0, tf.int32.max, tf.int32) % (
        tf.maximum(size - width, 0) + 1
    )
    positions = tf.range(size)[None, :]
    return tf.logical_or(positions < start, positions >= start + width)
