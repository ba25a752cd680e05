"""Image and WAV files as bytes, real and crafted, for decoder tests.

TensorFlow writes PNG, JPEG and WAV but not GIF or BMP, and Pillow is not
a dependency, so those two are written here (the GIF with uncompressed
LZW codes, which every decoder reads).
"""

import struct
import zlib

import numpy as np
import tensorflow as tf

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(pixels):
    return tf.io.encode_png(np.asarray(pixels, np.uint8)).numpy()


def jpeg(pixels):
    return tf.io.encode_jpeg(np.asarray(pixels, np.uint8)).numpy()


def grey(height, width, value=128, channels=3):
    return np.full((height, width, channels), value, np.uint8)


def bmp(pixels, top_down=False, os2=False):
    """A 24-bit BMP of uint8 RGB pixels `(height, width, 3)`."""
    pixels = np.asarray(pixels, np.uint8)
    height, width = pixels.shape[:2]
    row_bytes = (width * 3 + 3) // 4 * 4
    rows = pixels if top_down else pixels[::-1]
    data = b"".join(
        row[:, ::-1].tobytes().ljust(row_bytes, b"\0") for row in rows
    )
    if os2:
        info = struct.pack("<IHHHH", 12, width, height, 1, 24)
    else:
        info = struct.pack(
            "<IiiHHIIiiII",
            40,
            width,
            -height if top_down else height,
            1,
            24,
            0,
            len(data),
            2835,
            2835,
            0,
            0,
        )
    offset = 14 + len(info)
    header = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    return header + info + data


def gif(frames, screen=None, trailer=True):
    """A GIF of grey uint8 frames `(height, width)`, each a full image.

    Args:
        frames: list of 2D uint8 arrays (grey levels index a grey palette).
        screen: (width, height) of the logical screen; defaults to the
            first frame's size.
        trailer: bool. End with the trailer byte.
    """
    height, width = np.asarray(frames[0]).shape
    width, height = screen or (width, height)
    palette = bytes(v for i in range(256) for v in (i, i, i))
    out = [b"GIF89a", struct.pack("<HHBBB", width, height, 0xF7, 0, 0), palette]
    for frame in frames:
        frame = np.asarray(frame, np.uint8)
        out.append(b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame.shape[::-1], 0))
        out.append(b"\x08" + _sub_blocks(_uncompressed_lzw(frame.tobytes())))
    if trailer:
        out.append(b"\x3b")
    return b"".join(out)


def _uncompressed_lzw(indices):
    """9-bit codes, a clear code before the table would widen them."""
    codes = []
    for start in range(0, len(indices), 250):
        codes.append(256)
        codes.extend(indices[start : start + 250])
    codes.append(257)
    bits = sum(code << (9 * i) for i, code in enumerate(codes))
    return bits.to_bytes((9 * len(codes) + 7) // 8, "little")


def _sub_blocks(data):
    blocks = [
        bytes([len(data[i : i + 255])]) + data[i : i + 255]
        for i in range(0, len(data), 255)
    ]
    return b"".join(blocks) + b"\0"


def png_claiming(width, height, rows=0):
    """A PNG whose header claims `width` x `height` RGB pixels.

    Its one IDAT chunk holds `rows` black rows, compressed (about 1000:1,
    so all 20000 rows of 20000 pixels take 1.2 MB): a decoder allocates
    the claimed size whatever the data holds.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    idat = b"".join(compressor.compress(row) for _ in range(rows))
    idat += compressor.flush()
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def wav(samples, sample_rate=8000):
    """16-bit PCM WAV bytes of float samples `(n,)` or `(n, channels)`."""
    samples = np.asarray(samples, np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    return tf.audio.encode_wav(samples, sample_rate).numpy()


def wav_claiming(seconds, sample_rate=8000, channels=1):
    """A WAV header whose data chunk claims `seconds` of audio, with none."""
    data_bytes = int(seconds * sample_rate) * channels * 2
    fmt = struct.pack(
        "<HHIIHH",
        1,
        channels,
        sample_rate,
        sample_rate * channels * 2,
        channels * 2,
        16,
    )
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
        + b"\0" * 64
    )
