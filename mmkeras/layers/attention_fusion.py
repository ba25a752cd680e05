"""Attention fusion: a per-example convex combination of modality embeddings."""

import keras
from keras import ops

from mmkeras.layers.masked_softmax import masked_softmax


@keras.saving.register_keras_serializable(package="mmkeras")
class AttentionFusion(keras.layers.Layer):
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
        A tuple `(fused, weights)`: `fused` is `(batch, hidden_dim)` and
        `weights` is `(batch, num_modalities)`, float32 under every dtype
        policy so that the weights always sum to exactly 1.

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
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.score_dim = score_dim

    @property
    def modality_names(self):
        return sorted(self.projections)

    def build(self, input_shape):
        if not isinstance(input_shape, dict) or not input_shape:
            raise ValueError(
                "AttentionFusion expects a non-empty dict of modality name "
                f"to tensor, received input shape {input_shape!r}."
            )
        self.projections = {}
        for name in sorted(input_shape):
            shape = input_shape[name]
            if len(shape) != 2:
                raise ValueError(
                    f"AttentionFusion expects (batch, features) for modality "
                    f"'{name}', received shape {tuple(shape)}. Pool token "
                    "sequences first, or use CrossAttentionFusion."
                )
            projection = keras.layers.Dense(
                self.hidden_dim,
                dtype=self.dtype_policy,
                name=f"{name}_projection",
            )
            projection.build(shape)
            self.projections[name] = projection
        self.score_hidden = keras.layers.Dense(
            self.score_dim or self.hidden_dim,
            activation="tanh",
            dtype=self.dtype_policy,
            name="score_hidden",
        )
        self.score_hidden.build((None, self.hidden_dim))
        self.score_output = keras.layers.Dense(
            1, dtype=self.dtype_policy, name="score_output"
        )
        self.score_output.build((None, self.score_dim or self.hidden_dim))

    def call(self, inputs, modality_mask=None):
        names = self.modality_names
        missing = set(names) ^ set(inputs)
        if missing:
            raise ValueError(
                f"AttentionFusion was built for modalities {names}, received "
                f"{sorted(inputs)}."
            )
        # (batch, modalities, hidden_dim)
        projected = ops.stack(
            [self.projections[name](inputs[name]) for name in names], axis=1
        )
        scores = self.score_output(self.score_hidden(projected))[..., 0]
        present = presence_matrix(names, modality_mask, projected)
        weights = masked_softmax(scores, present)
        fused = ops.sum(
            ops.cast(weights, projected.dtype)[..., None] * projected, axis=1
        )
        return fused, weights

    def compute_output_shape(self, input_shape):
        batch = next(iter(input_shape.values()))[0]
        return (batch, self.hidden_dim), (batch, len(input_shape))

    def compute_output_spec(self, inputs, modality_mask=None):
        batch = next(iter(inputs.values())).shape[0]
        return (
            keras.KerasTensor((batch, self.hidden_dim), self.compute_dtype),
            keras.KerasTensor((batch, len(inputs)), "float32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, score_dim=self.score_dim)
        return config


def presence_matrix(names, modality_mask, reference):
    """bool (batch, modalities): which modalities each example has.

    `reference` is a (batch, modalities, ...) tensor giving the batch size
    for modalities that the mask dict leaves out (they count as present).
    """
    modality_mask = modality_mask or {}
    unknown = set(modality_mask) - set(names)
    if unknown:
        raise ValueError(
            f"modality_mask has keys {sorted(unknown)} that are not among the "
            f"fused modalities {names}."
        )
    all_present = ops.ones(ops.shape(reference)[:1], dtype="bool")
    columns = []
    for name in names:
        column = modality_mask.get(name)
        if column is None:
            columns.append(all_present)
        else:
            columns.append(ops.reshape(ops.cast(column, "bool"), (-1,)))
    return ops.stack(columns, axis=1)
