import numpy as np
import pytest
import tensorflow as tf

from mmkeras.preprocessing import ImagePreprocessor


def _png(value, size=8, channels=3):
    return tf.io.encode_png(
        tf.fill((size, size, channels), tf.constant(value, tf.uint8))
    )


def test_decodes_resizes_and_scales_to_minus_one_one():
    preprocessor = ImagePreprocessor(image_size=(4, 4))
    black, white = preprocessor(tf.stack([_png(0), _png(255)])).numpy()
    assert black.shape == (4, 4, 3)
    np.testing.assert_allclose(black, -1.0, atol=1e-6)
    np.testing.assert_allclose(white, 1.0, atol=1e-6)


def test_jpeg_grey_and_rgba_become_rgb():
    preprocessor = ImagePreprocessor(image_size=(4, 4))
    jpeg = tf.io.encode_jpeg(tf.fill((8, 8, 3), tf.constant(128, tf.uint8)))
    images = [jpeg, _png(128, channels=1), _png(128, channels=4)]
    for encoded in images:
        pixels = preprocessor(encoded).numpy()
        assert pixels.shape == (4, 4, 3)
        np.testing.assert_allclose(pixels, 128 / 127.5 - 1, atol=0.02)


def test_same_result_eagerly_and_inside_dataset_map():
    preprocessor = ImagePreprocessor(image_size=(3, 5))
    encoded = [_png(10, size=6), _png(200, size=9)]
    eager = preprocessor(tf.stack(encoded)).numpy()
    mapped = np.stack(
        list(
            tf.data.Dataset.from_tensor_slices(encoded)
            .map(preprocessor)
            .as_numpy_iterator()
        )
    )
    np.testing.assert_allclose(mapped, eager)


def test_garbage_bytes_raise_invalid_argument():
    with pytest.raises(tf.errors.InvalidArgumentError):
        ImagePreprocessor(image_size=(4, 4))(tf.constant(b"not an image"))


def test_bad_image_size():
    with pytest.raises(ValueError, match="image_size"):
        ImagePreprocessor(image_size=(4,))
