"""A pre-norm transformer encoder block that honours a padding mask."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mmkeras")
class TransformerBlock(keras.layers.Layer):
    """Self-attention and a feed-forward network, each with a residual.

    Pre-layer-norm ordering (norm, sublayer, dropout, add), which trains
    stably from scratch without learning-rate warm-up.

    Args:
        hidden_dim: int. Width of the token embeddings.
        num_heads: int. Number of attention heads; must divide `hidden_dim`.
        intermediate_dim: int. Width of the feed-forward hidden layer.
        dropout: float. Dropout rate after attention and feed-forward.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: `(batch, tokens, hidden_dim)` tensor.
        padding_mask: optional `(batch, tokens)` bool tensor; False marks
            padding, which no token attends to.
        training: bool. Whether dropout is active.

    Example:
    >>> block = TransformerBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    >>> block(np.zeros((2, 5, 8)), padding_mask=np.ones((2, 5), bool)).shape
    TensorShape([2, 5, 8])
    """

    def __init__(
        self, hidden_dim, num_heads, intermediate_dim, dropout=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim ({hidden_dim}) must be divisible by num_heads "
                f"({num_heads})."
            )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout

    def build(self, input_shape):
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=policy, name="attention_norm"
        )
        self.attention_norm.build(input_shape)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.hidden_dim // self.num_heads,
            dtype=policy,
            name="attention",
        )
        self.attention.build(input_shape, input_shape)
        self.feedforward_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=policy, name="feedforward_norm"
        )
        self.feedforward_norm.build(input_shape)
        self.feedforward_hidden = keras.layers.Dense(
            self.intermediate_dim,
            activation="gelu",
            dtype=policy,
            name="feedforward_hidden",
        )
        self.feedforward_hidden.build(input_shape)
        self.feedforward_output = keras.layers.Dense(
            self.hidden_dim, dtype=policy, name="feedforward_output"
        )
        self.feedforward_output.build(
            tuple(input_shape[:-1]) + (self.intermediate_dim,)
        )
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=policy, name="dropout"
        )

    def call(self, inputs, padding_mask=None, training=None):
        attention_mask = None
        if padding_mask is not None:
            keep = ops.cast(padding_mask, "bool")
            attention_mask = ops.logical_and(keep[:, None, :], keep[:, :, None])
        x = self.attention_norm(inputs)
        x = self.attention(
            x, x, attention_mask=attention_mask, training=training
        )
        x = inputs + self.dropout_layer(x, training=training)
        y = self.feedforward_norm(x)
        y = self.feedforward_output(self.feedforward_hidden(y))
        return x + self.dropout_layer(y, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
        )
        return config
