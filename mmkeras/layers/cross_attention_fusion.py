"""Cross-attention fusion: one modality's tokens attend to the others'."""

import math

import keras
from keras import ops

from mmkeras.layers.masked_mean_pooling import MaskedMeanPooling
from mmkeras.layers.masked_softmax import masked_softmax
from mmkeras.layers.modality_fusion import ModalityFusion
from mmkeras.layers.modality_fusion import normalise_over_present


@keras.saving.register_keras_serializable(package="mmkeras")
class CrossAttentionFusion(ModalityFusion):
    """Fuses token sequences: the query modality attends to the others.

    Each modality's tokens are projected to `hidden_dim`. The tokens of
    `query_modality` are the queries of a multi-head attention whose keys
    and values are the concatenated tokens of every other modality
    (sorted-key order). A key token is hidden when it is padding or its
    modality is missing. Each query token becomes
    `norm(q + attention(q))`, and the output is the mean over the query's
    non-padding tokens. The attention softmax is computed in float32 and a
    query with no key to attend to gets a zero attention output (not a
    uniform average over hidden keys), so it keeps just its own tokens.

    Modality weights say how much of the output comes from each modality.
    Per query token the residual (the query modality) and the attention
    output count one half each; the attention half is split by the
    attention mass each modality's tokens receive, averaged over heads.
    These are averaged over the query's non-padding tokens. With no key to
    attend to, the query modality's weight is 1.

    If the query modality is missing for an example (or all its tokens are
    padding), the output falls back to the mean of the normalised tokens of
    the other modalities, `mean(norm(k))` over their non-padding tokens,
    and each modality's weight is its share of those tokens. A modality
    whose tokens are all padding counts as missing. An example with no
    modality gets zero output and weights.

    Args:
        hidden_dim: int. Width of the projected tokens and of the output.
        query_modality: str. The modality whose tokens are the queries.
        num_heads: int. Number of attention heads; must divide
            `hidden_dim`.
        dropout: float. Dropout rate on the attention output.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: dict of modality name to a `(batch, tokens, features)`
            tensor; token counts and widths may differ between modalities.
        modality_mask: optional dict of modality name to a `bool[batch]`
            tensor; False marks the modality as missing for that example,
            absent keys count as present.
        padding_mask: optional dict of modality name to a
            `bool[batch, tokens]` tensor, False on padding. A modality
            absent from the dict has no padding.
        training: bool. Whether dropout is active.

    Returns:
        A tuple `(fused, weights)`: `fused` is `(batch, hidden_dim)` in the
        compute dtype; `weights` is float32 `(batch, num_modalities)`,
        described above, summing to 1 over the present modalities.

    Example:
    >>> fusion = CrossAttentionFusion(hidden_dim=8, query_modality="text")
    >>> fused, weights = fusion(
    ...     {"image": np.ones((2, 4, 16)), "text": np.ones((2, 3, 6))},
    ...     padding_mask={"text": np.array([[1, 1, 0], [1, 0, 0]], bool)},
    ... )
    >>> fused.shape, np.asarray(weights).tolist()
    (TensorShape([2, 8]), [[0.5, 0.5], [0.5, 0.5]])
    """

    token_level = True
    input_rank = 3

    def __init__(
        self, hidden_dim, query_modality, num_heads=1, dropout=0.0, **kwargs
    ):
        super().__init__(hidden_dim, **kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim ({hidden_dim}) must be divisible by num_heads "
                f"({num_heads})."
            )
        self.query_modality = query_modality
        self.num_heads = num_heads
        self.dropout = dropout

    def build(self, input_shape):
        super().build(input_shape)
        if self.query_modality not in input_shape or len(input_shape) < 2:
            raise ValueError(
                f"CrossAttentionFusion needs the query modality "
                f"'{self.query_modality}' and at least one other modality, "
                f"received modalities {sorted(input_shape)}."
            )
        policy = self.dtype_policy
        tokens = (None, None, self.hidden_dim)
        for name in ("query", "key", "value", "output"):
            dense = keras.layers.Dense(
                self.hidden_dim, dtype=policy, name=f"{name}_dense"
            )
            dense.build(tokens)
            setattr(self, f"{name}_dense", dense)
        self.norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=policy, name="norm"
        )
        self.norm.build(tokens)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=policy, name="dropout"
        )
        self.pooling = MaskedMeanPooling(dtype=policy, name="pooling")

    def call(
        self, inputs, modality_mask=None, padding_mask=None, training=None
    ):
        names = self.modality_names
        present = self._presence(inputs, modality_mask)
        token_masks = self._token_masks(inputs, padding_mask, present)
        # A modality with no token left counts as missing.
        present = ops.stack(
            [ops.any(mask, axis=1) for mask in token_masks], axis=1
        )
        projected = self._project(inputs, present, token_masks)

        query_index = names.index(self.query_modality)
        others = [i for i in range(len(names)) if i != query_index]
        query = projected[query_index]
        query_mask = token_masks[query_index]
        keys = ops.concatenate([projected[i] for i in others], axis=1)
        key_mask = ops.concatenate([token_masks[i] for i in others], axis=1)
        # One-hot (batch, keys, others): which modality each key comes from.
        key_owner = ops.concatenate(
            [
                ops.ones_like(ops.cast(token_masks[i], "float32"))[..., None]
                * ops.one_hot(j, len(others))
                for j, i in enumerate(others)
            ],
            axis=1,
        )

        attended, probabilities = self._attend(query, keys, key_mask)
        has_keys = ops.any(key_mask, axis=1)
        attended = ops.where(
            has_keys[:, None, None], attended, ops.zeros_like(attended)
        )
        attended = self.dropout_layer(attended, training=training)
        tokens = self.norm(query + attended)
        from_query = self.pooling(tokens, padding_mask=query_mask)
        from_keys = self.pooling(self.norm(keys), padding_mask=key_mask)
        has_query = present[:, query_index]
        fused = ops.where(has_query[:, None], from_query, from_keys)

        # (batch, query tokens, others): attention mass per key modality.
        mass = ops.einsum(
            "bqk,bkm->bqm", ops.mean(probabilities, axis=1), key_owner
        )
        attention_share = 0.5 * ops.cast(has_keys, "float32")[:, None, None]
        residual_share = 1.0 - attention_share[..., 0]
        query_weights = [None] * len(names)
        query_weights[query_index] = residual_share + ops.zeros_like(
            mass[..., 0]
        )
        for j, i in enumerate(others):
            query_weights[i] = attention_share[..., 0] * mass[..., j]
        query_weights = _masked_token_mean(
            ops.stack(query_weights, axis=-1), query_mask
        )
        key_counts = ops.stack(
            [ops.sum(ops.cast(m, "float32"), axis=1) for m in token_masks],
            axis=1,
        )
        key_counts = ops.where(
            ops.arange(len(names)) == query_index, 0.0, key_counts
        )
        fallback_weights = normalise_over_present(key_counts, present)
        weights = ops.where(has_query[:, None], query_weights, fallback_weights)
        return self._finish(fused, present), weights

    def _token_masks(self, inputs, padding_mask, present):
        """bool `(batch, tokens)` per modality: not padding and present."""
        padding_mask = padding_mask or {}
        if not isinstance(padding_mask, dict):
            raise TypeError(
                "padding_mask must be a dict of modality name to a "
                "bool[batch, tokens] tensor, received "
                f"{type(padding_mask).__name__}."
            )
        names = self.modality_names
        unknown = set(padding_mask) - set(names)
        if unknown:
            raise ValueError(
                f"padding_mask has keys {sorted(unknown)} that are not among "
                f"the fused modalities {names}."
            )
        masks = []
        for i, name in enumerate(names):
            mask = padding_mask.get(name)
            if mask is None:
                mask = ops.ones(ops.shape(inputs[name])[:2], dtype="bool")
            mask = ops.cast(mask, "bool")
            masks.append(ops.logical_and(mask, present[:, i : i + 1]))
        return masks

    def _attend(self, query, keys, key_mask):
        """Multi-head attention; returns the output and float32 weights
        `(batch, heads, query tokens, keys)`."""
        head_dim = self.hidden_dim // self.num_heads
        batch = ops.shape(query)[0]

        def split_heads(x):
            return ops.reshape(x, (batch, -1, self.num_heads, head_dim))

        # Scaling before the product keeps float16 scores in range.
        q = split_heads(self.query_dense(query)) * (1.0 / math.sqrt(head_dim))
        k = split_heads(self.key_dense(keys))
        v = split_heads(self.value_dense(keys))
        scores = ops.einsum("bqhd,bkhd->bhqk", q, k)
        probabilities = masked_softmax(scores, key_mask[:, None, None, :])
        attended = ops.einsum(
            "bhqk,bkhd->bqhd", ops.cast(probabilities, v.dtype), v
        )
        attended = ops.reshape(attended, (batch, -1, self.hidden_dim))
        return self.output_dense(attended), probabilities

    def get_config(self):
        config = super().get_config()
        config.update(
            query_modality=self.query_modality,
            num_heads=self.num_heads,
            dropout=self.dropout,
        )
        return config


def _masked_token_mean(values, mask):
    """float32 mean of `(batch, tokens, n)` over the tokens kept by mask."""
    keep = ops.cast(mask, "float32")[..., None]
    total = ops.sum(values * keep, axis=1)
    return total / ops.maximum(ops.sum(keep, axis=1), 1.0)
