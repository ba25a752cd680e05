"""The learned temperature (and bias) of a contrastive loss."""

import math

import keras
from keras import ops

LOSSES = ("clip", "sigmoid")
# CLIP's scale starts at 1/0.07 and is clamped so that it can neither
# flatten the softmax (< 1) nor make it a hard max (> 100).
CLIP_SCALE_INIT = 1 / 0.07
CLIP_SCALE_RANGE = (1.0, 100.0)
# SigLIP's paper starts the scale at 10 and the bias at -10, so the first
# steps see almost every pair as a negative, as they are.
SIGMOID_SCALE_INIT = 10.0
SIGMOID_BIAS_INIT = -10.0


@keras.saving.register_keras_serializable(package="mmkeras")
class LogitScale(keras.layers.Layer):
    """The scale (and bias) applied to cosine similarities before a loss.

    The scale is learned as its logarithm, so it stays positive.

    - `loss="clip"` (symmetric InfoNCE): the scale starts at 1/0.07 and is
      clamped to [1, 100]; the bias is 0 and not learned.
    - `loss="sigmoid"` (SigLIP): the scale starts at 10 and the bias at
      -10, the paper's values (keras-hub starts both at 0).

    Both are float32 variables and outputs whatever the dtype policy, so
    the logits built from them stay finite under mixed_float16.

    Args:
        loss: "clip" or "sigmoid".
        **kwargs: Base layer arguments.

    The layer holds the variables; a loss reads them with
    `scale_and_bias()`.

    Example:
    >>> scale, bias = LogitScale("sigmoid").scale_and_bias()
    >>> round(float(scale), 4), float(bias)
    (10.0, -10.0)
    """

    def __init__(self, loss="clip", **kwargs):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(
                f"loss must be one of {LOSSES}, received {loss!r}."
            )
        self.loss = loss
        scale = CLIP_SCALE_INIT if loss == "clip" else SIGMOID_SCALE_INIT
        self.log_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(scale)),
            dtype="float32",
            name="log_scale",
        )
        self.bias = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(
                SIGMOID_BIAS_INIT if loss == "sigmoid" else 0.0
            ),
            dtype="float32",
            trainable=loss == "sigmoid",
            name="bias",
        )
        self.built = True

    def scale_and_bias(self):
        """`(scale, bias)`, float32 scalars; the CLIP scale clamped."""
        scale = ops.exp(ops.cast(self.log_scale, "float32"))
        if self.loss == "clip":
            scale = ops.clip(scale, *CLIP_SCALE_RANGE)
        return scale, ops.cast(self.bias, "float32")

    def get_config(self):
        config = super().get_config()
        config.update(loss=self.loss)
        return config
