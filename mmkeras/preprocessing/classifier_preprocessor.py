"""A classification task's preprocessor: features plus label ids."""

import keras
import tensorflow as tf

from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer


@keras.saving.register_keras_serializable(package="mmkeras")
class ClassifierPreprocessor(PreprocessingLayer):
    """Raw record values to `(model inputs, label id)`, or model inputs.

    Wraps a feature preprocessor (e.g. `MultimodalPreprocessor`) and owns
    the class names, so a saved classifier carries them: a label's id is
    its index in `class_names`.

    Args:
        features: a layer from raw values to model inputs.
        class_names: list of str, the labels in id order.
        label_field: str. The raw value holding the label.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: dict of raw values. With a `label_field` key (training,
            evaluation) the result is `(features, label_ids)`; without it
            (serving) only the features.

    Example:
    >>> preprocessor = ClassifierPreprocessor(
    ...     MultimodalPreprocessor(
    ...         tokenizer=WordPieceTokenizer(["[PAD]", "[UNK]", "hi"], 4)
    ...     ),
    ...     class_names=["cat", "dog"],
    ... )
    >>> raw = {"text": tf.constant(["hi", ""])}
    >>> raw["label"] = tf.constant(["dog", "cat"])
    >>> _, label_ids = preprocessor(raw)
    >>> label_ids.numpy()
    array([1, 0], dtype=int32)
    """

    sublayer_args = ("features",)

    def __init__(self, features, class_names, label_field="label", **kwargs):
        super().__init__(**kwargs)
        class_names = [str(name) for name in class_names]
        if len(class_names) < 2 or len(set(class_names)) != len(class_names):
            raise ValueError(
                "class_names must hold at least two distinct names, "
                f"received {class_names!r}."
            )
        self.features = features
        self.class_names = class_names
        self.label_field = label_field

    @property
    def modalities(self):
        return self.features.modalities

    def label_ids(self, labels):
        """int32 ids of string labels; an unknown label fails, named."""
        labels = tf.convert_to_tensor(labels)
        matches = tf.equal(labels[..., None], tf.constant(self.class_names))
        known = tf.reduce_all(tf.reduce_any(matches, axis=-1))
        check = tf.debugging.Assert(
            known,
            [
                tf.strings.format(
                    "Unknown label in {}; the classes are "
                    + ", ".join(self.class_names),
                    tf.reshape(labels, [-1]),
                    summarize=8,
                )
            ],
        )
        with tf.control_dependencies([check]):
            return tf.argmax(matches, axis=-1, output_type=tf.int32)

    def call(self, inputs):
        features = self.features(inputs)
        if self.label_field not in inputs:
            return features
        return features, self.label_ids(inputs[self.label_field])

    def get_config(self):
        config = super().get_config()
        config.update(
            class_names=self.class_names, label_field=self.label_field
        )
        return config
