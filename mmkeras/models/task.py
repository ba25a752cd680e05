"""The Task contract: a fit-ready model that owns its preprocessing."""

import keras
from keras.src.losses.loss import scale_loss_for_distribution

from mmkeras.functional_model import FunctionalModel


class Task(FunctionalModel):
    """A functional model plus what it takes to train, save and serve it.

    The contract every mmkeras task follows (keras-hub's Backbone /
    Preprocessor / Task split):

    - `preprocessor`: one layer from a record's raw values (bytes,
      strings) to model inputs and, when the record has its targets, to
      `(inputs, targets)`. `tf.data` maps it for training, and every
      serving signature runs it, so training and serving see the same
      inputs.
    - `compile()` works with no arguments: "auto" picks the task's
      optimizer, loss and metrics.
    - `serving_signatures()` names the exported signatures: each a
      `tf.function` of raw inputs returning float32 (and string/int)
      outputs. Export asks the task; it knows no modality.
    - `serving_batches`: whether a signature's request holds a batch
      (every input's first axis is the examples'), so a server may merge
      concurrent requests into one call (TF Serving's `--enable_batching`
      concatenates them along that axis). False for a task whose request
      is one example with no batch axis: merging would join two
      examples into one.
    - `evaluate_outputs(outputs, targets)` turns a serving signature's
      outputs into the task's metrics, so a local model and a served one
      are measured the same way.
    - `device_signatures()` names what a TFLite export converts: the same
      model on the inputs a device has (decoded pixels, float waveforms,
      decoded frames, text strings), every op a TFLite builtin or a TF
      Text TFLite op. `device_inputs(raw)` makes those inputs from a batch
      of raw values, so held-out records measure the device model too.
      `unsupported_quantizations()` names the TFLite quantizations that
      would not serve the task, and why.
    - One `.keras` file reloads the whole task: weights, preprocessor (and
      with it the vocabulary and class names) and `metadata`, a JSON dict
      such as the training configuration.

    A task is built under its dtype policy (`dtype=`), so Keras adds loss
    scaling under mixed_float16; its outputs are float32.

    Args:
        preprocessor: the task's preprocessing layer.
        metadata: dict of JSON values kept with the saved task.
        *args, **kwargs: the functional `keras.Model` arguments.
    """

    serving_batches = True

    def __init__(self, *args, preprocessor=None, metadata=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.preprocessor = preprocessor
        self.metadata = dict(metadata or {})

    def default_optimizer(self):
        return keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4)

    def default_loss(self):
        raise NotImplementedError(
            f"{type(self).__name__} has no default loss; pass loss=."
        )

    def default_metrics(self):
        return []

    def replica_share(self, loss):
        """`loss` as this replica's share under `tf.distribute`.

        The replicas' gradients are summed, so Keras divides a compiled
        loss by their number; a loss a task computes itself in
        `compute_loss` must be divided the same way, or N replicas train
        with N times its gradient and report N times its value.
        """
        return scale_loss_for_distribution(loss)

    def own_loss_total(self, loss):
        """A task's own loss totalled as Keras totals a compiled one: its
        replica's share, plus the layers' added losses (`self.losses`),
        which Keras does not divide."""
        loss = self.replica_share(loss)
        if self.losses:
            loss = loss + keras.ops.cast(keras.ops.sum(self.losses), "float32")
        return loss

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile`, where "auto" means the task's defaults."""
        if optimizer == "auto":
            optimizer = self.default_optimizer()
        if loss == "auto":
            loss = self.default_loss()
        if metrics == "auto":
            metrics = self.default_metrics()
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )
        # Outside a distribution strategy, Keras builds the optimizer
        # while tracing the first training step; a `tf.function` that
        # creates variables is traced twice, so the first `fit` spent
        # twice the tracing time. A task is built when it is made, so its
        # optimizer can be built now.
        if self.built and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # Keras skips (with a warning) reviving the compile state of a
        # model whose `compile` is overridden; ours takes the same
        # arguments, so revive it as Keras would.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)

    def serving_signatures(self):
        """dict of signature name to a `tf.function` of raw inputs."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define serving signatures."
        )

    def warmup_scalars(self):
        """Values for the serving signatures' scalar inputs (e.g. a search
        signature's `k`) in warmup requests; the rest are raw examples."""
        return {}

    def evaluate_outputs(self, outputs, targets):
        """dict of metric name to float, from `serving_default` outputs."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define its evaluation."
        )

    def device_signatures(self):
        """dict of signature name to a `tf.function` of device inputs."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define device signatures."
        )

    def device_inputs(self, raw):
        """`device_signatures()`' inputs for a batch of raw values."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define device inputs."
        )

    def unsupported_quantizations(self):
        """dict of TFLite quantization (e.g. "int8") that export refuses
        for this task to the one-line reason."""
        return {}

    def get_config(self):
        config = super().get_config()
        config["preprocessor"] = (
            None
            if self.preprocessor is None
            else keras.saving.serialize_keras_object(self.preprocessor)
        )
        config["metadata"] = self.metadata
        return config

    @classmethod
    def _revive_preprocessor(cls, config):
        """Deserializes the preprocessor in a `from_config` config."""
        config = dict(config)
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(
                config["preprocessor"]
            )
        return config
