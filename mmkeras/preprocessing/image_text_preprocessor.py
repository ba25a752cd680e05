"""Raw image bytes and caption strings to the classifier's inputs."""

import keras


@keras.saving.register_keras_serializable(package="mmkeras")
class ImageTextPreprocessor(keras.layers.Layer):
    """Combines an image preprocessor and a tokenizer into model inputs.

    The one definition of preprocessing: `tf.data` maps it over examples
    for training, and the exported serving signature calls it on a batch of
    raw requests, so train/serve skew is zero by construction.

    Args:
        image_preprocessor: an `ImagePreprocessor`.
        tokenizer: a `WordPieceTokenizer`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: dict with `image` (encoded bytes) and `text` (str), both
            scalars or both `(batch,)`.

    Returns:
        dict with `images`, `token_ids` and `padding_mask`.
    """

    def __init__(self, image_preprocessor, tokenizer, **kwargs):
        super().__init__(**kwargs)
        self.image_preprocessor = image_preprocessor
        self.tokenizer = tokenizer
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def call(self, inputs):
        missing = {"image", "text"} - set(inputs)
        if missing:
            raise ValueError(
                f"ImageTextPreprocessor expects keys 'image' and 'text', "
                f"missing {sorted(missing)}."
            )
        outputs = {"images": self.image_preprocessor(inputs["image"])}
        outputs.update(self.tokenizer(inputs["text"]))
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            image_preprocessor=keras.saving.serialize_keras_object(
                self.image_preprocessor
            ),
            tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("image_preprocessor", "tokenizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
