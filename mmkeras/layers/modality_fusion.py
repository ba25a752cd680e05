"""The anatomy every fusion layer shares: projections, presence, outputs."""

import keras
from keras import ops


class ModalityFusion(keras.layers.Layer):
    """Base class of the fusion layers in `mmkeras.layers`.

    Holds what every fusion layer has in common, so each subclass contains
    only its own way of combining modalities:

    - one `Dense` projection per modality to the common width `hidden_dim`
      (`projections[name]`), built in `build()` in sorted-key order;
    - the presence matrix built from `modality_mask` (missing modalities'
      inputs and projections are zeroed, so a garbage or overflowing input
      of a missing modality can never reach the output);
    - the output contract: `(fused, modality_weights)`, `fused` is
      `(batch, hidden_dim)` in the compute dtype and exactly zero for an
      example with every modality missing, `modality_weights` is
      `(batch, num_modalities)` float32.

    Subclasses call `super().build(input_shape)` first in `build()`, and use
    `_presence()`, `_project()` and `_finish()` in `call()`. A subclass that
    fuses token sequences sets `token_level = True` and `input_rank = 3`.

    Args:
        hidden_dim: int. Width of the projected embeddings and the output.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.
    """

    token_level = False
    input_rank = 2

    def __init__(self, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        if int(hidden_dim) != hidden_dim or hidden_dim < 1:
            raise ValueError(
                f"{self.__class__.__name__} needs a positive integer "
                f"hidden_dim, received {hidden_dim!r}."
            )
        self.hidden_dim = hidden_dim

    @property
    def modality_names(self):
        return sorted(self.projections)

    def build(self, input_shape):
        layer = self.__class__.__name__
        if not isinstance(input_shape, dict) or not input_shape:
            raise ValueError(
                f"{layer} expects a non-empty dict of modality name to "
                f"tensor, received input shape {input_shape!r}."
            )
        expected = "(batch, features)"
        if self.input_rank == 3:
            expected = "(batch, tokens, features)"
        self.projections = {}
        for name in sorted(input_shape):
            shape = tuple(input_shape[name])
            if len(shape) != self.input_rank:
                hint = (
                    "Pool token sequences first, or use CrossAttentionFusion."
                    if self.input_rank == 2
                    else "Pass token sequences, e.g. an encoder's "
                    "`sequence_output`."
                )
                raise ValueError(
                    f"{layer} expects {expected} for modality '{name}', "
                    f"received shape {shape}. {hint}"
                )
            projection = keras.layers.Dense(
                self.hidden_dim,
                dtype=self.dtype_policy,
                name=f"{name}_projection",
            )
            projection.build(shape)
            self.projections[name] = projection

    def _presence(self, inputs, modality_mask):
        """bool `(batch, num_modalities)`, after checking the input keys."""
        names = self.modality_names
        if not isinstance(inputs, dict) or set(names) != set(inputs):
            received = sorted(inputs) if isinstance(inputs, dict) else inputs
            raise ValueError(
                f"{self.__class__.__name__} was built for modalities "
                f"{names}, received {received}."
            )
        return presence_matrix(names, modality_mask, inputs[names[0]])

    def _project(self, inputs, present, token_masks=None):
        """Projected inputs in sorted-key order; missing ones are zero.

        With `token_masks` (a list of bool `(batch, tokens)` in sorted-key
        order), tokens that are masked out are zeroed as well.
        """
        projected = []
        for i, name in enumerate(self.modality_names):
            x = inputs[name]
            keep = present[:, i] if token_masks is None else token_masks[i]
            for _ in range(len(x.shape) - len(keep.shape)):
                keep = ops.expand_dims(keep, -1)
            # Zeroing the input too keeps gradients finite when a missing
            # modality's placeholder input is NaN or overflows.
            x = ops.where(keep, x, ops.zeros_like(x))
            y = self.projections[name](x)
            projected.append(ops.where(keep, y, ops.zeros_like(y)))
        return projected

    def _finish(self, fused, present):
        """`fused` with exact zeros for examples that have no modality."""
        any_present = ops.any(present, axis=1)[:, None]
        return ops.where(any_present, fused, ops.zeros_like(fused))

    def compute_output_shape(self, input_shape):
        batch = next(iter(input_shape.values()))[0]
        return (batch, self.hidden_dim), (batch, len(input_shape))

    def compute_output_spec(self, inputs, **kwargs):
        batch = next(iter(inputs.values())).shape[0]
        return (
            keras.KerasTensor((batch, self.hidden_dim), self.compute_dtype),
            keras.KerasTensor((batch, len(inputs)), "float32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim)
        return config


def presence_matrix(names, modality_mask, reference):
    """bool (batch, modalities): which modalities each example has.

    `reference` is a tensor whose first axis is the batch; modalities that
    the mask dict leaves out count as present.
    """
    modality_mask = modality_mask or {}
    if not isinstance(modality_mask, dict):
        raise TypeError(
            "modality_mask must be a dict of modality name to a bool[batch] "
            f"tensor, received {type(modality_mask).__name__}."
        )
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


def normalise_over_present(values, present):
    """float32 `values / sum(values)` over the present modalities.

    `values` are non-negative `(batch, num_modalities)`. Rows whose present
    values are all zero (e.g. a float16 gate that underflowed) fall back to
    uniform weights over the present modalities; rows with nothing present
    are all zero.
    """
    present_float = ops.cast(present, "float32")
    values = ops.where(present, ops.cast(values, "float32"), 0.0)
    total = ops.sum(values, axis=1, keepdims=True)
    count = ops.sum(present_float, axis=1, keepdims=True)
    uniform = present_float / ops.maximum(count, 1.0)
    return ops.where(total > 1e-30, values / ops.maximum(total, 1e-30), uniform)
