"""Writers of tiny media files, good and bad, for the data tests."""

import struct

import numpy as np
import tensorflow as tf

from mmkeras.data.media import write_video


def make_wav(format_tag=1, bits=16, channels=1, rate=8000, num_samples=40):
    """WAV bytes with any header; samples are a ramp, not silence."""
    block_align = channels * bits // 8
    data = bytes(i % 251 for i in range(num_samples * block_align))
    fmt = struct.pack(
        "<HHIIHH",
        format_tag,
        channels,
        rate,
        rate * block_align,
        block_align,
        bits,
    )
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def clip_pixels(num_frames, height=16, width=16):
    """uint8 frames whose grey level is 35 * frame index, green on top.

    Steps this large, in brightness, survive lossy codecs.
    """
    levels = 35 * np.arange(num_frames, dtype=np.uint8)
    frames = np.broadcast_to(
        levels[:, None, None, None], (num_frames, height, width, 3)
    ).copy()
    frames[:, : height // 4, :, 1] = 200
    return frames


def write_media_dir(root):
    """Fills `root` (a pathlib.Path) with one small file of each kind.

    images/: red.png (6x4), photo.jpg (5x3), note.png (text, not an
    image). audio/: tone.wav (16-bit mono, 40 samples), 8bit.wav,
    float.wav. video/: clip.mp4 (7 frames), anim.gif (5 frames),
    frames/ (4 PNGs and a stray text file), empty/ (no frame),
    corrupt.mp4 (random bytes), sound.wav (no video stream).
    """
    for name in ("images", "audio", "video/frames", "video/empty"):
        (root / name).mkdir(parents=True)
    pixels = np.full((4, 6, 3), (200, 10, 10), np.uint8)
    (root / "images/red.png").write_bytes(tf.io.encode_png(pixels).numpy())
    photo = tf.io.encode_jpeg(np.zeros((3, 5, 3), np.uint8)).numpy()
    (root / "images/photo.jpg").write_bytes(photo)
    (root / "images/note.png").write_text("not an image at all\n")
    tone = tf.audio.encode_wav(
        tf.sin(tf.range(40, dtype=tf.float32))[:, None], sample_rate=8000
    )
    (root / "audio/tone.wav").write_bytes(tone.numpy())
    (root / "audio/8bit.wav").write_bytes(make_wav(bits=8))
    (root / "audio/float.wav").write_bytes(make_wav(format_tag=3, bits=32))
    write_video(str(root / "video/clip.mp4"), clip_pixels(7), fps=5)
    write_video(str(root / "video/anim.gif"), clip_pixels(5), fps=5)
    for i, frame in enumerate(clip_pixels(4)):
        png = tf.io.encode_png(frame).numpy()
        (root / f"video/frames/{i:03d}.png").write_bytes(png)
    (root / "video/frames/notes.txt").write_text("not a frame")
    rng = np.random.default_rng(0)
    corrupt = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (root / "video/corrupt.mp4").write_bytes(corrupt)
    (root / "video/sound.wav").write_bytes(tone.numpy())
    return root
