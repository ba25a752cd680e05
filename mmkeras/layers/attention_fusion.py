"""Attention fusion: a per-example convex combination of modality embeddings."""

import keras
from keras import ops

from mmkeras.layers.masked_softmax import masked_softmax
from mmkeras.layers.modality_fusion import ModalityFusion


@keras.saving.register_keras_serializable(package="mmkeras")
class AttentionFusion(ModalityFusion):
    """Fuses modality embeddings with learned, per-example attention weights.

    Each modality embedding `m_i` is projected to a common width,
    `p_i = W_i m_i + b_i`. A small scoring network shared by all modalities
    gives one score per modality, `s_i = v . tanh(U p_i + c)`, and the
    weights are `alpha = softmax_i(s_i)` over the modalities present in
    each example. The output is `sum_i alpha_i * p_i`.

    With `use_context=True` each score also sees the others: `s_i = v .
    tanh(U p_i + C m + c)`, where `m` is the mean of the present
    projections. A modality's weight can then depend on whether it agrees
    with the rest of the example (a caption that describes another
    picture), not only on how it looks on its own.

    Modalities are processed in sorted-key order, so `alpha[:, i]` belongs
    to the i-th modality name in sorted order (see `modality_names`).

    Args:
        hidden_dim: int. Width of the projected embeddings and of the output.
        score_dim: int. Width of the hidden layer of the scoring network.
            Defaults to `hidden_dim`.
        use_context: bool. Let each modality's score see the mean of the
            present modalities' projections.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: dict of modality name to a `(batch, features)` tensor.
        modality_mask: optional dict of modality name to a `bool[batch]`
            tensor; False marks the modality as missing for that example.
            Modalities absent from the dict count as present. Missing
            modalities get zero weight and the weights renormalise over the
            present ones; an example with every modality missing gets zero
            weights and a zero output. Not named `mask`, because Keras fills
            an argument of that name with its own implicit masks.

    Returns:
        A tuple `(fused, weights)`: `fused` is `(batch, hidden_dim)` in the
        compute dtype and `weights` is `(batch, num_modalities)`, the
        attention weights `alpha`, float32 under every dtype policy so that
        they always sum to exactly 1.

    Example:
    >>> fusion = AttentionFusion(hidden_dim=8)
    >>> fused, weights = fusion(
    ...     {"image": np.ones((2, 16)), "text": np.ones((2, 4))},
    ...     modality_mask={"text": np.array([True, False])},
    ... )
    >>> weights.shape
    TensorShape([2, 2])
    """

    def __init__(self, hidden_dim, score_dim=None, use_context=False, **kwargs):
        super().__init__(hidden_dim, **kwargs)
        self.score_dim = score_dim
        self.use_context = use_context

    def build(self, input_shape):
        super().build(input_shape)
        score_dim = self.score_dim or self.hidden_dim
        # With context, tanh comes after the context is added.
        self.score_hidden = keras.layers.Dense(
            score_dim,
            activation=None if self.use_context else "tanh",
            dtype=self.dtype_policy,
            name="score_hidden",
        )
        self.score_hidden.build((None, self.hidden_dim))
        if self.use_context:
            self.score_context = keras.layers.Dense(
                score_dim,
                use_bias=False,
                dtype=self.dtype_policy,
                name="score_context",
            )
            self.score_context.build((None, self.hidden_dim))
        self.score_output = keras.layers.Dense(
            1, dtype=self.dtype_policy, name="score_output"
        )
        self.score_output.build((None, score_dim))

    def call(self, inputs, modality_mask=None):
        present = self._presence(inputs, modality_mask)
        # (batch, modalities, hidden_dim)
        projected = ops.stack(self._project(inputs, present), axis=1)
        hidden = self.score_hidden(projected)
        if self.use_context:
            context = _mean_present(projected, present)
            hidden = ops.tanh(hidden + self.score_context(context))
        scores = self.score_output(hidden)[..., 0]
        weights = masked_softmax(scores, present)
        fused = ops.sum(
            ops.cast(weights, projected.dtype)[..., None] * projected, axis=1
        )
        return self._finish(fused, present), weights

    def get_config(self):
        config = super().get_config()
        config.update(score_dim=self.score_dim, use_context=self.use_context)
        return config


def _mean_present(projected, present):
    """`(batch, 1, hidden_dim)`: the mean of the present projections."""
    keep = ops.cast(present, projected.dtype)[..., None]
    count = ops.maximum(ops.sum(keep, axis=1, keepdims=True), 1.0)
    return ops.sum(projected * keep, axis=1, keepdims=True) / count
