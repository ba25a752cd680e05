import struct

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data.media import MediaError
from mmkeras.data.media import image_size_from_header
from mmkeras.data.media import wav_info
from mmkeras.preprocessing.media_headers import image_header
from mmkeras.preprocessing.media_headers import wav_header
from tests.preprocessing import encoded_media


def _header(encoded):
    header = image_header(tf.constant(encoded))
    return {k: v.numpy() for k, v in header.items()}


def _with_segments(jpeg, segments):
    """A JPEG with more segments (bytes from 0xFF) right after SOI."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _app_segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _images():
    """Files of every format and layout, with their (width, height)."""
    rng = np.random.default_rng(0)
    images = []
    for height, width in [(1, 1), (7, 13), (40, 3), (300, 257)]:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        grey = pixels[..., :1]
        images += [
            encoded_media.png(pixels),
            encoded_media.png(grey),
            encoded_media.png(np.concatenate([pixels, grey], axis=-1)),
            encoded_media.jpeg(pixels),
            tf.io.encode_jpeg(pixels, progressive=True).numpy(),
            tf.io.encode_jpeg(grey).numpy(),
            encoded_media.bmp(pixels),
            encoded_media.bmp(pixels, top_down=True),
            encoded_media.bmp(pixels, os2=True),
            encoded_media.gif([pixels[..., 0]]),
            encoded_media.gif([pixels[..., 0]] * 3),
        ]
    jpeg = encoded_media.jpeg(np.zeros((9, 11, 3), np.uint8))
    images += [
        # EXIF-sized metadata, a comment, fill bytes and a restart marker
        # before the frame header.
        _with_segments(
            jpeg,
            [
                _app_segment(0xE1, b"Exif\0\0" + bytes(60000)),
                _app_segment(0xFE, b"a comment"),
                b"\xff\xff\xff",
                _app_segment(0xE2, b"ICC_PROFILE" + bytes(300)),
            ],
        ),
    ]
    return images


def test_sizes_agree_with_the_python_reader_on_every_format():
    for encoded in _images():
        header = _header(encoded)
        assert header["error"] == b"", header
        assert (header["width"], header["height"]) == image_size_from_header(
            encoded
        )


def test_pixels_are_width_times_height_and_a_gifs_frames_in_all():
    frame = np.zeros((20, 30), np.uint8)
    assert _header(encoded_media.png(encoded_media.grey(20, 30)))["pixels"] == (
        600
    )
    animated = _header(encoded_media.gif([frame] * 5))
    assert (animated["frames"], animated["pixels"]) == (5, 3000)
    # Frames larger than the logical screen count at their own size.
    tiny_screen = _header(encoded_media.gif([frame], screen=(1, 1)))
    assert (tiny_screen["width"], tiny_screen["pixels"]) == (1, 600)


def _python_size(encoded):
    try:
        return image_size_from_header(encoded)
    except MediaError:
        return None


def test_a_truncated_header_is_an_error_exactly_when_in_python():
    for encoded in [
        encoded_media.png(encoded_media.grey(5, 5)),
        encoded_media.jpeg(encoded_media.grey(5, 5)),
        encoded_media.bmp(encoded_media.grey(5, 5)),
    ]:
        for size in range(1, 200):
            header = _header(encoded[:size])
            expected = _python_size(encoded[:size])
            if expected is None:
                assert header["error"] != b"", (encoded[:4], size)
            else:
                assert header["error"] == b"", (encoded[:4], size)
                assert (header["width"], header["height"]) == expected


def test_a_gif_is_walked_to_its_trailer():
    gif = encoded_media.gif([np.zeros((4, 4), np.uint8)] * 2)
    for size in range(6, len(gif)):
        assert b"truncated GIF" in _header(gif[:size])["error"], size


@pytest.mark.parametrize(
    "encoded, message",
    [
        (b"", "is not a PNG, JPEG, GIF or BMP image"),
        (b"RIFF\0\0\0\0WEBPVP8 ", 'it starts with "RIFF'),
        (encoded_media.PNG_SIGNATURE + bytes(16), "truncated PNG header"),
        (b"\xff\xd8\xff\xd9", "without a frame header"),
        (b"\xff\xd8\x00\x00\x00\x00", "malformed JPEG header"),
        (b"\xff\xd8" + b"\xff\xfe\x00\x02" * 2000, "more than 1024 segments"),
        (b"BM" + bytes(30), "gives an empty image"),
        (encoded_media.gif([np.zeros((2, 2), np.uint8)])[:-1], "truncated"),
    ],
)
def test_bad_headers_say_what_is_wrong(encoded, message):
    assert message in _header(encoded)["error"].decode()


def test_a_crafted_png_is_measured_without_decoding():
    header = _header(encoded_media.png_claiming(20000, 20000))
    assert (header["width"], header["pixels"]) == (20000, 400_000_000)


def test_works_inside_dataset_map():
    images = [
        encoded_media.png(encoded_media.grey(3, 5)),
        encoded_media.gif([np.zeros((4, 6), np.uint8)] * 2),
    ]
    pixels = list(
        tf.data.Dataset.from_tensor_slices(images)
        .map(lambda encoded: image_header(encoded)["pixels"])
        .as_numpy_iterator()
    )
    assert pixels == [15, 48]


def _wav_header(encoded):
    return {k: v.numpy() for k, v in wav_header(tf.constant(encoded)).items()}


def test_wav_header_agrees_with_the_python_reader():
    mono = encoded_media.wav(np.zeros(800), sample_rate=16000)
    stereo = encoded_media.wav(np.zeros((300, 2)))
    # A LIST chunk before the data, as many recorders write.
    listed = stereo[:36] + b"LIST\x04\0\0\0INFO" + stereo[36:]
    for encoded in (mono, stereo, listed):
        header, info = _wav_header(encoded), wav_info(encoded)
        assert header["error"] == b""
        assert header["sample_rate"] == info.sample_rate
        assert header["channels"] == info.channels
        assert header["samples"] == info.num_samples * info.channels


def test_wav_header_reads_what_the_data_chunk_claims():
    header = _wav_header(encoded_media.wav_claiming(36000, channels=2))
    assert header["samples"] == 36000 * 8000 * 2


@pytest.mark.parametrize(
    "encoded, message",
    [
        (b"not a wav", "is not a WAV clip"),
        (encoded_media.wav(np.zeros(10))[:30], "truncated WAV header"),
        (encoded_media.wav(np.zeros(10))[:12], "truncated WAV header"),
        (
            b"RIFF\0\0\0\0WAVE" + b"junk\0\0\0\0" * 100,
            "more than 64 chunks",
        ),
        (encoded_media.wav_claiming(1, sample_rate=0), "1 channels at 0 Hz"),
    ],
)
def test_bad_wav_headers_say_what_is_wrong(encoded, message):
    assert message in _wav_header(encoded)["error"].decode()
