"""A small convolutional image encoder that learns from little data."""

import keras
from keras import ops

from mmkeras.functional_model import FunctionalModel
from mmkeras.layers.image_standardization import ImageStandardization

POOLINGS = ("max", "flatten")


@keras.saving.register_keras_serializable(package="mmkeras")
class ImageEncoder(FunctionalModel):
    """Encodes images with conv + max-pool blocks and a global max.

    Each image is first standardised on its own (`ImageStandardization`:
    its mean colour removed, divided by its spread). Each block is a 3x3
    convolution with ReLU followed by 2x2 max pooling; the first block has
    `hidden_dim // 2` filters (at least 16), the others `hidden_dim`. The
    final feature map, projected to `hidden_dim`, is the token sequence;
    the pooled output is its maximum over positions.

    Why this shape: an object may sit anywhere in the image, and a maximum
    over positions finds it where a mean dilutes it with background. On
    the demo data's 32x32 shapes (random colour, position and
    background), 800 training images took this encoder to 0.96 held-out
    accuracy in 12 epochs, where the earlier strided-conv, batch-norm,
    mean-pooled encoder stayed near chance: its batch statistics and the
    mean both fail on small data. It has no batch norm, so it behaves the
    same in training and inference and inside `VideoEncoder`.

    `pooling="flatten"` instead projects the whole final feature map
    (every cell, in place) to the pooled output, for tasks where *where*
    things are matters: a maximum over positions forgets it, so "a red
    circle on the left" and "on the right" would embed alike.

    For a patch-token transformer, see `VisionTransformerEncoder`; both
    take `images` and return the same outputs, so either can be passed to
    `VideoEncoder` or a backbone.

    Args:
        image_size: tuple of int `(height, width)` of the input images.
        hidden_dim: int. Width of the output embeddings.
        num_layers: int. Number of convolution blocks; each halves the
            feature map.
        pooling: "max" (position-free) or "flatten" (position-aware).
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

    def __init__(
        self, image_size, hidden_dim, num_layers=3, pooling="max", **kwargs
    ):
        if pooling not in POOLINGS:
            raise ValueError(
                f"pooling must be one of {POOLINGS}, received {pooling!r}."
            )
        dtype = kwargs.pop("dtype", None)
        images = keras.Input(shape=tuple(image_size) + (3,), name="images")
        x = ImageStandardization(dtype=dtype, name="standardization")(images)
        for i in range(num_layers):
            filters = max(hidden_dim // 2, 16) if i == 0 else hidden_dim
            x = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                activation="relu",
                dtype=dtype,
                name=f"conv_{i}",
            )(x)
            x = keras.layers.MaxPooling2D(dtype=dtype, name=f"pool_{i}")(x)
        x = keras.layers.Dense(hidden_dim, dtype=dtype, name="projection")(x)
        tokens = keras.layers.Reshape((-1, hidden_dim), dtype=dtype)(x)
        if pooling == "max":
            pooled = keras.layers.GlobalMaxPooling1D(
                dtype=dtype, name="pooling"
            )(tokens)
        else:
            pooled = keras.layers.Flatten(dtype=dtype)(tokens)
            pooled = keras.layers.Dense(
                hidden_dim, dtype=dtype, name="pooling"
            )(pooled)
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
        self.pooling = pooling

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            pooling=self.pooling,
        )
        return config
