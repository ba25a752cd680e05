"""A small convolutional image encoder."""

import keras
from keras import ops

from mmkeras.functional_model import FunctionalModel
from mmkeras.layers.masked_mean_pooling import MaskedMeanPooling


@keras.saving.register_keras_serializable(package="mmkeras")
class ImageEncoder(FunctionalModel):
    """Encodes images with a stack of strided convolution blocks.

    Each block is conv 3x3 (stride 2 after the first block), batch norm and
    ReLU, doubling the channels up to `hidden_dim`. The final feature map
    is returned as a token sequence and as its mean (the pooled output).
    For a patch-token transformer, see `VisionTransformerEncoder`; both
    take `images` and return the same outputs, so either can be passed to
    `VideoEncoder` or a backbone.

    Args:
        image_size: tuple of int `(height, width)` of the input images.
        hidden_dim: int. Width of the output embeddings.
        num_layers: int. Number of convolution blocks.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Inputs:
        images: float `(batch, height, width, 3)`, scaled to [-1, 1] (see
            `mmkeras.preprocessing.ImagePreprocessor`).

    Outputs:
        dict with `pooled_output` `(batch, hidden_dim)`,
        `sequence_output` `(batch, patches, hidden_dim)` (one token per
        cell of the final feature map) and `sequence_mask` bool
        `(batch, patches)`, all True (images have no padding).

    Example:
    >>> encoder = ImageEncoder(image_size=(32, 32), hidden_dim=16)
    >>> encoder(np.zeros((2, 32, 32, 3)))["pooled_output"].shape
    TensorShape([2, 16])
    """

    def __init__(self, image_size, hidden_dim, num_layers=4, **kwargs):
        dtype = kwargs.pop("dtype", None)
        images = keras.Input(shape=tuple(image_size) + (3,), name="images")
        x = images
        for i in range(num_layers):
            filters = max(hidden_dim // 2 ** (num_layers - 1 - i), 8)
            x = keras.layers.Conv2D(
                filters,
                3,
                strides=1 if i == 0 else 2,
                padding="same",
                use_bias=False,
                dtype=dtype,
                name=f"conv_{i}",
            )(x)
            x = keras.layers.BatchNormalization(dtype=dtype, name=f"norm_{i}")(
                x
            )
            x = keras.layers.ReLU(dtype=dtype, name=f"relu_{i}")(x)
        x = keras.layers.Dense(hidden_dim, dtype=dtype, name="projection")(x)
        tokens = keras.layers.Reshape((-1, hidden_dim), dtype=dtype)(x)
        pooled = MaskedMeanPooling(dtype=dtype, name="pooling")(tokens)
        super().__init__(
            inputs=images,
            outputs={
                "pooled_output": pooled,
                "sequence_output": tokens,
                "sequence_mask": ops.ones_like(tokens[..., 0], dtype="bool"),
            },
            dtype=dtype,
            **kwargs,
        )
        self.image_size = tuple(image_size)
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
        )
        return config
