"""Image bytes to model-ready pixels, in TF ops."""

import keras
import tensorflow as tf

from mmkeras.preprocessing import decode_limits
from mmkeras.preprocessing.media_headers import graph_when_eager
from mmkeras.preprocessing.media_headers import image_header
from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer

# An empty value stands for a missing image; it becomes this grey level,
# which scales to 0 (the model ignores it through a presence flag).
MISSING_PIXEL = 127.5


@keras.saving.register_keras_serializable(package="mmkeras")
class ImagePreprocessor(PreprocessingLayer):
    """Decodes PNG/JPEG/GIF/BMP bytes, resizes and scales pixels to [-1, 1].

    Made of TF ops only, so one instance serves `tf.data.Dataset.map`
    (scalar inputs, one image per call) and an exported serving signature
    (a batch of encoded images). Greyscale and RGBA images become RGB; an
    animated GIF gives its first frame. An empty string is a missing
    image (mid-grey, 0 once scaled).

    Nothing is decoded before every image's header has been read: an
    image over `max_pixels`, a call over `max_batch_pixels`, a truncated
    header or another format fails with `tf.errors.InvalidArgumentError`
    naming the image, its size and the limit, so no input can make the
    decoder allocate more than the limits allow.

    Args:
        image_size: tuple of int `(height, width)` of the output.
        max_pixels: int or None. Most pixels one image may decode to (a
            GIF: all its frames); None: 2048 x 2048.
        max_batch_pixels: int or None. Most pixels of all the images of
            one call; None: four times `max_pixels`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: a string tensor of encoded images, scalar `()` or batched
            `(batch,)`; or already decoded uint8/float pixels
            `(..., height, width, channels)` in [0, 255], which are only
            resized and scaled.

    Returns:
        float32 pixels `(height, width, 3)` or `(batch, height, width, 3)`.

    Example:
    >>> png = tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8))
    >>> ImagePreprocessor(image_size=(4, 4))(png).shape
    TensorShape([4, 4, 3])
    >>> try:
    ...     ImagePreprocessor((4, 4), max_pixels=32)(png)
    ... except tf.errors.InvalidArgumentError as error:
    ...     print("8x8 = 64 pixels, over the limit of 32" in str(error))
    True
    """

    limit_args = ("max_pixels", "max_batch_pixels")

    def __init__(
        self, image_size, max_pixels=None, max_batch_pixels=None, **kwargs
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.image_size = tuple(int(x) for x in image_size)
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(
                "image_size must be (height, width) with positive sizes, "
                f"received {image_size!r}."
            )
        self.max_pixels, self.max_batch_pixels = pixel_limits(
            max_pixels, max_batch_pixels
        )
        self.check_limits()

    def check_limits(self):
        check_pixel_limits(self.max_pixels, self.max_batch_pixels)

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            pixels = tf.image.resize(
                tf.cast(inputs, tf.float32), self.image_size, antialias=True
            )
            return pixels / 127.5 - 1.0
        if inputs.shape.rank not in (0, 1):
            raise ValueError(
                "ImagePreprocessor expects encoded images as a scalar or a "
                f"(batch,) string tensor, received shape {inputs.shape}."
            )
        if inputs.shape.rank == 0:
            pixels = decode_image(
                inputs, "image", self.image_size, self.max_pixels
            )
        else:
            pixels = decode_images(
                inputs,
                decode_limits.indexed_names("image", tf.size(inputs)),
                self.image_size,
                self.max_pixels,
                self.max_batch_pixels,
            )
        return pixels / 127.5 - 1.0

    def compute_output_spec(self, inputs):
        if inputs.dtype == "string":
            shape = tuple(inputs.shape) + self.image_size + (3,)
        else:
            shape = tuple(inputs.shape[:-3]) + self.image_size + (3,)
        return keras.KerasTensor(shape, "float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            max_pixels=self.max_pixels,
            max_batch_pixels=self.max_batch_pixels,
        )
        return config


def pixel_limits(max_pixels, max_batch_pixels):
    """`(max_pixels, max_batch_pixels)`, a None replaced by its default."""
    max_pixels = max_pixels or decode_limits.DEFAULT_MAX_PIXELS
    max_batch_pixels = max_batch_pixels or (
        decode_limits.default_max_batch_pixels(max_pixels)
    )
    return max_pixels, max_batch_pixels


def check_pixel_limits(max_pixels, max_batch_pixels):
    decode_limits.positive_limit(max_pixels, "max_pixels")
    decode_limits.positive_limit(max_batch_pixels, "max_batch_pixels")
    if max_batch_pixels < max_pixels:
        raise ValueError(
            f"max_batch_pixels ({max_batch_pixels}) must be at least "
            f"max_pixels ({max_pixels}), or no image could pass."
        )


@graph_when_eager
def decode_image(encoded, name, image_size, max_pixels):
    """Decodes and resizes one encoded image, once its header is checked.

    Args:
        encoded: scalar string of PNG/JPEG/GIF/BMP bytes, "" for missing.
        name: str or string scalar, the image's name in error messages.
        image_size: tuple `(height, width)` of the output.
        max_pixels: int. Most pixels the image may decode to.

    Returns:
        float32 `(height, width, 3)` in [0, 255], `MISSING_PIXEL` where
        the input is empty.
    """

    def present():
        checked = _checked_pixels(encoded, name, max_pixels)
        with tf.control_dependencies([checked]):
            return _decode_present(encoded, image_size)

    return tf.cond(
        tf.strings.length(encoded) > 0,
        present,
        lambda: tf.fill(image_size + (3,), MISSING_PIXEL),
    )


@graph_when_eager
def decode_images(
    encoded, names, image_size, max_pixels, max_batch_pixels, kind="images"
):
    """Decodes and resizes a vector of encoded images, within limits.

    Every header is read and checked first, then the total; only then is
    any image decoded.

    Args:
        encoded: string `(n,)` of PNG/JPEG/GIF/BMP bytes, "" for missing.
        names: string `(n,)`, each image's name in error messages, e.g.
            "image 3" or "video 1, frame 4".
        image_size: tuple `(height, width)` of the output.
        max_pixels: int. Most pixels per image.
        max_batch_pixels: int. Most pixels over the `n` images.
        kind: str. What the `n` images are, in error messages.

    Returns:
        float32 `(n, height, width, 3)` in [0, 255], `MISSING_PIXEL`
        where the input is empty.
    """

    def measure(args):
        value, name = args
        return tf.cond(
            tf.strings.length(value) > 0,
            lambda: _checked_pixels(value, name, max_pixels),
            lambda: tf.constant(0, tf.int64),
        )

    pixels = tf.map_fn(measure, (encoded, names), fn_output_signature=tf.int64)
    total = tf.reduce_sum(pixels)
    within_batch = decode_limits.check_limit(
        total,
        max_batch_pixels,
        "max_batch_pixels",
        lambda: decode_limits.message(
            "the ",
            tf.size(encoded),
            f" {kind} of this call hold ",
            total,
            " pixels in all",
        ),
        "send fewer or smaller images per request",
    )
    with tf.control_dependencies([within_batch]):
        encoded = tf.identity(encoded)

    def decode(value):
        return tf.cond(
            tf.strings.length(value) > 0,
            lambda: _decode_present(value, image_size),
            lambda: tf.fill(image_size + (3,), MISSING_PIXEL),
        )

    return tf.map_fn(
        decode,
        encoded,
        fn_output_signature=tf.TensorSpec(image_size + (3,), tf.float32),
    )


def _checked_pixels(encoded, name, max_pixels):
    header = image_header(encoded)
    parsed = tf.equal(header["error"], "")

    def message():
        size = decode_limits.message(header["width"], "x", header["height"])
        # A GIF's frames may hold more than its screen shows.
        description = tf.where(
            header["pixels"] > header["width"] * header["height"],
            decode_limits.message(
                name,
                " is a GIF of ",
                size,
                " whose ",
                header["frames"],
                " frame(s) hold ",
                header["pixels"],
                " pixels",
            ),
            decode_limits.message(
                name, " is ", size, " = ", header["pixels"], " pixels"
            ),
        )
        return tf.where(
            parsed,
            decode_limits.over_limit(
                description, max_pixels, "max_pixels", "send a smaller image"
            ),
            decode_limits.message(name, " ", header["error"]),
        )

    checked = decode_limits.check(
        tf.logical_and(parsed, header["pixels"] <= max_pixels), message
    )
    with tf.control_dependencies([checked]):
        return tf.identity(header["pixels"])


def _decode_present(encoded, image_size):
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.resize(
        tf.cast(image, tf.float32), image_size, antialias=True
    )
    return tf.ensure_shape(image, image_size + (3,))
