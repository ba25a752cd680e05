"""Modality dropout: hide whole modalities during training."""

import keras
from keras import ops

from mmkeras.layers.modality_fusion import presence_matrix


@keras.saving.register_keras_serializable(package="mmkeras")
class ModalityDropout(keras.layers.Layer):
    """Randomly marks whole modalities as missing while training.

    Teaches a multimodal model to cope with missing inputs: in training,
    each present modality of each example is dropped with probability
    `rate`, but an example never loses all of its present modalities (if
    the draw would drop them all, one of them, chosen uniformly at random,
    is kept; so the effective rate with `n` present modalities is
    `rate - rate**n / n`, slightly below `rate`). At inference the mask
    passes through unchanged. The output is a new `modality_mask` for a
    fusion layer.

    Draws use `keras.random` with a `SeedGenerator`, so the layer works
    inside `tf.function` and XLA-compiled training steps.

    Args:
        rate: float in [0, 1]. Probability of dropping a present modality.
        seed: int or None. Seed of the random draws, for reproducibility.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: dict of modality name to a tensor whose first axis is the
            batch (e.g. the embeddings that will be fused); gives the
            modality names and the batch size.
        modality_mask: optional dict of modality name to a `bool[batch]`
            tensor; False marks a modality as already missing. Modalities
            absent from the dict count as present.
        training: bool. Whether to drop modalities.

    Returns:
        dict of every modality name in `inputs` to a `bool[batch]` tensor,
        True where the modality is kept.

    Example:
    >>> dropout = ModalityDropout(rate=0.5, seed=0)
    >>> embeddings = {"image": np.ones((4, 8)), "text": np.ones((4, 8))}
    >>> mask = dropout(embeddings, training=True)
    >>> bool(np.all(np.asarray(mask["image"]) | np.asarray(mask["text"])))
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(
                f"ModalityDropout rate must be in [0, 1], received {rate}."
            )
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, modality_mask=None, training=None):
        if not isinstance(inputs, dict) or not inputs:
            raise ValueError(
                "ModalityDropout expects a non-empty dict of modality name to "
                f"tensor, received {type(inputs).__name__}."
            )
        names = sorted(inputs)
        present = presence_matrix(names, modality_mask, inputs[names[0]])
        if training and self.rate > 0:
            present = self._drop(present)
        return {name: present[:, i] for i, name in enumerate(names)}

    def _drop(self, present):
        shape = ops.shape(present)
        draws = keras.random.uniform(shape, seed=self.seed_generator)
        kept = ops.logical_and(present, draws >= self.rate)
        # If an example would lose every present modality, keep the present
        # one with the largest of fresh uniform draws: a uniform choice.
        choice = keras.random.uniform(shape, seed=self.seed_generator)
        choice = ops.where(present, choice, -1.0)
        chosen = ops.argmax(choice, axis=1)[:, None]
        rescued = ops.logical_and(
            present, ops.arange(present.shape[1])[None, :] == chosen
        )
        lost_all = ops.logical_and(
            ops.any(present, axis=1), ops.logical_not(ops.any(kept, axis=1))
        )
        return ops.where(lost_all[:, None], rescued, kept)

    def compute_output_shape(self, input_shape):
        batch = next(iter(input_shape.values()))[0]
        return {name: (batch,) for name in sorted(input_shape)}

    def compute_output_spec(self, inputs, modality_mask=None, training=None):
        batch = next(iter(inputs.values())).shape[0]
        return {
            name: keras.KerasTensor((batch,), "bool") for name in sorted(inputs)
        }

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
