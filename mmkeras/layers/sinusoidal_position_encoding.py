"""Fixed sine/cosine position encodings for sequences of any length."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmkeras")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Adds the transformer's sine/cosine encoding of each position.

    Feature `2i` of position `p` gets `sin(p / max_wavelength ** (2i / d))`
    and feature `2i + 1` the matching cosine (Vaswani et al., 2017). It has
    no weights and no maximum length, so one model serves audio clips and
    videos of any length. The encoding is computed in float32 and cast to
    the layer's compute dtype.

    Args:
        max_wavelength: float. Longest wavelength of the encoding.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: `(batch, tokens, features)` tensor.

    Returns:
        `inputs` plus the encoding, same shape.

    Example:
    >>> encoded = SinusoidalPositionEncoding()(np.zeros((1, 3, 4)))
    >>> [round(float(v), 3) for v in encoded[0, 1]]
    [0.841, 0.54, 0.01, 1.0]
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def call(self, inputs):
        shape = ops.shape(inputs)
        features = inputs.shape[-1]
        positions = ops.cast(ops.arange(shape[1]), "float32")
        pair_index = ops.cast(ops.arange(features) // 2, "float32")
        frequencies = ops.power(
            float(self.max_wavelength), -2.0 * pair_index / features
        )
        angles = positions[:, None] * frequencies[None, :]
        is_sine = (ops.arange(features) % 2) == 0
        encoding = ops.where(is_sine, ops.sin(angles), ops.cos(angles))
        return inputs + ops.cast(encoding, inputs.dtype)[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(max_wavelength=self.max_wavelength)
        return config
