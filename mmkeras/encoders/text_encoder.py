"""A small transformer text encoder."""

import keras

from mmkeras.encoders.token_encoding import encode_tokens
from mmkeras.functional_model import FunctionalModel
from mmkeras.layers.position_embedding import PositionEmbedding


@keras.saving.register_keras_serializable(package="mmkeras")
class TextEncoder(FunctionalModel):
    """Encodes token ids with embeddings and transformer blocks.

    Args:
        vocabulary_size: int. Number of token ids.
        sequence_length: int. Length of the token sequences.
        hidden_dim: int. Width of the embeddings.
        num_layers: int. Number of transformer blocks.
        num_heads: int. Attention heads per block.
        dropout: float. Dropout rate inside the blocks.
        intermediate_dim: int or None. Feed-forward width of each block;
            None means `2 * hidden_dim`.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Inputs:
        token_ids: int `(batch, sequence_length)`.
        padding_mask: bool `(batch, sequence_length)`, False on padding;
            padding is neither attended to nor pooled.

    Outputs:
        dict with `pooled_output` `(batch, hidden_dim)` (masked mean),
        `sequence_output` `(batch, sequence_length, hidden_dim)` and
        `sequence_mask` bool `(batch, sequence_length)`, the padding mask
        (True = real token), for token-level fusion.

    Example:
    >>> encoder = TextEncoder(vocabulary_size=50, sequence_length=8,
    ...                       hidden_dim=16)
    >>> outputs = encoder({"token_ids": np.ones((2, 8), "int32"),
    ...                    "padding_mask": np.ones((2, 8), bool)})
    >>> outputs["pooled_output"].shape
    TensorShape([2, 16])
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        hidden_dim,
        num_layers=1,
        num_heads=2,
        dropout=0.0,
        intermediate_dim=None,
        **kwargs,
    ):
        dtype = kwargs.pop("dtype", None)
        token_ids = keras.Input(
            (sequence_length,), dtype="int32", name="token_ids"
        )
        padding_mask = keras.Input(
            (sequence_length,), dtype="bool", name="padding_mask"
        )
        x = keras.layers.Embedding(
            vocabulary_size, hidden_dim, dtype=dtype, name="token_embedding"
        )(token_ids)
        x = PositionEmbedding(
            sequence_length, dtype=dtype, name="position_embedding"
        )(x)
        outputs = encode_tokens(
            x,
            padding_mask,
            num_layers,
            num_heads,
            intermediate_dim=intermediate_dim or hidden_dim * 2,
            dropout=dropout,
            dtype=dtype,
        )
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout
        self.intermediate_dim = intermediate_dim

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            sequence_length=self.sequence_length,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            dropout=self.dropout,
            intermediate_dim=self.intermediate_dim,
        )
        return config
