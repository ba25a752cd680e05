"""A small vision transformer (ViT) image encoder."""

import keras

from mmkeras.encoders.token_encoding import encode_tokens
from mmkeras.functional_model import FunctionalModel
from mmkeras.layers.patch_embedding import PatchEmbedding
from mmkeras.layers.position_embedding import PositionEmbedding


@keras.saving.register_keras_serializable(package="mmkeras")
class VisionTransformerEncoder(FunctionalModel):
    """Encodes images as patch tokens with a transformer (ViT).

    The image is cut into `patch_size` squares, each linearly projected
    to a token (`PatchEmbedding`); a learned position embedding is added
    and pre-norm transformer blocks mix the tokens. The pooled output is
    the mean of the final tokens (no class token: mean pooling matches
    the other encoders and works as well for small ViTs).

    A sibling of the convolutional `ImageEncoder` rather than a mode of
    it: the two share inputs and outputs but not their arguments, and a
    class per architecture keeps each argument meaningful.

    Args:
        image_size: tuple of int `(height, width)` of the input images;
            both must be divisible by `patch_size`.
        patch_size: int. Side of the square patches, in pixels.
        hidden_dim: int. Width of the tokens and outputs.
        num_layers: int. Number of transformer blocks.
        num_heads: int. Attention heads per block; must divide
            `hidden_dim`.
        dropout: float. Dropout rate inside the blocks.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Inputs:
        images: float `(batch, height, width, 3)`, scaled to [-1, 1] (see
            `mmkeras.preprocessing.ImagePreprocessor`).

    Outputs:
        dict with `pooled_output` `(batch, hidden_dim)`,
        `sequence_output` `(batch, patches, hidden_dim)` (row-major patch
        order) and `sequence_mask` bool `(batch, patches)`, all True.

    Example:
    >>> encoder = VisionTransformerEncoder(
    ...     image_size=(16, 16), patch_size=4, hidden_dim=16
    ... )
    >>> encoder(np.zeros((2, 16, 16, 3)))["sequence_output"].shape
    TensorShape([2, 16, 16])
    """

    def __init__(
        self,
        image_size,
        patch_size,
        hidden_dim,
        num_layers=2,
        num_heads=2,
        dropout=0.0,
        **kwargs,
    ):
        dtype = kwargs.pop("dtype", None)
        image_size = tuple(image_size)
        if len(image_size) != 2 or any(s % patch_size for s in image_size):
            raise ValueError(
                "image_size must be (height, width), both divisible by "
                f"patch_size={patch_size}; received image_size={image_size}."
            )
        num_patches = (image_size[0] // patch_size) * (
            image_size[1] // patch_size
        )
        images = keras.Input(shape=image_size + (3,), name="images")
        x = PatchEmbedding(
            patch_size, hidden_dim, dtype=dtype, name="patch_embedding"
        )(images)
        x = PositionEmbedding(
            num_patches, dtype=dtype, name="position_embedding"
        )(x)
        outputs = encode_tokens(
            x,
            None,
            num_layers,
            num_heads,
            intermediate_dim=hidden_dim * 4,
            dropout=dropout,
            dtype=dtype,
        )
        super().__init__(
            inputs=images,
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            patch_size=self.patch_size,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            dropout=self.dropout,
        )
        return config
