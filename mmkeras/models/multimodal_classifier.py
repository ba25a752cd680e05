"""A classification task on top of a multimodal backbone."""

import keras

from mmkeras.functional_model import FunctionalModel
from mmkeras.models.multimodal_backbone import MultimodalBackbone


@keras.saving.register_keras_serializable(package="mmkeras")
class MultimodalClassifier(FunctionalModel):
    """Predicts one of `num_classes` labels from the fused embedding.

    A functional model ready for `compile`/`fit`: its single output is the
    float32 logits (float32 even under a mixed precision policy, so the
    loss is computed at full precision). `call_with_modality_weights` gives
    the fusion weights too, for inference and export.

    Args:
        backbone: a `MultimodalBackbone`.
        num_classes: int. Number of labels.
        hidden_dim: int. Width of the head's hidden layer.
        dropout: float. Dropout before the head.
        **kwargs: Base model arguments, e.g. `name`.

    Example:
    >>> classifier = MultimodalClassifier(backbone, num_classes=3)
    >>> classifier.compile(
    ...     optimizer="adam",
    ...     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...     metrics=["accuracy"],
    ... )
    >>> classifier.fit(dataset, epochs=5)
    """

    def __init__(
        self, backbone, num_classes, hidden_dim=64, dropout=0.1, **kwargs
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
        # The head computes in the fusion's policy; logits stay float32.
        policy = backbone.fusion.dtype_policy
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
        inputs = backbone.input
        logits = head(backbone(inputs)["fused"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.dropout = dropout

    def call_with_modality_weights(self, inputs, training=False):
        """Returns `(logits, modality_weights)` for a dict of model inputs."""
        features = self.backbone(inputs, training=training)
        logits = self.head(features["fused"], training=training)
        return logits, features["modality_weights"]

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(
            config["backbone"]
        )
        return cls(**config)
