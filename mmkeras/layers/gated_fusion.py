"""Gated fusion: learned per-feature sigmoid gates on each modality."""

import keras
from keras import ops

from mmkeras.layers.modality_fusion import ModalityFusion
from mmkeras.layers.modality_fusion import normalise_over_present


@keras.saving.register_keras_serializable(package="mmkeras")
class GatedFusion(ModalityFusion):
    """Fuses modality embeddings with learned, per-feature sigmoid gates.

    Each modality embedding `m_i` is projected to a common width,
    `p_i = W_i m_i + b_i` (all zeros for a missing modality). One dense
    layer on the concatenation `c = [p_1, ..., p_n]` (sorted-key order)
    gives a gate for every modality and feature,
    `g_i = sigmoid(G_i c + h_i)`, so each modality's gate can depend on
    what the others say. The output is `sum_i g_i * p_i` over the present
    modalities. Gates do not sum to 1: a feature can be taken from several
    modalities, or from none.

    Args:
        hidden_dim: int. Width of the projected embeddings and of the output.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: dict of modality name to a `(batch, features)` tensor.
        modality_mask: optional dict of modality name to a `bool[batch]`
            tensor; False marks the modality as missing for that example,
            absent keys count as present. Missing modalities contribute
            nothing; an example with every modality missing gets zero output
            and weights.

    Returns:
        A tuple `(fused, weights)`: `fused` is `(batch, hidden_dim)` in the
        compute dtype; `weights` is float32 `(batch, num_modalities)`, each
        present modality's mean gate normalised to sum to 1 over the
        present modalities (uniform if every present gate is 0), and 0 for
        missing ones.

    Example:
    >>> fusion = GatedFusion(hidden_dim=8)
    >>> fused, weights = fusion(
    ...     {"image": np.ones((2, 16)), "text": np.ones((2, 4))},
    ...     modality_mask={"text": np.array([True, False])},
    ... )
    >>> fused.shape, np.asarray(weights)[1].tolist()
    (TensorShape([2, 8]), [1.0, 0.0])
    """

    def build(self, input_shape):
        super().build(input_shape)
        width = self.hidden_dim * len(input_shape)
        self.gate = keras.layers.Dense(
            width, activation="sigmoid", dtype=self.dtype_policy, name="gate"
        )
        self.gate.build((None, width))

    def call(self, inputs, modality_mask=None):
        present = self._presence(inputs, modality_mask)
        projected = self._project(inputs, present)
        gates = self.gate(ops.concatenate(projected, axis=-1))
        # (batch, modalities, hidden_dim), modalities in sorted-key order.
        gates = ops.reshape(gates, (-1, len(projected), self.hidden_dim))
        # Missing modalities' projections are zero, so they add nothing.
        fused = ops.sum(gates * ops.stack(projected, axis=1), axis=1)
        mean_gates = ops.mean(ops.cast(gates, "float32"), axis=-1)
        weights = normalise_over_present(mean_gates, present)
        return self._finish(fused, present), weights
