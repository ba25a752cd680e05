"""The transformer tail every sequence encoder shares."""

import keras
from keras import ops

from mmkeras.layers.masked_mean_pooling import MaskedMeanPooling
from mmkeras.layers.transformer_block import TransformerBlock


def encode_tokens(
    tokens,
    mask,
    num_layers,
    num_heads,
    intermediate_dim,
    dropout=0.0,
    dtype=None,
):
    """Transformer blocks, a final norm and masked mean pooling.

    Applied to symbolic tensors inside an encoder's constructor.

    Args:
        tokens: `(batch, tokens, hidden_dim)` symbolic tensor.
        mask: bool `(batch, tokens)` symbolic tensor (False on padding), or
            None when every token is real.
        num_layers: int. Number of transformer blocks.
        num_heads: int. Attention heads per block.
        intermediate_dim: int. Feed-forward width of each block.
        dropout: float. Dropout inside the blocks.
        dtype: dtype policy for the new layers.

    Returns:
        The encoder outputs: dict with `pooled_output`, `sequence_output`
        and `sequence_mask`.
    """
    hidden_dim = tokens.shape[-1]
    x = tokens
    for i in range(num_layers):
        x = TransformerBlock(
            hidden_dim,
            num_heads,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            dtype=dtype,
            name=f"transformer_{i}",
        )(x, padding_mask=mask)
    x = keras.layers.LayerNormalization(
        epsilon=1e-6, dtype=dtype, name="final_norm"
    )(x)
    pooled = MaskedMeanPooling(dtype=dtype, name="pooling")(
        x, padding_mask=mask
    )
    if mask is None:
        sequence_mask = ops.ones_like(x[..., 0], dtype="bool")
    else:
        # A new tensor even when `mask` is a model input: a model output
        # that is one of its inputs breaks any model that calls this one.
        sequence_mask = ops.cast(mask, "bool")
    return {
        "pooled_output": pooled,
        "sequence_output": x,
        "sequence_mask": sequence_mask,
    }
