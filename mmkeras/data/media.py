"""Media files without a full decode: image and WAV headers, video frames.

The manifest reader validates every file from its header alone (sizes,
encodings, the presence of a video stream); pixels and samples are decoded
once, later, by the preprocessor inside `tf.data`. Video clips are the
exception: TensorFlow has no video decoder, so `read_video_frames` decodes
them with PyAV (FFmpeg) and hands the model encoded PNG frames, the same
form as a folder of frame images.
"""

import fractions
import io
import os
import struct
import typing

import av
import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
CLIP_EXTENSIONS = (".avi", ".gif", ".mkv", ".mov", ".mp4", ".webm")
# Enough for the header of every PNG, GIF and BMP and of most JPEGs; a
# JPEG whose metadata pushes its frame header further is read in full.
IMAGE_HEADER_BYTES = 64 * 1024

_JPEG_STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD9)}
# SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
_JPEG_FRAME_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_WAV_FORMATS = {
    2: "Microsoft ADPCM",
    6: "A-law",
    7: "mu-law",
    0x11: "IMA ADPCM",
    0x55: "MP3",
    0xFFFE: "WAVE_FORMAT_EXTENSIBLE",
}


class MediaError(ValueError):
    """A media file cannot be used; the message says what was found."""


def image_size_from_header(data):
    """Width and height of a PNG, JPEG, GIF or BMP image, from its header.

    Only the header is parsed: no pixel is decoded. A JPEG's segments are
    walked to its frame header (SOFn), which may follow large metadata.

    Args:
        data: bytes. The start of the file (or all of it).

    Returns:
        tuple `(width, height)` of ints.

    Raises:
        MediaError: the bytes are not one of these formats, or the header
            is truncated or gives a zero size.

    Example:
    >>> png = tf.io.encode_png(tf.zeros((3, 5, 3), tf.uint8)).numpy()
    >>> image_size_from_header(png)
    (5, 3)
    """
    data = bytes(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise MediaError("truncated PNG header (no IHDR chunk)")
        width, height = struct.unpack(">II", data[16:24])
    elif data.startswith((b"GIF87a", b"GIF89a")):
        if len(data) < 10:
            raise MediaError("truncated GIF header")
        width, height = struct.unpack("<HH", data[6:10])
    elif data.startswith(b"BM"):
        width, height = _bmp_size(data)
    elif data.startswith(b"\xff\xd8"):
        width, height = _jpeg_size(data)
    else:
        raise MediaError(
            f"not a PNG/JPEG/GIF/BMP image (starts with {data[:8]!r})"
        )
    if width == 0 or height == 0:
        raise MediaError(f"the header gives an empty image, {width}x{height}")
    return width, height


def image_size(path):
    """Width and height of an image file, reading only its header.

    Args:
        path: str. A PNG, JPEG, GIF or BMP file.

    Returns:
        tuple `(width, height)` of ints.

    Raises:
        MediaError: as `image_size_from_header`.
    """
    with open(path, "rb") as file:
        head = file.read(IMAGE_HEADER_BYTES)
        try:
            return image_size_from_header(head)
        except MediaError:
            if len(head) < IMAGE_HEADER_BYTES:
                raise
            return image_size_from_header(head + file.read())


def _bmp_size(data):
    if len(data) < 26:
        raise MediaError("truncated BMP header")
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes.
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    # A negative height marks rows stored top-down.
    return abs(width), abs(height)


def _jpeg_size(data):
    offset = 2
    while True:
        # Segments start with 0xFF, possibly repeated as fill bytes.
        if offset >= len(data) or data[offset] != 0xFF:
            raise MediaError("truncated or malformed JPEG (no frame header)")
        while offset < len(data) and data[offset] == 0xFF:
            offset += 1
        if offset >= len(data):
            raise MediaError("truncated JPEG header")
        marker = data[offset]
        offset += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):
            raise MediaError("JPEG without a frame header (SOFn) before data")
        if offset + 2 > len(data):
            raise MediaError("truncated JPEG header")
        (length,) = struct.unpack(">H", data[offset : offset + 2])
        if marker in _JPEG_FRAME_MARKERS:
            if offset + 7 > len(data):
                raise MediaError("truncated JPEG frame header")
            height, width = struct.unpack(">HH", data[offset + 3 : offset + 7])
            return width, height
        offset += length


class WavInfo(typing.NamedTuple):
    """What a WAV file's header says.

    Args:
        sample_rate: int. Samples per second, in Hz.
        channels: int.
        bits_per_sample: int.
        num_samples: int. Samples per channel in the `data` chunk.
        format_tag: int. 1 is integer PCM, 3 IEEE float; see `encoding`.
    """

    sample_rate: int
    channels: int
    bits_per_sample: int
    num_samples: int
    format_tag: int

    @property
    def encoding(self):
        """str, e.g. "16-bit PCM", "32-bit float" or "A-law"."""
        if self.format_tag == 1:
            return f"{self.bits_per_sample}-bit PCM"
        if self.format_tag == 3:
            return f"{self.bits_per_sample}-bit float"
        name = _WAV_FORMATS.get(self.format_tag)
        if name is None:
            return f"format tag {self.format_tag:#06x}"
        return f"{name} ({self.bits_per_sample}-bit)"


def wav_info(path_or_bytes):
    """Parses a RIFF/WAVE header without reading the samples.

    Walks the chunks to `fmt ` and `data` as `tf.audio.decode_wav` does
    (which, unlike the RIFF specification, does not pad odd-sized chunks
    to an even size). Only the structure is checked here; `check_wav`
    checks also what `tf.audio.decode_wav` can decode.

    Args:
        path_or_bytes: str path of a WAV file, or its bytes.

    Returns:
        A `WavInfo`.

    Raises:
        MediaError: not a RIFF/WAVE file, or a chunk is missing or
            truncated.

    Example:
    >>> wav = tf.audio.encode_wav(tf.zeros((800, 2)), sample_rate=8000)
    >>> info = wav_info(wav.numpy())
    >>> info.sample_rate, info.channels, info.num_samples, info.encoding
    (8000, 2, 800, '16-bit PCM')
    """
    return _read_wav_header(path_or_bytes)[0]


def check_wav(path_or_bytes):
    """`wav_info`, raising unless `tf.audio.decode_wav` can decode the file.

    `tf.audio.decode_wav` reads 16-bit integer PCM only, and needs the
    `fmt ` chunk first and 16 or 18 bytes long. The sample rate and the
    number of channels are not checked.

    Args:
        path_or_bytes: str path of a WAV file, or its bytes.

    Returns:
        A `WavInfo`.

    Raises:
        MediaError: as `wav_info`, or another encoding (the message names
            it, e.g. "8-bit PCM; convert to 16-bit PCM"), or a layout
            `tf.audio.decode_wav` rejects.

    Example:
    >>> wav = tf.audio.encode_wav(tf.zeros((800, 1)), sample_rate=8000)
    >>> check_wav(wav.numpy()).bits_per_sample
    16
    """
    info, layout_problem = _read_wav_header(path_or_bytes)
    if info.encoding != "16-bit PCM":
        raise MediaError(f"{info.encoding}; convert to 16-bit PCM")
    if layout_problem:
        raise MediaError(
            f"{layout_problem}, which tf.audio.decode_wav cannot read; "
            "rewrite the file, e.g. with `ffmpeg -i in.wav -c:a pcm_s16le "
            "out.wav`"
        )
    return info


def _read_wav_header(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        return _parse_wav(io.BytesIO(data), len(data))
    with open(path_or_bytes, "rb") as file:
        return _parse_wav(file, os.fstat(file.fileno()).st_size)


def _parse_wav(file, total_size):
    """`(WavInfo, layout problem or None)`, reading headers only."""
    header = file.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:] != b"WAVE":
        raise MediaError(f"not a RIFF/WAVE file (starts with {header!r})")
    fmt, layout_problem, first = None, None, True
    while True:
        chunk = file.read(8)
        if len(chunk) < 8:
            raise MediaError(
                "no 'fmt ' chunk" if fmt is None else "no 'data' chunk"
            )
        chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        name = chunk_id.decode("latin-1")
        if chunk_id == b"fmt " and fmt is None:
            body = file.read(size)
            if len(body) < 16:
                raise MediaError("truncated 'fmt ' chunk")
            fmt = struct.unpack("<HHIIHH", body[:16])
            if size not in (16, 18):
                layout_problem = f"a {size}-byte 'fmt ' chunk"
        elif chunk_id == b"data" and fmt is not None:
            available = total_size - file.tell()
            if size > available:
                raise MediaError(
                    f"truncated 'data' chunk: {size} bytes declared, "
                    f"{available} present"
                )
            tag, channels, rate, _, block_align, bits = fmt
            if channels == 0 or block_align == 0:
                raise MediaError(
                    f"'fmt ' chunk gives {channels} channels and "
                    f"{block_align}-byte blocks"
                )
            info = WavInfo(rate, channels, bits, size // block_align, tag)
            return info, layout_problem
        else:
            if first:
                layout_problem = f"a {name!r} chunk before 'fmt '"
            file.seek(size, io.SEEK_CUR)
        first = False


class ClipInfo(typing.NamedTuple):
    """What a video clip's container says.

    Args:
        codec: str. FFmpeg's name of the video codec, e.g. "h264".
        width: int.
        height: int.
        num_frames: int. From the container; 0 when it does not say.
    """

    codec: str
    width: int
    height: int
    num_frames: int


def clip_info(path):
    """Opens a clip (MP4, WebM, MKV, MOV, AVI, GIF) and checks its stream.

    Only the container is read: no frame is decoded.

    Args:
        path: str. The clip.

    Returns:
        A `ClipInfo` of its first video stream.

    Raises:
        MediaError: FFmpeg cannot open the file, or it has no video stream.
    """
    with _open_clip(path) as container:
        stream = _video_stream(container)
        return ClipInfo(
            stream.codec_context.name,
            stream.codec_context.width,
            stream.codec_context.height,
            stream.frames,
        )


def list_frame_files(directory):
    """The frame images of a folder, sorted by file name.

    Files ending in a PNG, JPEG, BMP or GIF extension (any case) are
    frames; hidden files and everything else are ignored. Name frames with
    zero-padded numbers (`00001.png`) so that name order is time order.

    Args:
        directory: str. A folder of frame images.

    Returns:
        list of str, the frames' paths.
    """
    names = sorted(
        name
        for name in os.listdir(directory)
        if not name.startswith(".")
        and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
    )
    return [os.path.join(directory, name) for name in names]


def uniform_frame_indices(count, max_frames):
    """Indices of the frames kept from a `count`-frame clip.

    With `max_frames` set and a longer clip, frame
    `floor((2i+1) * count / (2 * max_frames))` for `i < max_frames`: the
    centre of each of `max_frames` equal parts, the rule of
    `mmkeras.preprocessing.FrameSampler.frame_indices`. Otherwise all.

    Args:
        count: int. Frames in the clip.
        max_frames: int or None.

    Returns:
        list of int, increasing.

    Example:
    >>> uniform_frame_indices(10, max_frames=4)
    [1, 3, 6, 8]
    >>> uniform_frame_indices(3, max_frames=4)
    [0, 1, 2]
    """
    if max_frames is None or count <= max_frames:
        return list(range(count))
    return [(2 * i + 1) * count // (2 * max_frames) for i in range(max_frames)]


def read_file_bytes(path):
    """The bytes of a file.

    Args:
        path: str.

    Returns:
        bytes.
    """
    with open(path, "rb") as file:
        return file.read()


def read_video_frames(path, max_frames=None):
    """A video's frames, each encoded as an image file's bytes.

    A folder's frames are returned as their files' bytes, unchanged. A
    clip (MP4, WebM, MKV, MOV, AVI or animated GIF) is decoded with PyAV
    and its kept frames are encoded as PNG; with `max_frames`, only the
    frames at `uniform_frame_indices` are encoded.

    Args:
        path: str. A folder of frame images or a clip.
        max_frames: int or None. Keep at most this many frames, spread
            uniformly over the video.

    Returns:
        list of bytes, one encoded image per kept frame, in time order.

    Raises:
        MediaError: the clip cannot be opened or has no video stream.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(
            f"max_frames must be positive or None, received {max_frames}."
        )
    if os.path.isdir(path):
        files = list_frame_files(path)
        indices = uniform_frame_indices(len(files), max_frames)
        return [read_file_bytes(files[i]) for i in indices]
    if max_frames is None:
        return _decode_clip(path, None)[0]
    # The container's frame count can be missing or wrong, so count the
    # packets (a cheap demux, no decode) and check against the decode.
    count = _count_packets(path)
    frames, decoded = _decode_clip(
        path, uniform_frame_indices(count, max_frames)
    )
    if decoded != count:
        indices = uniform_frame_indices(decoded, max_frames)
        frames = _decode_clip(path, indices)[0]
    return frames


def _open_clip(path):
    try:
        return av.open(path)
    except av.error.FFmpegError as error:
        raise MediaError(f"FFmpeg cannot read it ({error.strerror})") from None


def _video_stream(container):
    if not container.streams.video:
        raise MediaError("no video stream")
    return container.streams.video[0]


def _count_packets(path):
    with _open_clip(path) as container:
        stream = _video_stream(container)
        # The demuxer ends with an empty packet that flushes the decoder.
        return sum(1 for packet in container.demux(stream) if packet.size)


def _decode_clip(path, indices):
    """PNG bytes of the frames at `indices` (all if None), frames decoded."""
    wanted = None if indices is None else set(indices)
    frames, decoded = [], 0
    with _open_clip(path) as container:
        stream = _video_stream(container)
        try:
            for frame in container.decode(stream):
                if wanted is None or decoded in wanted:
                    pixels = frame.to_ndarray(format="rgb24")
                    frames.append(tf.io.encode_png(pixels).numpy())
                decoded += 1
        except av.error.FFmpegError as error:
            raise MediaError(
                f"decoding failed after {decoded} frames ({error.strerror})"
            ) from None
    return frames, decoded


def write_video(path, frames, fps):
    """Writes uint8 RGB frames as a video clip (tests and demo data).

    The extension picks the format: `.gif` (the gif codec; lossless when
    the clip has at most 256 colours, else quantised to 3-3-2 bit RGB),
    `.mp4`, `.mkv`, `.mov`, `.avi` (libx264, else mpeg4; yuv420p, lossy)
    or `.webm` (VP9, else VP8; yuv420p, lossy). yuv420p needs an even
    width and height.

    Args:
        path: str. The file to write.
        frames: uint8 array `(num_frames, height, width, 3)`.
        fps: int, float or Fraction. Frames per second.

    Raises:
        MediaError: unknown extension, frames of the wrong shape or
            dtype, odd sizes for yuv420p, or the FFmpeg build lacks every
            codec for the format.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise MediaError(
            "frames must be uint8 (num_frames, height, width, 3), received "
            f"{frames.dtype} {frames.shape}"
        )
    if len(frames) == 0:
        raise MediaError("frames is empty: a clip needs at least one frame")
    extension = os.path.splitext(path)[1].lower()
    if extension not in CLIP_EXTENSIONS:
        raise MediaError(
            f"cannot write {path!r}: expected one of {CLIP_EXTENSIONS}"
        )
    codecs = {
        ".gif": ("gif",),
        ".webm": ("libvpx-vp9", "libvpx"),
    }.get(extension, ("libx264", "mpeg4"))
    available = [name for name in codecs if name in av.codecs_available]
    if not available:
        raise MediaError(
            f"cannot write {path!r}: this FFmpeg build has none of the "
            f"encoders {codecs}"
        )
    height, width = frames.shape[1:3]
    if extension != ".gif" and (height % 2 or width % 2):
        raise MediaError(
            f"{extension} clips are yuv420p, which needs an even width and "
            f"height; received {width}x{height}"
        )
    rate = fractions.Fraction(fps).limit_denominator(1000)
    with av.open(path, "w") as container:
        stream = container.add_stream(available[0], rate=rate)
        stream.width, stream.height = width, height
        if extension == ".gif":
            video_frames = _gif_frames(frames, stream)
        else:
            stream.pix_fmt = "yuv420p"
            video_frames = (
                av.VideoFrame.from_ndarray(pixels, format="rgb24")
                for pixels in frames
            )
        for frame in video_frames:
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _gif_frames(frames, stream):
    colours, inverse = np.unique(
        frames.reshape(-1, 3), axis=0, return_inverse=True
    )
    if len(colours) > 256:
        stream.pix_fmt = "rgb8"
        for pixels in frames:
            yield av.VideoFrame.from_ndarray(pixels, format="rgb24")
        return
    # One exact palette for the clip; PyAV takes it as opaque ARGB rows.
    stream.pix_fmt = "pal8"
    palette = np.zeros((256, 4), np.uint8)
    palette[:, 0] = 255
    palette[: len(colours), 1:] = colours
    indices = inverse.reshape(frames.shape[:3]).astype(np.uint8)
    for frame_indices in indices:
        yield av.VideoFrame.from_ndarray((frame_indices, palette), "pal8")
