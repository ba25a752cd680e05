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

    Modalities are processed in sorted-key order, so `alpha[:, i]` belongs
    to the i-th modality name in sorted order (see `modality_names`).

    Args:
        hidden_dim: int. Width of the projected embeddings and of the output.
        score_dim: int. Width of the hidden layer of the scoring network.
            Defaults to `hidden_dim`.
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

    def __init__(self, hidden_dim, score_dim=None, **kwargs):
        super().__init__(hidden_dim, **kwargs)
        self.score_dim = score_dim

    def build(self, input_shape):
        super().build(input_shape)
        score_dim = self.score_dim or self.hidden_dim
        self.score_hidden = keras.layers.Dense(
            score_dim,
            activation="tanh",
            dtype=self.dtype_policy,
            name="score_hidden",
        )
        self.score_hidden.build((None, self.hidden_dim))
        self.score_output = keras.layers.Dense(
            1, dtype=self.dtype_policy, name="score_output"
        )
        self.score_output.build((None, score_dim))

    def call(self, inputs, modality_mask=None):
        present = self._presence(inputs, modality_mask)
        # (batch, modalities, hidden_dim)
        projected = ops.stack(self._project(inputs, present), axis=1)
        scores = self.score_output(self.score_hidden(projected))[..., 0]
        weights = masked_softmax(scores, present)
        fused = ops.sum(
            ops.cast(weights, projected.dtype)[..., None] * projected, axis=1
        )
        return self._finish(fused, present), weights

    def get_config(self):
        config = super().get_config()
        config.update(score_dim=self.score_dim)
        return config
