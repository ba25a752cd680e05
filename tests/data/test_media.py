import re
import struct

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import media
from mmkeras.preprocessing import FrameSampler
from tests.data.media_files import clip_pixels
from tests.data.media_files import make_wav


def _bmp(width, height, header_size=40):
    """A 24-bit BMP that TensorFlow decodes; rows padded to 4 bytes."""
    row = b"\x10\x20\x30" * width
    row += b"\0" * (-len(row) % 4)
    pixels = row * height
    if header_size == 12:
        info = struct.pack("<IHHHH", 12, width, height, 1, 24)
    else:  # BITMAPINFOHEADER; a negative height stores rows top-down.
        info = struct.pack(
            "<IiiHHIIiiII", 40, width, -height, 1, 24, 0, 0, 0, 0, 0, 0
        )
    offset = 14 + len(info)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return header + info + pixels


def _jpeg_with_metadata(pixels, segment_bytes):
    """A JPEG whose frame header follows `segment_bytes` of APP segments."""
    jpeg = tf.io.encode_jpeg(pixels).numpy()
    segments = b""
    while segment_bytes > 0:
        size = min(segment_bytes, 65533)
        segments += b"\xff\xe1" + struct.pack(">H", size + 2) + b"x" * size
        segment_bytes -= size
    return jpeg[:2] + segments + jpeg[2:]


def _image_bytes():
    pixels = np.zeros((3, 7, 3), np.uint8)
    return {
        "png": tf.io.encode_png(pixels).numpy(),
        "jpeg": tf.io.encode_jpeg(pixels).numpy(),
        "progressive jpeg": tf.io.encode_jpeg(pixels, progressive=True).numpy(),
        "jpeg after metadata": _jpeg_with_metadata(pixels, 1000),
        "bmp": _bmp(7, 3),
        "os/2 bmp": _bmp(7, 3, header_size=12),
    }


@pytest.mark.parametrize("kind", sorted(_image_bytes()))
def test_image_size_from_header_agrees_with_decoding(kind):
    data = _image_bytes()[kind]
    assert media.image_size_from_header(data) == (7, 3)
    if kind != "os/2 bmp":  # TensorFlow decodes only Windows BMPs.
        shape = tf.io.decode_image(data, expand_animations=False).shape
        assert (shape[1], shape[0]) == (7, 3)


def test_image_size_of_gif_and_files(media_dir):
    gif = (media_dir / "video/anim.gif").read_bytes()
    assert media.image_size_from_header(gif) == (16, 16)
    assert media.image_size(str(media_dir / "images/red.png")) == (6, 4)
    assert media.image_size(str(media_dir / "images/photo.jpg")) == (5, 3)


def test_image_size_reads_past_large_jpeg_metadata(tmp_path):
    data = _jpeg_with_metadata(np.zeros((3, 7, 3), np.uint8), 150_000)
    path = tmp_path / "big_exif.jpg"
    path.write_bytes(data)
    assert media.image_size(str(path)) == (7, 3)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"hello world", "not a PNG/JPEG/GIF/BMP image \\(starts with b.hello"),
        (b"\x89PNG\r\n\x1a\n\0\0", "truncated PNG header"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated or malformed JPEG"),
        (b"\xff\xd8\xff\xda\x00\x02", "JPEG without a frame header"),
        (b"GIF89a\x00", "truncated GIF header"),
        (b"BM\0\0", "truncated BMP header"),
        (b"GIF89a\x00\x00\x05\x00", "empty image, 0x5"),
    ],
)
def test_image_size_from_header_rejects_bad_bytes(data, message):
    with pytest.raises(media.MediaError, match=message):
        media.image_size_from_header(data)


def test_wav_info_from_path_and_bytes(media_dir):
    path = str(media_dir / "audio/tone.wav")
    info = media.wav_info(path)
    assert info == media.WavInfo(8000, 1, 16, 40, 1)
    assert media.wav_info(media.read_file_bytes(path)) == info
    stereo = tf.audio.encode_wav(tf.zeros((30, 2)), 22050).numpy()
    assert media.wav_info(stereo) == media.WavInfo(22050, 2, 16, 30, 1)


def _with_chunk(wav, chunk, offset):
    """`wav` with `chunk` inserted at `offset` and the RIFF size fixed."""
    wav = wav[:offset] + chunk + wav[offset:]
    return wav[:4] + struct.pack("<I", len(wav) - 8) + wav[8:]


def test_wav_info_skips_chunks_between_fmt_and_data():
    wav = _with_chunk(make_wav(num_samples=12), _LIST_CHUNK, 36)
    assert media.check_wav(wav) == media.wav_info(wav)
    assert media.wav_info(wav).num_samples == 12
    # TensorFlow reads it too: the check matches what decode_wav accepts.
    assert tf.audio.decode_wav(wav).audio.shape == (12, 1)


_LIST_CHUNK = b"LIST" + struct.pack("<I", 4) + b"abcd"


@pytest.mark.parametrize(
    "format_tag, bits, encoding",
    [
        (1, 16, "16-bit PCM"),
        (1, 8, "8-bit PCM"),
        (1, 24, "24-bit PCM"),
        (3, 32, "32-bit float"),
        (6, 8, "A-law (8-bit)"),
        (0xFFFE, 16, "WAVE_FORMAT_EXTENSIBLE (16-bit)"),
        (0x1234, 16, "format tag 0x1234"),
    ],
)
def test_wav_encodings_are_named_and_only_16_bit_pcm_passes(
    format_tag, bits, encoding
):
    wav = make_wav(format_tag, bits)
    info = media.wav_info(wav)
    assert (info.format_tag, info.bits_per_sample) == (format_tag, bits)
    assert info.encoding == encoding
    if encoding == "16-bit PCM":
        assert media.check_wav(wav) == info
        return
    with pytest.raises(
        media.MediaError, match=f"^{re.escape(encoding)}; convert to 16-bit"
    ):
        media.check_wav(wav)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.audio.decode_wav(wav)


def test_check_wav_rejects_what_decode_wav_rejects():
    wav = make_wav(num_samples=10)
    odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc\0"  # RIFF pads it
    long_fmt = make_wav(num_samples=10)
    long_fmt = long_fmt[:16] + struct.pack("<I", 20) + long_fmt[20:36]
    long_fmt = _with_chunk(long_fmt + wav[36:], b"\0" * 4, 36)
    cases = [
        (b"RIFF\0\0\0\0AVI ", "not a RIFF/WAVE file"),
        (wav[:30], "truncated 'fmt ' chunk"),
        (wav[:36], "no 'data' chunk"),
        (wav[:-4], "truncated 'data' chunk: 20 bytes declared, 16 present"),
        (_with_chunk(wav, odd_chunk, 36), "no 'data' chunk"),
        (_with_chunk(wav, _LIST_CHUNK, 12), "a 'LIST' chunk before 'fmt '"),
        (long_fmt, "a 20-byte 'fmt ' chunk, which tf.audio.decode_wav"),
    ]
    for data, message in cases:
        with pytest.raises(media.MediaError, match=message):
            media.check_wav(data)
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.audio.decode_wav(data)
    assert media.wav_info(_with_chunk(wav, _LIST_CHUNK, 12)).num_samples == 10


@pytest.mark.parametrize("count", [1, 3, 4, 5, 10, 37])
def test_uniform_frame_indices_follow_frame_sampler(count):
    indices = media.uniform_frame_indices(count, max_frames=4)
    expected = FrameSampler(num_frames=4).frame_indices(count).numpy()
    assert indices == [i for i in expected.tolist() if i < count]
    assert media.uniform_frame_indices(count, None) == list(range(count))


def _red_levels(encoded_frames):
    """The red level of each frame, as the frame index `clip_pixels` set."""
    return [
        int(round(float(tf.io.decode_png(f)[8, 8, 0]) / 35))
        for f in encoded_frames
    ]


def test_read_video_frames_of_a_folder_returns_file_bytes(media_dir):
    folder = media_dir / "video/frames"
    frames = media.read_video_frames(str(folder))
    names = ["000.png", "001.png", "002.png", "003.png"]
    assert frames == [(folder / name).read_bytes() for name in names]
    sampled = media.read_video_frames(str(folder), max_frames=2)
    assert sampled == [frames[1], frames[3]]
    paths = media.list_frame_files(str(folder))
    assert paths == [str(folder / name) for name in names]


@pytest.mark.parametrize("name", ["clip.mp4", "anim.gif"])
def test_read_video_frames_of_a_clip(media_dir, name):
    path = str(media_dir / "video" / name)
    frames = media.read_video_frames(path)
    count = 7 if name == "clip.mp4" else 5
    assert _red_levels(frames) == list(range(count))
    assert tf.io.decode_png(frames[0]).shape == (16, 16, 3)
    sampled = media.read_video_frames(path, max_frames=3)
    assert _red_levels(sampled) == media.uniform_frame_indices(count, 3)
    with pytest.raises(ValueError, match="max_frames must be positive"):
        media.read_video_frames(path, max_frames=0)


def test_read_video_frames_inside_a_dataset_map(media_dir):
    path = str(media_dir / "video/clip.mp4")

    def read(clip_path):
        frames = tf.py_function(
            # A returned list would be taken as a list of outputs.
            lambda p: np.array(
                media.read_video_frames(p.numpy().decode(), 2), object
            ),
            [clip_path],
            tf.string,
        )
        frames.set_shape([None])
        return tf.map_fn(
            lambda f: tf.io.decode_png(f)[8, 8, 0],
            frames,
            fn_output_signature=tf.uint8,
        )

    dataset = tf.data.Dataset.from_tensors(path).map(read)
    levels = next(iter(dataset)).numpy() / 35
    np.testing.assert_allclose(levels, [1, 5], atol=0.2)


def test_gif_is_lossless_for_few_colours(tmp_path):
    pixels = clip_pixels(3)
    media.write_video(str(tmp_path / "x.gif"), pixels, fps=2)
    decoded = [
        tf.io.decode_png(f).numpy()
        for f in media.read_video_frames(str(tmp_path / "x.gif"))
    ]
    np.testing.assert_array_equal(np.stack(decoded), pixels)


def test_write_video_formats_and_clip_info(tmp_path):
    for name, codecs in [("a.webm", ("vp9", "vp8")), ("a.mkv", ("h264",))]:
        path = str(tmp_path / name)
        media.write_video(path, clip_pixels(3, 8, 12), fps=12.5)
        info = media.clip_info(path)
        assert info.codec in codecs + ("mpeg4",)
        assert (info.width, info.height) == (12, 8)
        assert len(media.read_video_frames(path)) == 3


def test_clip_info_rejects_corrupt_and_audio_only_files(media_dir):
    with pytest.raises(media.MediaError, match="FFmpeg cannot read it"):
        media.clip_info(str(media_dir / "video/corrupt.mp4"))
    with pytest.raises(media.MediaError, match="no video stream"):
        media.clip_info(str(media_dir / "video/sound.wav"))
    with pytest.raises(media.MediaError, match="no video stream"):
        media.read_video_frames(str(media_dir / "video/sound.wav"), 2)


@pytest.mark.parametrize(
    "name, frames, message",
    [
        ("a.txt", clip_pixels(2), "expected one of"),
        ("a.mp4", clip_pixels(2, 8, 9), "even width and height; received 9x8"),
        ("a.mp4", clip_pixels(2).astype(np.float32), "must be uint8"),
        ("a.mp4", clip_pixels(0), "at least one frame"),
    ],
)
def test_write_video_rejects_bad_requests(tmp_path, name, frames, message):
    with pytest.raises(media.MediaError, match=message):
        media.write_video(str(tmp_path / name), frames, fps=5)
