"""Image bytes to model-ready pixels, in TF ops."""

import keras
import tensorflow as tf

from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer

# An empty value stands for a missing image; it becomes this grey level,
# which scales to 0 (the model ignores it through a presence flag).
MISSING_PIXEL = 127.5


@keras.saving.register_keras_serializable(package="mmkeras")
class ImagePreprocessor(PreprocessingLayer):
    """Decodes PNG/JPEG bytes, resizes and scales pixels to [-1, 1].

    Made of TF ops only, so one instance serves `tf.data.Dataset.map`
    (scalar inputs, one image per call) and an exported serving signature
    (a batch of encoded images). Greyscale and RGBA images become RGB.

    Args:
        image_size: tuple of int `(height, width)` of the output.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: a string tensor of encoded PNG/JPEG bytes, scalar `()` or
            batched `(batch,)`; or already decoded uint8/float pixels
            `(..., height, width, channels)` in [0, 255], which are only
            resized and scaled.

    Returns:
        float32 pixels `(height, width, 3)` or `(batch, height, width, 3)`.

    Example:
    >>> png = tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8))
    >>> ImagePreprocessor(image_size=(4, 4))(png).shape
    TensorShape([4, 4, 3])
    """

    def __init__(self, image_size, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.image_size = tuple(int(x) for x in image_size)
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(
                "image_size must be (height, width) with positive sizes, "
                f"received {image_size!r}."
            )

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype == tf.string:
            if inputs.shape.rank == 0:
                pixels = self._decode(inputs)
            elif inputs.shape.rank == 1:
                pixels = tf.map_fn(
                    self._decode,
                    inputs,
                    fn_output_signature=tf.TensorSpec(
                        self.image_size + (3,), tf.float32
                    ),
                )
            else:
                raise ValueError(
                    "ImagePreprocessor expects encoded images as a scalar or a "
                    f"(batch,) string tensor, received shape {inputs.shape}."
                )
        else:
            pixels = tf.image.resize(
                tf.cast(inputs, tf.float32), self.image_size, antialias=True
            )
        return pixels / 127.5 - 1.0

    def _decode(self, encoded):
        return tf.cond(
            tf.strings.length(encoded) > 0,
            lambda: self._decode_present(encoded),
            lambda: tf.fill(self.image_size + (3,), MISSING_PIXEL),
        )

    def _decode_present(self, encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image = tf.image.resize(
            tf.cast(image, tf.float32), self.image_size, antialias=True
        )
        return tf.ensure_shape(image, self.image_size + (3,))

    def compute_output_spec(self, inputs):
        if inputs.dtype == "string":
            shape = tuple(inputs.shape) + self.image_size + (3,)
        else:
            shape = tuple(inputs.shape[:-3]) + self.image_size + (3,)
        return keras.KerasTensor(shape, "float32")

    def get_config(self):
        config = super().get_config()
        config.update(image_size=self.image_size)
        return config
