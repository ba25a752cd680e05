"""A retrieval task's preprocessor: both towers' inputs plus item keys."""

import keras
import tensorflow as tf

from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer

# Keys are 63-bit string hashes: two different items collide with
# probability ~N^2 / 2^64, nothing at the sizes a batch has.
_KEY_BUCKETS = 2**63 - 1


@keras.saving.register_keras_serializable(package="mmkeras")
class DualEncoderPreprocessor(PreprocessingLayer):
    """Raw pairs to `(model inputs, item keys)` for a `DualEncoder`.

    Wraps a feature preprocessor (a `MultimodalPreprocessor` reading both
    towers' modalities) and adds, per modality, an int64 key that says
    which examples hold the same item: the hash of the `<modality>_id`
    field when the raw values have one (a manifest's `image_id`), else the
    hash of the raw value itself (a caption, an image's bytes). Examples
    with equal keys are the same item, so the loss does not treat them as
    each other's negatives.

    Args:
        features: a layer from raw values to model inputs, with
            `modalities` and `modality_inputs(modality, raw)`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: dict of raw values, one per modality (and optionally
            `<modality>_id` strings), for one example or a batch.

    Returns:
        `(features, keys)`: the model inputs (without presence flags), and
        a dict of int64 `<modality>_keys`.

    Example:
    >>> preprocessor = DualEncoderPreprocessor(
    ...     MultimodalPreprocessor(
    ...         tokenizer=WordPieceTokenizer(["[PAD]", "[UNK]", "hi"], 4),
    ...         image_preprocessor=ImagePreprocessor((8, 8)),
    ...     )
    ... )
    >>> png = tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8))
    >>> _, keys = preprocessor({
    ...     "image": tf.stack([png, png]),
    ...     "text": tf.constant(["hi", "hi there"]),
    ... })
    >>> bool(keys["image_keys"][0] == keys["image_keys"][1])
    True
    """

    sublayer_args = ("features",)

    def __init__(self, features, **kwargs):
        super().__init__(**kwargs)
        if len(features.modalities) != 2:
            raise ValueError(
                "A dual encoder reads exactly two modalities, received "
                f"{list(features.modalities)}."
            )
        self.features = features

    @property
    def modalities(self):
        return self.features.modalities

    @property
    def label_field(self):
        """The raw field naming each pair's gallery item (`image_id` for
        image-text pairs): what evaluation groups pairs by."""
        return f"{self.modalities[0]}_id"

    def call(self, inputs):
        # Both towers always run: a pair has both items, so the presence
        # flags a classifier needs are not model inputs here.
        features = {
            key: value
            for key, value in self.features(inputs).items()
            if not key.endswith("_present")
        }
        return features, item_keys(inputs, self.modalities)


def item_keys(inputs, modalities):
    """int64 `<modality>_keys`: hashes of the `<modality>_id` field, or of
    the raw values (a clip's frames joined)."""
    keys = {}
    for modality in modalities:
        value = inputs.get(f"{modality}_id", inputs[modality])
        value = tf.convert_to_tensor(value)
        if modality == "video" and f"{modality}_id" not in inputs:
            value = tf.strings.reduce_join(value, axis=-1)
        keys[f"{modality}_keys"] = tf.strings.to_hash_bucket_fast(
            value, _KEY_BUCKETS
        )
    return keys
