"""A classification task on top of a multimodal backbone."""

import keras
import numpy as np
import tensorflow as tf

from mmkeras.models.device_inputs import device_input_specs
from mmkeras.models.device_inputs import to_device_inputs
from mmkeras.models.device_inputs import to_model_inputs
from mmkeras.models.multimodal_backbone import MultimodalBackbone
from mmkeras.models.task import Task

# TF Serving's Classify RPC reads these names from a "classify" signature.
CLASSIFY_INPUT = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"


@keras.saving.register_keras_serializable(package="mmkeras")
class MultimodalClassifier(Task):
    """Predicts one of `num_classes` labels from the fused embedding.

    A `Task`: `compile()` defaults to AdamW, sparse categorical
    cross-entropy and accuracy, and with a `ClassifierPreprocessor` it
    serves raw inputs and class names. `call_with_modality_weights` gives
    the fusion weights too.

    Beside the fused head, each modality has a head of its own on its
    encoder's pooled output. With `auxiliary_loss_weight > 0` training
    adds their cross-entropy (over the examples where that modality is
    present), so every encoder learns to classify on its own. Without it,
    a fused model tends to lean on the modality that learns fastest and
    leave a slower one (here, images) untrained: see the README's fusion
    measures. The loss and metrics are those of the fused `logits`.

    Args:
        backbone: a `MultimodalBackbone`.
        num_classes: int. Number of labels.
        hidden_dim: int. Width of the head's hidden layer.
        dropout: float. Dropout before the head.
        auxiliary_loss_weight: float. Weight of the per-modality heads'
            loss; 0 trains the fused head alone.
        modality_evidence: bool. Add the per-modality heads' evidence,
            weighted by the fusion's per-example modality weights, to the
            fused logits (see `weighted_evidence`).
        preprocessor: a `ClassifierPreprocessor` or None.
        metadata: dict of JSON values saved with the task.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Outputs:
        dict with `logits` `(batch, num_classes)`, `modality_logits`
        `(batch, num_modalities, num_classes)` and `modality_weights`
        `(batch, num_modalities)` (sorted modality order), float32 under
        every dtype policy, so losses are computed at full precision.

    Example:
    >>> backbone = MultimodalBackbone(
    ...     {"text": TextEncoder(50, sequence_length=8, hidden_dim=16)},
    ...     AttentionFusion(hidden_dim=16),
    ... )
    >>> classifier = MultimodalClassifier(backbone, num_classes=3)
    >>> classifier.compile()
    >>> token_ids = np.ones((4, 8), "int32")
    >>> inputs = {"token_ids": token_ids, "padding_mask": token_ids > 0}
    >>> history = classifier.fit(inputs, np.array([0, 1, 2, 1]), verbose=0)
    >>> classifier.predict(inputs, verbose=0)["logits"].shape
    (4, 3)
    """

    def __init__(
        self,
        backbone,
        num_classes,
        hidden_dim=64,
        dropout=0.1,
        auxiliary_loss_weight=0.0,
        modality_evidence=True,
        preprocessor=None,
        metadata=None,
        **kwargs,
    ):
        if not isinstance(backbone, MultimodalBackbone):
            raise TypeError(
                "MultimodalClassifier expects a MultimodalBackbone, received "
                f"{type(backbone).__name__}."
            )
        if num_classes < 2:
            raise ValueError(
                f"num_classes must be >= 2, received {num_classes}."
            )
        class_names = getattr(preprocessor, "class_names", None)
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"The preprocessor has {len(class_names)} class names but "
                f"num_classes is {num_classes}."
            )
        policy = kwargs.get("dtype") or backbone.dtype_policy
        head = keras.Sequential(
            [
                keras.layers.Dropout(dropout, dtype=policy),
                keras.layers.Dense(
                    hidden_dim, activation="relu", dtype=policy, name="hidden"
                ),
                keras.layers.Dense(num_classes, dtype="float32", name="logits"),
            ],
            name="head",
        )
        modality_heads = {
            m: keras.layers.Dense(
                num_classes, dtype="float32", name=f"{m}_logits"
            )
            for m in backbone.modality_names
        }
        inputs = backbone.input
        features = backbone(inputs)
        modality_logits = keras.ops.stack(
            [
                modality_heads[m](features["modality_features"][m])
                for m in backbone.modality_names
            ],
            axis=1,
        )
        logits = head(features["fused"])
        if modality_evidence:
            # The heads learn from their own losses only: the fused loss
            # would make them co-adapt and lose their calibration, which is
            # what makes their evidence add up.
            logits = logits + weighted_evidence(
                keras.ops.stop_gradient(modality_logits),
                features["modality_weights"],
            )
        super().__init__(
            inputs=inputs,
            outputs={
                "logits": logits,
                "modality_logits": modality_logits,
                "modality_weights": features["modality_weights"],
            },
            preprocessor=preprocessor,
            metadata=metadata,
            **kwargs,
        )
        self.backbone = backbone
        self.head = head
        self.modality_heads = modality_heads
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.auxiliary_loss_weight = auxiliary_loss_weight
        self.modality_evidence = modality_evidence

    @property
    def class_names(self):
        """The labels in id order (from the preprocessor), or ids as str."""
        names = getattr(self.preprocessor, "class_names", None)
        return list(names or [str(i) for i in range(self.num_classes)])

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = super().compute_loss(
            x, y, y_pred["logits"], sample_weight, training
        )
        if y is None:
            return loss
        # Added even at weight 0, so the heads get (zero) gradients rather
        # than none, which the optimizer warns about at every step.
        modality_loss = self._modality_loss(x, y, y_pred["modality_logits"])
        # Keras has divided the compiled loss among the replicas; the
        # heads' loss is divided the same way.
        return loss + self.auxiliary_loss_weight * self.replica_share(
            modality_loss
        )

    def _modality_loss(self, x, y, modality_logits):
        """Sum over modalities of each head's mean cross-entropy where its
        modality is present: each encoder learns as if trained alone."""
        names = self.backbone.modality_names
        labels = keras.ops.repeat(
            keras.ops.expand_dims(y, 1), len(names), axis=1
        )
        losses = keras.losses.sparse_categorical_crossentropy(
            labels, modality_logits, from_logits=True
        )
        present = keras.ops.stack(
            [
                keras.ops.cast(
                    x.get(f"{m}_present", keras.ops.ones_like(y)), "float32"
                )
                for m in names
            ],
            axis=1,
        )
        per_modality = keras.ops.sum(losses * present, axis=0)
        counts = keras.ops.maximum(keras.ops.sum(present, axis=0), 1.0)
        return keras.ops.sum(per_modality / counts)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(
            x, y, y_pred["logits"], sample_weight=sample_weight
        )

    def call_with_modality_weights(self, inputs, training=False):
        """Returns `(logits, modality_weights)` for a dict of model inputs."""
        outputs = self(inputs, training=training)
        return outputs["logits"], outputs["modality_weights"]

    def predict_raw(self, raw):
        """`serving_default`'s outputs for a batch of raw values (eager)."""
        features = self.preprocessor.features(raw)
        _check_some_modality(features, self.preprocessor.modalities)
        logits, weights = self.call_with_modality_weights(features)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        class_ids = tf.argmax(probabilities, axis=-1)
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "class_names": tf.gather(tf.constant(self.class_names), class_ids),
            "modality_weights": tf.cast(weights, tf.float32),
        }

    def serving_signatures(self):
        """`serving_default` (raw values per modality) and `classify`.

        `serving_default` takes one DT_STRING `(batch,)` input per modality
        (`video`: `(batch, frames)` of encoded frames, "" padding) and
        returns `probabilities`, `class_ids`, `class_names` and
        `modality_weights` (sorted modality order). An empty value is a
        missing modality; an example with every value empty is an
        INVALID_ARGUMENT. `classify` takes serialized `tf.Example`s with
        one bytes feature per modality, for TF Serving's Classify RPC, and
        returns `classes` and `scores`.
        """
        if self.preprocessor is None:
            raise ValueError(
                "This classifier has no preprocessor, so it cannot serve raw "
                "inputs; build it with preprocessor=ClassifierPreprocessor."
            )
        features = self.preprocessor.features
        modalities = features.modalities

        @tf.function(input_signature=[features.raw_input_specs()])
        def serve(raw):
            return self.predict_raw(raw)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUT)
            ]
        )
        def classify(serialized):
            outputs = self.predict_raw(parse_examples(serialized, modalities))
            scores = outputs["probabilities"]
            names = tf.broadcast_to(
                tf.constant(self.class_names), tf.shape(scores)
            )
            return {CLASSIFY_CLASSES: names, CLASSIFY_SCORES: scores}

        return {"serving_default": serve, "classify": classify}

    def evaluate_outputs(self, outputs, targets):
        """Accuracy and log loss of `serving_default` outputs.

        Args:
            outputs: dict with `probabilities` `(examples, classes)`.
            targets: sequence of label strings, one per example.
        """
        names = self.class_names
        truth = np.array([names.index(str(t)) for t in targets])
        probabilities = np.asarray(outputs["probabilities"], np.float64)
        predicted = probabilities.argmax(axis=1)
        true_probability = probabilities[np.arange(len(truth)), truth]
        return {
            "examples": len(truth),
            "accuracy": float(np.mean(predicted == truth)),
            "log_loss": float(-np.mean(np.log(true_probability + 1e-12))),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
            "auxiliary_loss_weight": self.auxiliary_loss_weight,
            "modality_evidence": self.modality_evidence,
        }

    @classmethod
    def from_config(cls, config):
        config = cls._revive_preprocessor(config)
        config["backbone"] = keras.saving.deserialize_keras_object(
            config["backbone"]
        )
        return cls(**config)

    def device_signatures(self):
        """`serving_default` on the inputs a device has, for TFLite.

        Inputs, each batched: `images` float32 pixels in [0, 255] at the
        model's image size `(batch, height, width, 3)` (the device decodes
        and resizes); `text` strings; `audio_waveform` float32 `(batch,
        samples)` at the model's sample rate and clip length, with
        `audio_mask` (False on padding); `video_frames` float32 pixels
        `(batch, frames, height, width, 3)` with `frame_mask`; and a bool
        `<modality>_present` per modality (False: missing, and its other
        inputs are ignored). Returns `probabilities`, `class_ids` and
        `modality_weights` as `serving_default` does; the class names are
        `class_names`, in id order.
        """
        if self.preprocessor is None:
            raise ValueError(
                "This classifier has no preprocessor, so it has no "
                "tokenizer or input sizes for a device; build it with "
                "preprocessor=ClassifierPreprocessor."
            )
        tokenizer = self.preprocessor.features.tokenizer

        @tf.function(input_signature=[self._device_input_specs()])
        def serve(inputs):
            features = to_model_inputs(inputs, tokenizer)
            logits, weights = self.call_with_modality_weights(features)
            probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
            return {
                "probabilities": probabilities,
                "class_ids": tf.argmax(probabilities, axis=-1),
                "modality_weights": tf.cast(weights, tf.float32),
            }

        return {"serving_default": serve}

    def device_inputs(self, raw):
        """The device signature's inputs for a batch of raw values.

        The preprocessor decodes them as `serving_default` does; pixels go
        back from [-1, 1] to [0, 255] and captions stay strings.
        """
        features = self.preprocessor.features(raw)
        text = raw["text"] if "text" in self.preprocessor.modalities else None
        return to_device_inputs(features, text)

    def _device_input_specs(self):
        features = self.preprocessor.features
        return {
            **{
                f"{m}_present": tf.TensorSpec([None], tf.bool, f"{m}_present")
                for m in features.modalities
            },
            **device_input_specs(features),
        }


def weighted_evidence(modality_logits, modality_weights):
    """Each modality's log-probabilities, weighted per example, summed.

    `sum_i n * alpha_i * log_softmax(logits_i)`, where `alpha` are the
    fusion's modality weights (zero for a missing modality, summing to one
    over the present ones) and `n` the number of present modalities. With
    equal weights this is the product of the per-modality classifiers
    (naive Bayes: independent evidence adds up); the fusion's weights
    learn, per example, how far to trust each one (a degraded image, a
    noisy clip), which a mean of probabilities cannot do.

    Example:
    >>> logits = np.log(np.array([[[0.9, 0.1], [0.4, 0.6]]], "float32"))
    >>> weights = np.array([[0.5, 0.5]], "float32")
    >>> evidence = weighted_evidence(logits, weights)
    >>> np.round(np.exp(np.asarray(evidence)), 2)
    array([[0.36, 0.06]], dtype=float32)
    """
    log_probabilities = keras.ops.log_softmax(modality_logits, axis=-1)
    weights = keras.ops.cast(modality_weights, "float32")
    present = keras.ops.sum(
        keras.ops.cast(weights > 0, "float32"), axis=1, keepdims=True
    )
    scale = (weights * present)[..., None]
    return keras.ops.sum(scale * log_probabilities, axis=1)


def _check_some_modality(features, modalities):
    present = tf.stack([features[f"{m}_present"] for m in modalities], axis=1)
    tf.debugging.Assert(
        tf.reduce_all(tf.reduce_any(present, axis=1)),
        [
            "An example has every input empty ("
            + ", ".join(modalities)
            + "): an empty value means a missing modality, and at least one "
            "is needed."
        ],
    )


def parse_examples(serialized, modalities):
    """Raw values per modality from serialized `tf.Example`s.

    Each modality is a bytes feature (`video`: one value per frame); a
    feature left out is an empty (missing) value.
    """
    spec = {
        m: tf.io.FixedLenFeature([], tf.string, default_value="")
        for m in modalities
        if m != "video"
    }
    if "video" in modalities:
        spec["video"] = tf.io.VarLenFeature(tf.string)
    parsed = tf.io.parse_example(serialized, spec)
    if "video" in parsed:
        parsed["video"] = tf.sparse.to_dense(parsed["video"], default_value="")
    return parsed
