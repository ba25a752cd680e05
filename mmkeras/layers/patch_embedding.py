"""Image patches to a token sequence."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmkeras")
class PatchEmbedding(keras.layers.Layer):
    """Cuts images into square patches and projects each patch to a token.

    A convolution whose kernel and stride are both `patch_size` is exactly
    a linear projection of each non-overlapping patch (the ViT stem).
    Tokens come out in row-major patch order.

    Args:
        patch_size: int. Side of the square patches, in pixels; must
            divide the image height and width.
        hidden_dim: int. Width of the patch tokens.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: `(batch, height, width, channels)` tensor.

    Returns:
        `(batch, (height // patch_size) * (width // patch_size),
        hidden_dim)` tensor.

    Example:
    >>> embedding = PatchEmbedding(patch_size=4, hidden_dim=8)
    >>> embedding(np.zeros((2, 8, 12, 3))).shape
    TensorShape([2, 6, 8])
    """

    def __init__(self, patch_size, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        if patch_size < 1:
            raise ValueError(
                f"patch_size must be positive, received {patch_size}."
            )
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        for size in input_shape[1:3]:
            if size is not None and size % self.patch_size:
                raise ValueError(
                    f"PatchEmbedding needs image sides divisible by "
                    f"patch_size={self.patch_size}, received input shape "
                    f"{tuple(input_shape)}. Resize the images or pick a "
                    "patch size that divides them."
                )
        self.projection = keras.layers.Conv2D(
            self.hidden_dim,
            self.patch_size,
            strides=self.patch_size,
            padding="valid",
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(input_shape)

    def call(self, inputs):
        patches = self.projection(inputs)
        shape = ops.shape(patches)
        return ops.reshape(
            patches, (shape[0], shape[1] * shape[2], self.hidden_dim)
        )

    def compute_output_shape(self, input_shape):
        height, width = input_shape[1:3]
        if height is None or width is None:
            return (input_shape[0], None, self.hidden_dim)
        tokens = (height // self.patch_size) * (width // self.patch_size)
        return (input_shape[0], tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(patch_size=self.patch_size, hidden_dim=self.hidden_dim)
        return config
