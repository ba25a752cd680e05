"""Weighted-sum fusion: one learned weight per modality."""

import keras
from keras import ops

from mmkeras.layers.masked_softmax import masked_softmax
from mmkeras.layers.modality_fusion import ModalityFusion


@keras.saving.register_keras_serializable(package="mmkeras")
class WeightedSumFusion(ModalityFusion):
    """Fuses modality embeddings with one learned scalar weight per modality.

    Each modality embedding `m_i` is projected to a common width,
    `p_i = W_i m_i + b_i`. The layer learns one logit `l_i` per modality
    (initially 0, i.e. equal weights); the weights are
    `alpha = softmax_i(l_i)` over the modalities present in each example
    and the output is `sum_i alpha_i * p_i`. Unlike `AttentionFusion` the
    weights do not depend on the example's content: every example with the
    same modalities present gets the same `alpha`.

    Args:
        hidden_dim: int. Width of the projected embeddings and of the output.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: dict of modality name to a `(batch, features)` tensor.
        modality_mask: optional dict of modality name to a `bool[batch]`
            tensor; False marks the modality as missing for that example,
            absent keys count as present. Missing modalities get zero weight
            and the weights renormalise over the present ones; an example
            with every modality missing gets zero weights and output.

    Returns:
        A tuple `(fused, weights)`: `fused` is `(batch, hidden_dim)` in the
        compute dtype; `weights` is float32 `(batch, num_modalities)`, the
        softmax of the learned logits over the present modalities, in
        sorted-key order.

    Example:
    >>> fusion = WeightedSumFusion(hidden_dim=8)
    >>> fused, weights = fusion(
    ...     {"image": np.ones((2, 16)), "text": np.ones((2, 4))},
    ...     modality_mask={"text": np.array([True, False])},
    ... )
    >>> np.asarray(weights).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.modality_logits = self.add_weight(
            shape=(len(input_shape),),
            initializer="zeros",
            dtype=self.variable_dtype,
            # Read in float32 under mixed precision: the softmax is float32.
            autocast=False,
            name="modality_logits",
        )

    def call(self, inputs, modality_mask=None):
        present = self._presence(inputs, modality_mask)
        # (batch, modalities, hidden_dim)
        projected = ops.stack(self._project(inputs, present), axis=1)
        logits = ops.broadcast_to(
            self.modality_logits[None, :],
            ops.shape(present),
        )
        weights = masked_softmax(logits, present)
        fused = ops.sum(
            ops.cast(weights, projected.dtype)[..., None] * projected, axis=1
        )
        return self._finish(fused, present), weights
