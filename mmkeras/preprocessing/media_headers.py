"""What an encoded image or WAV clip will decode to, from its header alone.

Decoders allocate what a header claims: a 1.2 MB PNG can claim 20000 x
20000 pixels, 1.2 GB once decoded and five times that as floats. The
preprocessing layers read the sizes here first and refuse what is over
their limits (`mmkeras.preprocessing.decode_limits`) before decoding
anything, inside the graph, so an exported signature is bounded on any
server. Everything is a TF op on a scalar string; nothing reads more than
a header's bytes, whatever the size of the input.

`mmkeras.data.media` holds the Python twins that the manifest reader uses;
the tests check that both agree.
"""

import functools

import tensorflow as tf

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length: TEM and RST0..RST7, and SOI.
JPEG_STANDALONE_MARKERS = (0x01, *range(0xD0, 0xD9))
# SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
JPEG_FRAME_MARKERS = tuple(
    m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)
)
# Walks over a header are bounded. A real JPEG has a few dozen segments
# before its frame header; a GIF a block per 255 bytes of image data, so
# 65536 blocks cover animations of some 16 MB. Each step costs a few
# microseconds, so a crafted file costs at most a fraction of a second.
MAX_JPEG_SEGMENTS = 1024
MAX_GIF_BLOCKS = 65536
MAX_WAV_CHUNKS = 64
# Bytes of a header shown in an error message.
SHOWN_BYTES = 12

_IMAGE_FORMATS = ("unknown", "png", "jpeg", "gif", "bmp")


def graph_when_eager(function):
    """`function` as it is inside a graph, and as a `tf.function` eagerly.

    Inside `tf.data` or a signature being traced the function's ops join
    that graph (a nested `tf.function` call would cost a few hundred
    microseconds per example); called eagerly, its loops run as a graph
    instead of Python loops, and a failed check raises one
    `InvalidArgumentError`.
    """
    traced = tf.function(function, autograph=False, reduce_retracing=True)

    @functools.wraps(function)
    def call(*args, **kwargs):
        if tf.inside_function():
            return function(*args, **kwargs)
        return traced(*args, **kwargs)

    return call


def read_bytes(encoded, offset, count):
    """int64 `(count,)`: the bytes at `offset`, zeros past the end.

    Args:
        encoded: scalar string tensor.
        offset: int64 scalar tensor or int, from the start.
        count: int. Bytes to read.
    """
    length = (
        tf.strings.length(encoded, output_type=tf.int64)
        if False
        else (tf.cast(tf.strings.length(encoded), tf.int64))
    )
    start = tf.minimum(tf.cast(offset, tf.int64), length)
    piece = tf.strings.substr(encoded, start, count)
    padded = tf.strings.substr(tf.strings.join([piece, "\0" * count]), 0, count)
    return tf.cast(
        tf.reshape(tf.io.decode_raw(padded, tf.uint8), [count]), tf.int64
    )


def printable_bytes(encoded, count=SHOWN_BYTES):
    """The first `count` bytes as UTF-8 text, undecodable bytes as "?".

    Invalid UTF-8 in an error message would surface in Python as a
    UnicodeDecodeError instead of the InvalidArgumentError.
    """
    return tf.strings.unicode_transcode(
        tf.strings.substr(encoded, 0, count, unit="BYTE"),
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=ord("?"),
    )


def _unsigned(values, big_endian):
    count = values.shape[0]
    powers = [256**i for i in range(count)]
    if big_endian:
        powers = powers[::-1]
    return tf.reduce_sum(values * tf.constant(powers, tf.int64))


def _equal(values, expected):
    return tf.reduce_all(
        tf.equal(values, tf.constant(list(expected), tf.int64))
    )


def _is_any(value, candidates):
    return tf.reduce_any(tf.equal(value, tf.constant(candidates, tf.int64)))


def _length(encoded):
    return tf.cast(tf.strings.length(encoded), tf.int64)


@graph_when_eager
def image_header(encoded):
    """The size a PNG, JPEG, GIF or BMP image decodes to, from its header.

    A JPEG's segments are walked to its frame header (SOFn); a GIF's
    blocks are walked to count its frames, since TensorFlow's GIF decoder
    reads every frame, whose sizes its image descriptors give.

    Args:
        encoded: scalar string, the image file's bytes.

    Returns:
        dict of scalars: `width`, `height` (int64), `frames` (int64, GIF
        frames, else 1), `pixels` (int64, what decoding holds at once:
        width x height, or for a GIF the larger of that and its frames'
        total) and `error` (string: "" when the header is fine, else what
        is wrong, e.g. "has a truncated PNG header", to follow the input's
        name in a message).

    Example:
    >>> png = tf.io.encode_png(tf.zeros((3, 5, 3), tf.uint8))
    >>> header = image_header(png)
    >>> int(header["width"]), int(header["height"]), int(header["pixels"])
    (5, 3, 15)
    """
    # Fixed-position headers are read from the first bytes without
    # branching; only a JPEG's or a GIF's walk runs conditionally.
    head = read_bytes(encoded, 0, 32)
    length = _length(encoded)
    is_png = _equal(head[:8], PNG_SIGNATURE)
    is_jpeg = _equal(head[:2], b"\xff\xd8")
    is_gif = tf.logical_or(
        _equal(head[:6], b"GIF87a"), _equal(head[:6], b"GIF89a")
    )
    is_bmp = _equal(head[:2], b"BM")
    known = tf.reduce_any(tf.stack([is_png, is_jpeg, is_gif, is_bmp]))
    zero = tf.constant(0, tf.int64)
    no_walk = (zero, zero, tf.constant(""))
    jpeg = tf.cond(
        is_jpeg, lambda: _jpeg_size(encoded, length), lambda: no_walk
    )
    gif = tf.cond(
        is_gif, lambda: _gif_frames(encoded, head, length), lambda: no_walk
    )
    sizes = [
        (is_png, _png_size(head, length)),
        (is_jpeg, _size(*jpeg)),
        (is_gif, _gif_size(head, length, *gif)),
        (is_bmp, _bmp_size(head, length)),
    ]
    unknown = tf.cond(
        known,
        lambda: tf.constant(""),
        lambda: tf.strings.format(
            "is not a PNG, JPEG, GIF or BMP image (it starts with {})",
            printable_bytes(encoded),
        ),
    )
    width, height, frames, pixels, error = zero, zero, zero, zero, unknown
    for is_kind, size in sizes:
        width = tf.where(is_kind, size[0], width)
        height = tf.where(is_kind, size[1], height)
        frames = tf.where(is_kind, size[2], frames)
        pixels = tf.where(is_kind, size[3], pixels)
        error = tf.where(is_kind, size[4], error)
    empty = tf.logical_and(
        tf.equal(error, ""), tf.logical_or(width <= 0, height <= 0)
    )
    error = tf.where(empty, "has a header that gives an empty image", error)
    return {
        "width": width,
        "height": height,
        "frames": frames,
        "pixels": pixels,
        "error": error,
    }


def _size(width, height, error):
    """`(width, height, frames, pixels, error)` of a one-frame image."""
    width = tf.cast(width, tf.int64)
    height = tf.cast(height, tf.int64)
    return (
        width,
        height,
        tf.constant(1, tf.int64),
        width * height,
        tf.convert_to_tensor(error),
    )


def _png_size(head, length):
    complete = tf.logical_and(length >= 24, _equal(head[12:16], b"IHDR"))
    return _size(
        _unsigned(head[16:20], big_endian=True),
        _unsigned(head[20:24], big_endian=True),
        tf.where(complete, "", "has a truncated PNG header (no IHDR chunk)"),
    )


def _bmp_size(head, length):
    core = tf.equal(_unsigned(head[14:18], big_endian=False), 12)
    # OS/2 headers hold unsigned 16-bit sizes; others signed 32-bit ones,
    # a negative height marking rows stored top-down.
    width = tf.where(
        core,
        _unsigned(head[18:20], big_endian=False),
        tf.abs(_signed32(head[18:22])),
    )
    height = tf.where(
        core,
        _unsigned(head[20:22], big_endian=False),
        tf.abs(_signed32(head[22:26])),
    )
    return _size(
        width,
        height,
        tf.where(length >= 26, "", "has a truncated BMP header"),
    )


def _signed32(values):
    value = _unsigned(values, big_endian=False)
    return tf.where(value >= 2**31, value - 2**32, value)


# Loop states of the header walks.
_RUNNING, _FOUND, _TRUNCATED, _MALFORMED, _NO_FRAME = 0, 1, 2, 3, 4


def _jpeg_size(encoded, length):
    """`(width, height, error)` from a JPEG's frame header (SOFn)."""

    def step(position, width, height, state):
        at = read_bytes(encoded, position, 9)
        marker = at[1]
        fill = tf.equal(marker, 0xFF)
        standalone = _is_any(marker, JPEG_STANDALONE_MARKERS)
        no_frame = _is_any(marker, (0xD9, 0xDA))
        frame = _is_any(marker, JPEG_FRAME_MARKERS)
        # Bytes needed at `position`: the marker, then a segment's length,
        # then a frame header's precision, height and width.
        needed = tf.where(
            tf.logical_or(tf.logical_or(fill, standalone), no_frame),
            tf.constant(2, tf.int64),
            tf.where(frame, tf.constant(9, tf.int64), tf.constant(4, tf.int64)),
        )
        new_state = tf.where(
            position + 2 > length,
            _TRUNCATED,
            tf.where(
                tf.not_equal(at[0], 0xFF),
                _MALFORMED,
                tf.where(
                    position + needed > length,
                    _TRUNCATED,
                    tf.where(
                        no_frame, _NO_FRAME, tf.where(frame, _FOUND, _RUNNING)
                    ),
                ),
            ),
        )
        # A 0xFF after 0xFF is a fill byte; standalone markers have no
        # length; other segments are skipped whole.
        advance = tf.where(
            fill,
            tf.constant(1, tf.int64),
            tf.where(
                standalone,
                tf.constant(2, tf.int64),
                2 + _unsigned(at[2:4], big_endian=True),
            ),
        )
        found = tf.equal(new_state, _FOUND)
        return (
            tf.where(
                tf.equal(new_state, _RUNNING), position + advance, position
            ),
            tf.where(found, _unsigned(at[7:9], big_endian=True), width),
            tf.where(found, _unsigned(at[5:7], big_endian=True), height),
            tf.cast(new_state, tf.int64),
        )

    zero = tf.constant(0, tf.int64)
    _, width, height, state = tf.while_loop(
        lambda position, width, height, state: tf.equal(state, _RUNNING),
        step,
        (tf.constant(2, tf.int64), zero, zero, zero),
        maximum_iterations=MAX_JPEG_SEGMENTS,
    )
    errors = tf.constant(
        [
            f"has a JPEG header of more than {MAX_JPEG_SEGMENTS} segments "
            "before its frame header",
            "",
            "has a truncated JPEG header",
            "has a malformed JPEG header (no marker where one should be)",
            "is a JPEG without a frame header (SOFn) before its data",
        ]
    )
    return width, height, tf.gather(errors, state)


def _gif_size(head, length, frames, frame_pixels, error):
    width = _unsigned(head[6:8], big_endian=False)
    height = _unsigned(head[8:10], big_endian=False)
    return (
        width,
        height,
        frames,
        tf.maximum(width * height, frame_pixels),
        tf.where(length < 13, "has a truncated GIF header", error),
    )


def _gif_frames(encoded, head, length):
    """`(frames, pixels of all frames, error)`, walking a GIF's blocks."""
    # A global colour table follows the screen descriptor when flagged.
    start = 13 + _color_table_bytes(head[10])

    def step(position, in_blocks, frames, frame_pixels, state):
        at = read_bytes(encoded, position, 10)
        introducer = at[0]
        past_end = position + 1 > length
        # Inside a block's data: sub-blocks of 1 + size bytes, 0 ends them.
        sub_block_end = tf.equal(introducer, 0)
        # At a block: an extension (0x21 label, sub-blocks), an image
        # descriptor (0x2C, 10 bytes, colour table, LZW code size byte,
        # sub-blocks) or the trailer (0x3B).
        image = tf.equal(introducer, 0x2C)
        extension = tf.equal(introducer, 0x21)
        trailer = tf.equal(introducer, 0x3B)
        block_state = tf.where(
            tf.logical_and(image, position + 10 > length),
            _TRUNCATED,
            tf.where(
                trailer,
                _FOUND,
                tf.where(tf.logical_or(image, extension), _RUNNING, _MALFORMED),
            ),
        )
        new_state = tf.where(
            past_end, _TRUNCATED, tf.where(in_blocks, _RUNNING, block_state)
        )
        image_bytes = 11 + _color_table_bytes(at[9])
        block_advance = tf.where(image, image_bytes, 2)
        next_position = tf.where(
            in_blocks, position + 1 + introducer, position + block_advance
        )
        counted = tf.logical_and(
            tf.logical_not(in_blocks),
            tf.logical_and(image, tf.equal(new_state, _RUNNING)),
        )
        area = _unsigned(at[5:7], big_endian=False) * _unsigned(
            at[7:9], big_endian=False
        )
        return (
            next_position,
            tf.where(in_blocks, tf.logical_not(sub_block_end), True),
            frames + tf.cast(counted, tf.int64),
            frame_pixels + tf.where(counted, area, tf.zeros_like(area)),
            tf.cast(new_state, tf.int64),
        )

    zero = tf.constant(0, tf.int64)
    _, _, frames, frame_pixels, state = tf.while_loop(
        lambda position, in_blocks, frames, frame_pixels, state: tf.equal(
            state, _RUNNING
        ),
        step,
        (start, tf.constant(False), zero, zero, zero),
        maximum_iterations=MAX_GIF_BLOCKS,
    )
    errors = tf.constant(
        [
            f"has a GIF of more than {MAX_GIF_BLOCKS} blocks",
            "",
            "has a truncated GIF header",
            "has a malformed GIF block",
        ]
    )
    return frames, frame_pixels, tf.gather(errors, state)


def _color_table_bytes(flags):
    return tf.where(
        tf.equal(tf.bitwise.bitwise_and(flags, 0x80), 0),
        tf.constant(0, tf.int64),
        3
        * tf.bitwise.left_shift(
            tf.constant(2, tf.int64), tf.bitwise.bitwise_and(flags, 7)
        ),
    )


@graph_when_eager
def wav_header(encoded):
    """What a RIFF/WAVE clip holds, from its header.

    The chunks are walked to `fmt ` and `data` as `tf.audio.decode_wav`
    walks them; the sample count is what the `data` chunk declares, which
    is what a decoder allocates, whatever bytes follow.

    Args:
        encoded: scalar string, the WAV file's bytes.

    Returns:
        dict of scalars: `channels`, `sample_rate`, `samples` (int64, over
        all channels: the data chunk's bytes over 2) and `error` (string:
        "" when the header is fine, else what is wrong, to follow the
        input's name in a message).

    Example:
    >>> wav = tf.audio.encode_wav(tf.zeros((800, 2)), sample_rate=8000)
    >>> header = wav_header(wav)
    >>> int(header["channels"]), int(header["samples"])
    (2, 1600)
    """
    length = _length(encoded)
    riff = read_bytes(encoded, 0, 12)
    is_wav = tf.logical_and(
        _equal(riff[:4], b"RIFF"), _equal(riff[8:], b"WAVE")
    )

    def step(position, seen_format, channels, rate, samples, state):
        chunk = read_bytes(encoded, position, 16)
        size = _unsigned(chunk[4:8], big_endian=False)
        # `fmt ` comes first for tf.audio.decode_wav; `data` counts after it.
        is_format = tf.logical_and(
            _equal(chunk[:4], b"fmt "), tf.logical_not(seen_format)
        )
        is_data = tf.logical_and(_equal(chunk[:4], b"data"), seen_format)
        new_state = tf.where(
            position
            + tf.where(
                is_format, tf.constant(16, tf.int64), tf.constant(8, tf.int64)
            )
            > length,
            _TRUNCATED,
            tf.where(is_data, _FOUND, _RUNNING),
        )
        return (
            position + 8 + size,
            tf.logical_or(seen_format, is_format),
            tf.where(
                is_format, _unsigned(chunk[10:12], big_endian=False), channels
            ),
            tf.where(
                is_format, _unsigned(chunk[12:16], big_endian=False), rate
            ),
            tf.where(is_data, size // 2, samples),
            tf.cast(new_state, tf.int64),
        )

    zero = tf.constant(0, tf.int64)
    _, _, channels, rate, samples, state = tf.while_loop(
        lambda position, seen_format, channels, rate, samples, state: tf.equal(
            state, _RUNNING
        ),
        step,
        (tf.constant(12, tf.int64), tf.constant(False), zero, zero, zero, zero),
        maximum_iterations=MAX_WAV_CHUNKS,
    )
    error = tf.where(
        tf.equal(state, _FOUND),
        tf.where(
            tf.logical_and(rate > 0, channels > 0),
            "",
            tf.strings.format(
                "has a WAV header that gives {} channels at {} Hz",
                (channels, rate),
            ),
        ),
        tf.where(
            tf.equal(state, _TRUNCATED),
            "has a truncated WAV header (no 'fmt ' and 'data' chunks)",
            f"has a WAV header of more than {MAX_WAV_CHUNKS} chunks "
            "before its data",
        ),
    )
    error = tf.where(
        is_wav,
        error,
        tf.strings.format(
            "is not a WAV clip (it starts with {})", printable_bytes(encoded)
        ),
    )
    return {
        "channels": channels,
        "sample_rate": rate,
        "samples": samples,
        "error": error,
    }
