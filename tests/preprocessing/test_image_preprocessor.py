import struct

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.preprocessing import DecodeLimits
from mmkeras.preprocessing import ImagePreprocessor
from tests.preprocessing import encoded_media
from tests.test_case import check_config_round_trip


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


def _error(run):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        run()
    return str(raised.value)


def test_gif_and_bmp_decode_like_png():
    pixels = np.random.default_rng(0).integers(0, 256, (6, 6), np.uint8)
    rgb = np.repeat(pixels[..., None], 3, axis=-1)
    preprocessor = ImagePreprocessor(image_size=(6, 6))
    expected = preprocessor(encoded_media.png(rgb)).numpy()
    for encoded in (encoded_media.gif([pixels] * 2), encoded_media.bmp(rgb)):
        np.testing.assert_allclose(preprocessor(encoded), expected, atol=1e-5)


def test_an_image_over_max_pixels_is_refused_before_decoding():
    # 1 KB claiming 20000 x 20000: 1.2 GB decoded, 4.8 GB as floats.
    crafted = encoded_media.png_claiming(20000, 20000)
    preprocessor = ImagePreprocessor(image_size=(4, 4))
    message = _error(lambda: preprocessor(tf.stack([_png(0), crafted])))
    assert (
        "image 1 is 20000x20000 = 400000000 pixels, over the limit of "
        "4194304 (max_pixels)" in message
    )
    dataset = tf.data.Dataset.from_tensors(crafted).map(preprocessor)
    assert "over the limit of 4194304 (max_pixels)" in _error(
        lambda: list(dataset)
    )


def test_a_call_over_max_batch_pixels_is_refused_before_decoding():
    # Headers claiming 1000 x 1000 with no pixel data: decoding either
    # would fail, so only a check that runs first names the budget.
    claims = encoded_media.png_claiming(1000, 1000)
    preprocessor = ImagePreprocessor(
        (4, 4), max_pixels=1_000_000, max_batch_pixels=1_500_000
    )
    message = _error(lambda: preprocessor(tf.constant([claims, b"", claims])))
    assert (
        "the 3 images of this call hold 2000000 pixels in all, over the "
        "limit of 1500000 (max_batch_pixels)" in message
    )
    # Within the budget, the decoder finds the missing data.
    assert "(max_batch_pixels)" not in _error(
        lambda: preprocessor(tf.constant([claims]))
    )


def test_an_animated_gif_counts_all_its_frames():
    gif = encoded_media.gif([np.zeros((10, 10), np.uint8)] * 4)
    preprocessor = ImagePreprocessor((4, 4), max_pixels=300)
    assert "image is a GIF of 10x10 whose 4 frame(s) hold 400 pixels" in (
        _error(lambda: preprocessor(gif))
    )


@pytest.mark.parametrize(
    "encoded, message",
    [
        (_png(0).numpy()[:20], "image has a truncated PNG header"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image has a truncated JPEG"),
        (b"GIF89a\x01", "image has a truncated GIF header"),
        (b"<svg/>", "image is not a PNG, JPEG, GIF or BMP image"),
    ],
)
def test_unreadable_headers_are_named(encoded, message):
    preprocessor = ImagePreprocessor(image_size=(4, 4))
    assert message in _error(lambda: preprocessor(encoded))


def test_limits_are_arguments_kept_in_the_config():
    preprocessor = ImagePreprocessor((4, 4))
    assert preprocessor.max_pixels == 2048 * 2048
    assert preprocessor.max_batch_pixels == 4 * 2048 * 2048
    bounded = ImagePreprocessor((4, 4), max_pixels=100, max_batch_pixels=300)
    check_config_round_trip(bounded)
    revived = ImagePreprocessor.from_config(bounded.get_config())
    assert (revived.max_pixels, revived.max_batch_pixels) == (100, 300)
    with pytest.raises(ValueError, match="must be at least max_pixels"):
        ImagePreprocessor((4, 4), max_pixels=100, max_batch_pixels=50)
    with pytest.raises(ValueError, match="max_pixels must be a positive int"):
        ImagePreprocessor((4, 4), max_pixels=-1)


def test_decode_limits_are_set_for_a_call_then_restored():
    preprocessor = ImagePreprocessor((4, 4))
    with DecodeLimits(max_pixels=32).applied_to(preprocessor):
        assert (preprocessor.max_pixels, preprocessor.max_batch_pixels) == (
            32,
            128,
        )
        assert "over the limit of 32 (max_pixels)" in _error(
            lambda: preprocessor(_png(0))
        )
    assert preprocessor.max_pixels == 2048 * 2048
    assert preprocessor(_png(0)).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="must be at least max_pixels"):
        DecodeLimits(max_pixels=100, max_batch_pixels=50)


def _jpeg_claiming(width, height):
    """A real JPEG whose frame header (SOF0) is patched to claim a size."""
    jpeg = bytearray(encoded_media.jpeg(encoded_media.grey(8, 8)))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)


def _gif_frame_claiming(width, height):
    """A 1x1 GIF whose one image descriptor claims a larger frame."""
    gif = bytearray(encoded_media.gif([np.zeros((1, 1), np.uint8)]))
    descriptor = 13 + 768  # header, screen, global colour table
    gif[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(gif)


@pytest.mark.parametrize(
    "encoded, message",
    [
        (_jpeg_claiming(60000, 60000), "is 60000x60000 = 3600000000 pixels"),
        (
            _gif_frame_claiming(3000, 3000),
            "is a GIF of 1x1 whose 1 frame(s) hold 9000000 pixels",
        ),
        (
            encoded_media.bmp(encoded_media.grey(1, 1))[:18]
            + struct.pack("<ii", 30000, -30000)
            + encoded_media.bmp(encoded_media.grey(1, 1))[26:],
            "is 30000x30000 = 900000000 pixels",
        ),
    ],
)
def test_every_format_is_measured_before_decoding(encoded, message):
    preprocessor = ImagePreprocessor(image_size=(4, 4))
    assert message + ", over the limit of 4194304 (max_pixels)" in _error(
        lambda: preprocessor(tf.constant([encoded]))
    )
