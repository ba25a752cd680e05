"""Concatenation fusion: concatenate the projections, then project."""

import keras
from keras import ops

from mmkeras.layers.modality_fusion import ModalityFusion
from mmkeras.layers.modality_fusion import normalise_over_present


@keras.saving.register_keras_serializable(package="mmkeras")
class ConcatFusion(ModalityFusion):
    """Fuses modality embeddings by concatenation and a dense projection.

    Each modality embedding `m_i` is projected to a common width,
    `p_i = W_i m_i + b_i`; a missing modality's `p_i` is all zeros. The
    output is `W [p_1, ..., p_n] + b`, a dense projection of the
    concatenation (sorted-key order) back to `hidden_dim`.

    The layer has no learned weighting of modalities: its modality weights
    are uniform over the present modalities, reported only so that every
    fusion layer has the same outputs.

    Args:
        hidden_dim: int. Width of the projected embeddings and of the output.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: dict of modality name to a `(batch, features)` tensor.
        modality_mask: optional dict of modality name to a `bool[batch]`
            tensor; False marks the modality as missing for that example,
            absent keys count as present. An example with every modality
            missing gets a zero output (not the projection's bias) and zero
            weights.

    Returns:
        A tuple `(fused, weights)`: `fused` is `(batch, hidden_dim)` in the
        compute dtype; `weights` is float32 `(batch, num_modalities)`,
        `1 / num_present` for each present modality and 0 otherwise.

    Example:
    >>> fusion = ConcatFusion(hidden_dim=8)
    >>> fused, weights = fusion(
    ...     {"image": np.ones((2, 16)), "text": np.ones((2, 4))},
    ...     modality_mask={"text": np.array([True, False])},
    ... )
    >>> np.asarray(weights).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.output_projection = keras.layers.Dense(
            self.hidden_dim, dtype=self.dtype_policy, name="output_projection"
        )
        self.output_projection.build((None, self.hidden_dim * len(input_shape)))

    def call(self, inputs, modality_mask=None):
        present = self._presence(inputs, modality_mask)
        projected = self._project(inputs, present)
        fused = self.output_projection(ops.concatenate(projected, axis=-1))
        weights = normalise_over_present(
            ops.ones_like(ops.cast(present, "float32")), present
        )
        return self._finish(fused, present), weights
